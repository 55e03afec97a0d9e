package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseInterval parses a Delta table-property interval as Spark does ("interval 1 week",
// "7 days", "interval 2 hours 30 minutes"): an optional "interval" keyword, then number and unit
// pairs. Months and years are refused: their length in time is not fixed, and Delta refuses
// them for retention too.
func ParseInterval(s string) (time.Duration, error) {
	fields := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(fields) > 0 && fields[0] == "interval" {
		fields = fields[1:]
	}
	if len(fields) == 0 || len(fields)%2 != 0 {
		return 0, fmt.Errorf("interval %q: want number and unit pairs, such as \"interval 1 week\"", s)
	}
	var total time.Duration
	for i := 0; i < len(fields); i += 2 {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("interval %q: %q is not a whole number", s, fields[i])
		}
		unit := strings.TrimSuffix(fields[i+1], "s")
		var d time.Duration
		switch unit {
		case "nanosecond":
			d = time.Nanosecond
		case "microsecond":
			d = time.Microsecond
		case "millisecond":
			d = time.Millisecond
		case "second":
			d = time.Second
		case "minute":
			d = time.Minute
		case "hour":
			d = time.Hour
		case "day":
			d = 24 * time.Hour
		case "week":
			d = 7 * 24 * time.Hour
		case "month", "year":
			return 0, fmt.Errorf("interval %q: %s has no fixed length; use days or weeks", s, fields[i+1])
		default:
			return 0, fmt.Errorf("interval %q: unknown unit %q", s, fields[i+1])
		}
		if n < 0 || (n > 0 && d > time.Duration(1<<63-1)/time.Duration(n)) {
			return 0, fmt.Errorf("interval %q: out of range", s)
		}
		total += time.Duration(n) * d
		if total < 0 {
			return 0, fmt.Errorf("interval %q: out of range", s)
		}
	}
	return total, nil
}
