package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// LogSegment is what a snapshot at Version is read from: the newest complete checkpoint at or
// before Version (if any) and the commits after it, ascending and contiguous.
type LogSegment struct {
	Version    int64
	Checkpoint *Checkpoint
	Commits    []ObjectInfo
	// LatestVersion is the newest version the listing saw (>= Version).
	LatestVersion int64

	// listedCRC says the listing saw Version's .crc, so reading it is worth a request.
	listedCRC bool
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
// (temporaries, unknown names) are skipped. With upTo >= 0 the listing ends at the first
// commit or checkpoint of a version after upTo (which it returns): a snapshot at upTo needs no
// newer file.
func listLog(ctx context.Context, s Store, from, upTo int64) ([]ObjectInfo, []LogFile, error) {
	startAfter := ""
	if from > 0 {
		// Every log file of version >= from sorts after the bare 20-digit prefix of from.
		startAfter = fmt.Sprintf("%s%020d", LogDir, from)
		if l, ok := s.(fromStartLister); ok && l.listsFromStart() {
			return listLogBlocks(ctx, s, from, upTo, startAfter)
		}
	}
	var infos []ObjectInfo
	var files []LogFile
	_, err := listLogPrefix(ctx, s, LogDir, startAfter, from, upTo, &infos, &files)
	return infos, files, err
}

// fromStartLister is a Store whose listings read every key of the prefix from its start, for
// want of a server-side start-after (Azure blob storage through gocloud v0.47, which drops
// the startFrom of List Blobs): the log is listed from a checkpoint in blocks of versions that
// share their leading digits instead of from the start of _delta_log.
type fromStartLister interface {
	listsFromStart() bool
}

// listLogPrefix appends the log files under prefix after startAfter whose version is at least
// from, up to the first commit or checkpoint after upTo when upTo >= 0, and returns the newest
// version listed (-1 for none).
func listLogPrefix(ctx context.Context, s Store, prefix, startAfter string, from, upTo int64, infos *[]ObjectInfo, files *[]LogFile) (int64, error) {
	newest := int64(-1)
	for o, err := range s.List(ctx, prefix, startAfter) {
		if err != nil {
			return -1, err
		}
		if name := strings.TrimPrefix(o.Key, LogDir); name != "" && name[0] > '9' {
			// Every versioned file's name starts with its digits; what sorts after them
			// (_last_checkpoint, _sidecars/, _commits/) is not read here, and a listing that
			// went on would read every sidecar's name.
			break
		}
		f, ok := ParseLogKey(o.Key)
		if !ok || f.Kind == KindLastCheckpoint || f.Version < from {
			continue
		}
		*infos = append(*infos, o)
		*files = append(*files, f)
		newest = max(newest, f.Version)
		if upTo >= 0 && f.Version > upTo && (f.Kind == KindCommit || f.IsCheckpoint()) {
			// A newer version exists: the versions up to upTo were all listed. (A .crc says
			// nothing: its commit may be gone.)
			break
		}
	}
	return newest, nil
}

// listLogBlocks lists the log from version from on, for a store that lists a prefix from its
// start, one block of versions at a time: a block is the versions whose 20 digits share a
// prefix, so one listing of that prefix reads no key of an older block. The first block is
// the 100 versions around from (at most 99 versions before from are read and dropped); each
// next one starts where the last ended and is as large as its alignment allows (from version
// 7100 the 100 versions to 7199, from 8000 the 1,000 to 8999), so a long log takes a listing
// per few pages, not a listing per block of 100. The listing stops after a block whose last
// version has no file: versions are contiguous (a commit is written only after the one
// before it, a checkpoint only for a commit), so none is newer.
func listLogBlocks(ctx context.Context, s Store, from, upTo int64, startAfter string) ([]ObjectInfo, []LogFile, error) {
	var infos []ObjectInfo
	var files []LogFile
	start, size := from-from%100, int64(100)
	for {
		digits := 20
		for n := size; n > 1; n /= 10 {
			digits--
		}
		prefix := fmt.Sprintf("%s%020d", LogDir, start)[:len(LogDir)+digits]
		newest, err := listLogPrefix(ctx, s, prefix, startAfter, from, upTo, &infos, &files)
		if err != nil {
			return nil, nil, err
		}
		last := start + size - 1
		if newest < last || last >= maxBlockVersion || upTo >= 0 && newest > upTo {
			return infos, files, nil
		}
		start = last + 1
		// start is a multiple of 100: the block is the largest power of ten dividing it.
		for size = 100; start%(size*10) == 0 && size*10 <= maxBlockSize; size *= 10 {
		}
	}
}

// Bounds of listLogBlocks: blocks of at most 10^6 versions (one listing may then read every
// file of a million versions, which a log this long needs anyway), within 20 digits.
const (
	maxBlockSize    = 1_000_000
	maxBlockVersion = 99_999_999_999_999_999
)

// buildSegment finds the log segment for version (or the latest when version < 0).
//
// It lists the log from the checkpoint _last_checkpoint names when that is at or before the
// version. When the hint is newer than the version (time travel), or names a checkpoint that
// is gone or incomplete, it looks for a checkpoint in windows of versions before the version
// (or the hint), each wider than the last (segmentWindows), before listing the whole log; a
// table with no hint at all is listed whole.
func buildSegment(ctx context.Context, s Store, version int64) (LogSegment, error) {
	lc, ok, err := readLastCheckpoint(ctx, s)
	if err != nil {
		return LogSegment{}, err
	}
	if !ok {
		return segmentFrom(ctx, s, version, 0)
	}
	base := lc.Version // the newest version a checkpoint may be at
	if version < 0 || lc.Version <= version {
		seg, err := segmentFrom(ctx, s, version, lc.Version)
		if err == nil || ctx.Err() != nil || lc.Version == 0 || errors.Is(err, ErrVersionNotFound) {
			return seg, err
		}
		// The hint named a checkpoint that is gone or incomplete.
		slog.Warn("_last_checkpoint is stale, looking for an older checkpoint", "table", s.URL(), "hint", lc.Version, "err", err)
		base = lc.Version - 1
	} else {
		base = version
	}
	for _, w := range segmentWindows {
		if base-w <= 0 {
			break
		}
		seg, err := segmentFrom(ctx, s, version, base-w)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrVersionNotFound) {
			return seg, err
		}
	}
	return segmentFrom(ctx, s, version, 0)
}

// segmentWindows are the windows of versions, before the version a snapshot is read at (or a
// stale hint), where buildSegment looks for a checkpoint before listing the whole log: at the
// default interval of 100 the first holds two checkpoints, and one listing page.
var segmentWindows = []int64{200, 20_000}

func segmentFrom(ctx context.Context, s Store, version, from int64) (LogSegment, error) {
	infos, files, err := listLog(ctx, s, from, version)
	if err != nil {
		return LogSegment{}, err
	}
	commits := map[int64]ObjectInfo{}
	crcs := map[int64]bool{}
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
		case KindCRC:
			crcs[f.Version] = true
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
		return LogSegment{}, notATable(s)
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
	seg := LogSegment{Version: target, Checkpoint: cp, LatestVersion: latest, listedCRC: crcs[target]}
	for v := start; v <= target; v++ {
		c, ok := commits[v]
		if !ok {
			return LogSegment{}, corrupt(CommitKey(v), v, "commit is missing (log has versions up to %d)", latest)
		}
		seg.Commits = append(seg.Commits, c)
	}
	return seg, nil
}
