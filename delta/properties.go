package delta

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Table properties (metaData.configuration) this module reads, and Delta's defaults for them.
// Metadata.Config reads any other property as a string; the methods below read these with
// their defaults, and name the property in their errors.
const (
	// PropCheckpointInterval: a writer checkpoints after committing version v when v is a
	// multiple of it. Default 100.
	PropCheckpointInterval = "delta.checkpointInterval"
	// PropDeletedFileRetention: how long a removed data file stays for readers of older
	// versions before vacuum may delete it; also how long checkpoints keep its tombstone.
	// Default "interval 1 week".
	PropDeletedFileRetention = "delta.deletedFileRetentionDuration"
	// PropLogRetention: how long commits and checkpoints stay in _delta_log before log cleanup
	// may delete them. Default "interval 30 days".
	PropLogRetention = "delta.logRetentionDuration"
	// PropSetTransactionRetention: app transactions (txn) not updated for this long are dropped
	// from checkpoints. No default: kept for ever.
	PropSetTransactionRetention = "delta.setTransactionRetentionDuration"
)

const (
	defaultCheckpointInterval   = 100
	defaultDeletedFileRetention = "interval 1 week"
	defaultLogRetention         = "interval 30 days"
)

// Config returns a table property, or def when it is not set.
func (m Metadata) Config(key, def string) string {
	if v, ok := m.Configuration[key]; ok {
		return v
	}
	return def
}

// CheckpointInterval is delta.checkpointInterval (default 100; a value that is not a positive
// whole number is read as the default).
func (m Metadata) CheckpointInterval() int64 {
	n, err := strconv.ParseInt(m.Config(PropCheckpointInterval, ""), 10, 64)
	if err != nil || n <= 0 {
		return defaultCheckpointInterval
	}
	return n
}

// DeletedFileRetention is delta.deletedFileRetentionDuration (default 1 week). A value that
// does not parse (see ParseInterval) is an error naming the property.
func (m Metadata) DeletedFileRetention() (time.Duration, error) {
	return m.intervalProperty(PropDeletedFileRetention, defaultDeletedFileRetention)
}

// LogRetention is delta.logRetentionDuration (default 30 days). A value that does not parse is
// an error naming the property.
func (m Metadata) LogRetention() (time.Duration, error) {
	return m.intervalProperty(PropLogRetention, defaultLogRetention)
}

// SetTransactionRetention is delta.setTransactionRetentionDuration; ok is false when the table
// does not set it (app transactions are then kept for ever). A value that does not parse is an
// error naming the property.
func (m Metadata) SetTransactionRetention() (d time.Duration, ok bool, err error) {
	if m.Config(PropSetTransactionRetention, "") == "" {
		return 0, false, nil
	}
	d, err = m.intervalProperty(PropSetTransactionRetention, "")
	return d, err == nil, err
}

func (m Metadata) intervalProperty(key, def string) (time.Duration, error) {
	d, err := ParseInterval(m.Config(key, def))
	if err != nil {
		return 0, fmt.Errorf("table property %s: %w", key, err)
	}
	return d, nil
}

// Config returns a table property of the snapshot's metadata, or def when it is not set.
func (s *Snapshot) Config(key, def string) string { return s.metadata.Config(key, def) }

// CheckpointInterval is the snapshot's delta.checkpointInterval (see
// Metadata.CheckpointInterval).
func (s *Snapshot) CheckpointInterval() int64 { return s.metadata.CheckpointInterval() }

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
