package cliflag

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "0h": 0, "0d": 0, "168h": 168 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
		"7d": 7 * day, "30d": 30 * day, "1.5d": 36 * time.Hour, "1d12h": 36 * time.Hour, " 2d ": 2 * day,
		"1d30m": day + 30*time.Minute, ".5d": 12 * time.Hour,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"-5h":        `duration "-5h" is negative`,
		"-7d":        `duration "-7d" is negative`,
		"7":          `duration "7": want hours, minutes or seconds (168h, 90m, 30s) or days (7d, 1d12h)`,
		"d":          `duration "d": want`,
		"7days":      `duration "7days": want`,
		"1h2d":       `duration "1h2d": want`,
		"1d-2h":      `duration "1d-2h": want`,
		"1d+2h":      `duration "1d+2h": want`,
		"1e3d":       `duration "1e3d": want`,
		"NaNd":       `duration "NaNd": want`,
		"":           `duration "": want`,
		"200000d":    `duration "200000d" is too long`,
		"106751d24h": `duration "106751d24h" is too long`,
	} {
		_, err := ParseDuration(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseDuration(%q): error %v, want one starting %q", in, err, want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", 7 * day: "7d", 36 * time.Hour: "1d12h", time.Hour: "1h",
		90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", time.Nanosecond: "1ns",
		day + time.Hour + time.Second: "1d1h0m1s", 2*day + 20*time.Minute: "2d20m"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		var back Duration
		if err := back.Set(Duration(d).String()); err != nil || time.Duration(back) != d {
			t.Errorf("Set(%q) = %v, %v; want %v", Duration(d).String(), time.Duration(back), err, d)
		}
	}
}
