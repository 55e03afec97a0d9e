package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
)

// LogSegment is what a snapshot at Version is read from: the newest complete checkpoint at or
// before Version (if any) and the commits after it, ascending and contiguous.
type LogSegment struct {
	Version    int64
	Checkpoint *Checkpoint
	Commits    []ObjectInfo
	// LatestVersion is the newest version the listing saw (>= Version).
	LatestVersion int64
}

// LastCheckpoint is the content of _delta_log/_last_checkpoint.
type LastCheckpoint struct {
	Version          int64           `json:"version"`
	Size             int64           `json:"size"`
	Parts            *int            `json:"parts,omitempty"`
	SizeInBytes      *int64          `json:"sizeInBytes,omitempty"`
	NumOfAddFiles    *int64          `json:"numOfAddFiles,omitempty"`
	CheckpointSchema json.RawMessage `json:"checkpointSchema,omitempty"`
	V2Checkpoint     json.RawMessage `json:"v2Checkpoint,omitempty"`
	Checksum         string          `json:"checksum,omitempty"`
}

// ParseLastCheckpoint decodes _last_checkpoint.
func ParseLastCheckpoint(b []byte) (LastCheckpoint, error) {
	var lc LastCheckpoint
	if err := json.Unmarshal(b, &lc); err != nil {
		return LastCheckpoint{}, fmt.Errorf("decode _last_checkpoint: %w", err)
	}
	if lc.Version < 0 {
		return LastCheckpoint{}, fmt.Errorf("decode _last_checkpoint: negative version %d", lc.Version)
	}
	return lc, nil
}

// readLastCheckpoint returns the hint, or ok=false when it is missing or unusable. Only a
// cancelled context and a store that cannot be used at all (a *StoreError) are errors: the
// hint is never needed for correctness.
func readLastCheckpoint(ctx context.Context, s Store) (LastCheckpoint, bool, error) {
	b, err := ReadAll(ctx, s, LastCheckpointKey)
	if err != nil {
		if ctx.Err() != nil {
			return LastCheckpoint{}, false, ctx.Err()
		}
		if se := (*StoreError)(nil); errors.As(err, &se) {
			// A store that cannot be used at all (no bucket, refused credentials, no answer
			// within the time limit): the listing would fail the same way, after as long again.
			return LastCheckpoint{}, false, err
		}
		if !errors.Is(err, ErrNotFound) {
			slog.Debug("ignoring unreadable _last_checkpoint", "table", s.URL(), "err", err)
		}
		return LastCheckpoint{}, false, nil
	}
	lc, err := ParseLastCheckpoint(b)
	if err == nil && lc.Checksum != "" {
		var sum string
		if sum, err = LastCheckpointChecksum(b); err == nil && sum != lc.Checksum {
			err = fmt.Errorf("checksum %s does not match its content (%s)", lc.Checksum, sum)
		}
	}
	if err != nil {
		slog.Warn("ignoring corrupt _last_checkpoint", "table", s.URL(), "err", err)
		return LastCheckpoint{}, false, nil
	}
	return lc, true, nil
}

// listLog lists _delta_log files whose version is at least from. Files that are not log files
// (temporaries, unknown names) are skipped.
func listLog(ctx context.Context, s Store, from int64) ([]ObjectInfo, []LogFile, error) {
	startAfter := ""
	if from > 0 {
		// Every log file of version >= from sorts after the bare 20-digit prefix of from.
		startAfter = fmt.Sprintf("%s%020d", LogDir, from)
	}
	var infos []ObjectInfo
	var files []LogFile
	for o, err := range s.List(ctx, LogDir, startAfter) {
		if err != nil {
			return nil, nil, err
		}
		f, ok := ParseLogKey(o.Key)
		if !ok || f.Kind == KindLastCheckpoint || f.Version < from {
			continue
		}
		infos = append(infos, o)
		files = append(files, f)
	}
	return infos, files, nil
}

// buildSegment finds the log segment for version (or the latest when version < 0).
func buildSegment(ctx context.Context, s Store, version int64) (LogSegment, error) {
	from := int64(0)
	if lc, ok, err := readLastCheckpoint(ctx, s); err != nil {
		return LogSegment{}, err
	} else if ok && (version < 0 || lc.Version <= version) {
		from = lc.Version
	}
	seg, err := segmentFrom(ctx, s, version, from)
	if err == nil || from == 0 || ctx.Err() != nil {
		return seg, err
	}
	// The hint named a checkpoint that is gone or incomplete: list everything.
	slog.Warn("_last_checkpoint is stale, listing the whole log", "table", s.URL(), "hint", from, "err", err)
	return segmentFrom(ctx, s, version, 0)
}

func segmentFrom(ctx context.Context, s Store, version, from int64) (LogSegment, error) {
	infos, files, err := listLog(ctx, s, from)
	if err != nil {
		return LogSegment{}, err
	}
	commits := map[int64]ObjectInfo{}
	type cpGroup struct {
		kind  LogFileKind
		parts map[int]ObjectInfo
		n     int
	}
	cps := map[int64][]*cpGroup{}
	latest := int64(-1)
	for i, f := range files {
		switch f.Kind {
		case KindCommit:
			commits[f.Version] = infos[i]
			latest = max(latest, f.Version)
		case KindCheckpoint, KindUUIDCheckpoint:
			cps[f.Version] = append(cps[f.Version], &cpGroup{kind: f.Kind, parts: map[int]ObjectInfo{1: infos[i]}, n: 1})
			latest = max(latest, f.Version)
		case KindMultiPartCheckpoint:
			var g *cpGroup
			for _, c := range cps[f.Version] {
				if c.kind == KindMultiPartCheckpoint && c.n == f.Parts {
					g = c
				}
			}
			if g == nil {
				g = &cpGroup{kind: KindMultiPartCheckpoint, parts: map[int]ObjectInfo{}, n: f.Parts}
				cps[f.Version] = append(cps[f.Version], g)
			}
			g.parts[f.Part] = infos[i]
			latest = max(latest, f.Version)
		}
	}
	if latest < 0 {
		if from > 0 {
			return LogSegment{}, fmt.Errorf("no log files at or after version %d", from)
		}
		return LogSegment{}, fmt.Errorf("%s: %w", s.URL(), ErrNotATable)
	}
	target := version
	if target < 0 {
		target = latest
	}
	if target > latest {
		return LogSegment{}, fmt.Errorf("version %d of %s: newest is %d: %w", target, s.URL(), latest, ErrVersionNotFound)
	}
	// Newest complete checkpoint at or before target; classic first, then V2, then multi-part.
	var cp *Checkpoint
	var versions []int64
	for v := range cps {
		if v <= target {
			versions = append(versions, v)
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] > versions[j] })
	for _, v := range versions {
		groups := cps[v]
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].kind < groups[j].kind })
		for _, g := range groups {
			if len(g.parts) != g.n {
				continue // incomplete multi-part set: ignored
			}
			c := &Checkpoint{Version: v, Kind: g.kind}
			for p := 1; p <= g.n; p++ {
				c.Files = append(c.Files, g.parts[p])
			}
			cp = c
			break
		}
		if cp != nil {
			break
		}
	}
	start := int64(0)
	if cp != nil {
		start = cp.Version + 1
	} else if _, ok := commits[0]; !ok {
		first := int64(-1)
		for v := range commits {
			if first < 0 || v < first {
				first = v
			}
		}
		if from > 0 {
			return LogSegment{}, fmt.Errorf("no complete checkpoint at or after version %d", from)
		}
		if first < 0 || first > target {
			return LogSegment{}, fmt.Errorf("version %d of %s: no commit 0 and no complete checkpoint at or before it: %w", target, s.URL(), ErrVersionNotFound)
		}
		return LogSegment{}, fmt.Errorf("version %d of %s: the log starts at version %d without a checkpoint: %w", target, s.URL(), first, ErrVersionNotFound)
	}
	seg := LogSegment{Version: target, Checkpoint: cp, LatestVersion: latest}
	for v := start; v <= target; v++ {
		c, ok := commits[v]
		if !ok {
			return LogSegment{}, corrupt(CommitKey(v), v, "commit is missing (log has versions up to %d)", latest)
		}
		seg.Commits = append(seg.Commits, c)
	}
	return seg, nil
}
