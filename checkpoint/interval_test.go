package checkpoint_test

import (
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
)

func TestParseInterval(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"interval 1 week", 7 * day},
		{"7 days", 7 * day},
		{"interval 2 hours 30 minutes", 2*time.Hour + 30*time.Minute},
		{"1 WEEK", 7 * day},
		{"INTERVAL 30 DAYS", 30 * day},
		{"  interval   1   day  ", day},
		{"1 day", day},
		{"interval 0 seconds", 0},
		{"interval 1 hour", time.Hour},
		{"interval 90 seconds", 90 * time.Second},
		{"interval 500 milliseconds", 500 * time.Millisecond},
		{"interval 3 microseconds 4 nanoseconds", 3*time.Microsecond + 4*time.Nanosecond},
		{"interval 1 week 1 day", 8 * day},
		{"interval 2 weeks", 14 * day},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := checkpoint.ParseInterval(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseInterval(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseIntervalRefused(t *testing.T) {
	for _, in := range []string{
		"interval 1 month",
		"1 months",
		"interval 2 years",
		"1 year",
		"interval 1 week 1 month",
		"",
		"interval",
		"week",
		"1",
		"one week",
		"1.5 days",
		"1 fortnight",
		"interval 1 week garbage",
		"1 weekly",
		"-1 day",
		"interval -7 days",
		"interval 1 day -1 hour",
		"interval 1 day interval 1 day",
		"9223372036854775807 weeks",
		"interval 106752 days", // just past the largest time.Duration
		"interval 100000 days 100000 days",
		"1e3 days",
		"0x10 days",
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := checkpoint.ParseInterval(in); err == nil {
				t.Fatalf("ParseInterval(%q) = %v, want an error", in, got)
			}
		})
	}
}
