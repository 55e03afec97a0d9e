package cliflag

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a duration flag (a pflag.Value) for retentions and other spans of days: Go's
// durations (90m, 168h, 1h30m) and days, alone or before the rest (7d, 30d, 1.5d, 1d12h). It
// is never negative.
type Duration time.Duration

const day = 24 * time.Hour

// ParseDuration reads a duration as Duration.Set does.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("duration %q: want hours, minutes or seconds (168h, 90m, 30s) or days (7d, 1d12h)", s)
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	var d time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(t[:i], 64)
		if err != nil || t[:i] == "" || strings.ContainsAny(t[:i], "eEnNiI+") {
			return bad()
		}
		if days*float64(day) >= float64(1<<63-1) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		d, t = time.Duration(days*float64(day)), t[i+1:]
		if t == "" {
			return d, nil
		}
	}
	rest, err := time.ParseDuration(t)
	if err != nil || strings.HasPrefix(t, "+") || strings.HasPrefix(t, "-") {
		return bad()
	}
	if d+rest < d {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return d + rest, nil
}

func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) Type() string { return "duration" }

// String is the duration as ParseDuration reads it, short: days, then Go's form without
// zero trailing units (7d, 1d12h, 1h30m, 90s, 1.5s); zero is 0.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// FormatDuration writes d as Duration.String does, negative durations with a minus sign.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	var s string
	if d >= day {
		s, d = strconv.FormatInt(int64(d/day), 10)+"d", d%day
		if d == 0 {
			return s
		}
	}
	r := d.String()
	if strings.HasSuffix(r, "m0s") {
		r = strings.TrimSuffix(r, "0s")
	}
	if strings.HasSuffix(r, "h0m") {
		r = strings.TrimSuffix(r, "0m")
	}
	return s + r
}
