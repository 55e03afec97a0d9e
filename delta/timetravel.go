package delta

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// CommitTimestamp is a version and the time it was committed.
type CommitTimestamp struct {
	Version int64
	Time    time.Time
}

// CommitTimestamps lists the commits a snapshot can be read at, oldest first, with their
// timestamps: inCommitTimestamp where the table records it, else the commit file's modification
// time, made strictly increasing as Spark does (a clock step back never reorders versions).
func CommitTimestamps(ctx context.Context, s Store) ([]CommitTimestamp, error) {
	latest, err := Open(ctx, s, logOnly())
	if err != nil {
		return nil, err
	}
	infos, files, err := listLog(ctx, s, 0, -1)
	if err != nil {
		return nil, err
	}
	// The oldest readable version: commit 0, or the oldest checkpoint.
	oldest := int64(-1)
	for _, f := range files {
		if f.IsCheckpoint() && (oldest < 0 || f.Version < oldest) {
			oldest = f.Version
		}
		if f.Kind == KindCommit && f.Version == 0 {
			oldest = 0
		}
	}
	ictFrom := int64(-1)
	if latest.Config("delta.enableInCommitTimestamps", "false") == "true" {
		ictFrom = 0
		if v, err := strconv.ParseInt(latest.Config("delta.inCommitTimestampEnablementVersion", "0"), 10, 64); err == nil {
			ictFrom = v
		}
	}
	var out []CommitTimestamp
	for i, f := range files {
		if f.Kind != KindCommit || f.Version < oldest || f.Version > latest.Version() {
			continue
		}
		ts := infos[i].ModTime
		if ictFrom >= 0 && f.Version >= ictFrom {
			ci, err := ReadCommitInfo(ctx, s, f.Version)
			if err != nil {
				return nil, err
			}
			ict, ok := ci.Int("inCommitTimestamp")
			if !ok {
				return nil, corrupt(CommitKey(f.Version), f.Version, "in-commit timestamps are enabled but commitInfo.inCommitTimestamp is missing")
			}
			ts = time.UnixMilli(ict)
		} else if n := len(out); n > 0 && !ts.After(out[n-1].Time) {
			ts = out[n-1].Time.Add(time.Millisecond)
		}
		out = append(out, CommitTimestamp{Version: f.Version, Time: ts})
	}
	return out, nil
}

// VersionAt returns the newest version committed at or before t. A time before the oldest
// readable commit is an error; a time after the newest gives the newest.
func VersionAt(ctx context.Context, s Store, t time.Time) (int64, error) {
	ts, err := CommitTimestamps(ctx, s)
	if err != nil {
		return -1, err
	}
	if len(ts) == 0 {
		// Only checkpoints remain: the newest is the only readable version.
		snap, err := Open(ctx, s)
		if err != nil {
			return -1, err
		}
		return snap.Version(), nil
	}
	if t.Before(ts[0].Time) {
		return -1, fmt.Errorf("timestamp %s is before the oldest readable commit (version %d at %s): %w",
			t.UTC().Format(time.RFC3339Nano), ts[0].Version, ts[0].Time.UTC().Format(time.RFC3339Nano), ErrVersionNotFound)
	}
	v := ts[0].Version
	for _, c := range ts {
		if c.Time.After(t) {
			break
		}
		v = c.Version
	}
	return v, nil
}
