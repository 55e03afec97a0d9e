package checkpoint

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// CleanupOptions configure metadata cleanup.
type CleanupOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Retention overrides delta.logRetentionDuration (default: the table's, else 30 days).
	Retention time.Duration
	// DryRun lists what would be deleted and deletes nothing.
	DryRun bool
	// Progress, when set, is called after each deletion with the count so far and the total.
	Progress func(done, total int)
}

// CleanupResult reports what metadata cleanup did (or, in a dry run, would do).
type CleanupResult struct {
	Cutoff         time.Time `json:"cutoff"`
	KeptCheckpoint int64     `json:"keptCheckpoint"` // -1 when nothing could be cleaned
	// Deleted are the keys: log files oldest version first, then sidecars, then temporary files.
	Deleted []string `json:"deleted"`
	DryRun  bool     `json:"dryRun"`
}

// sidecarGrace keeps unreferenced sidecars, and temporary files, younger than this: a V2
// checkpoint being written has sidecars before its top-level file names them, and a writer
// has its temporary file until it publishes.
const sidecarGrace = 24 * time.Hour

// CleanupMetadata deletes log files no longer needed, as the protocol's metadata cleanup:
// the cutoff is now minus delta.logRetentionDuration, truncated to midnight UTC; the newest
// complete checkpoint at or before the newest commit not after the cutoff is kept with every
// commit after it; older commits, checkpoints, .crc and compacted files are deleted, oldest
// first. Then what a crash leaves behind: sidecars no remaining checkpoint references (a V2
// checkpoint that never got its top-level file) once a day old, as the protocol allows, and
// the store's temporary files under _delta_log (a writer killed before publishing) older than
// the cutoff and a day. Those go whether or not a checkpoint is kept. Time travel to the kept
// checkpoint's version and later keeps working; a crash midway leaves a table that opens, at
// every version from the kept checkpoint on. Everything is listed before anything is deleted.
func CleanupMetadata(ctx context.Context, s delta.Store, o CleanupOptions) (CleanupResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		return CleanupResult{}, errwrap.URL("clean up log of", s.URL(), err)
	}
	retention := o.Retention
	if retention <= 0 {
		if retention, err = snap.Metadata().LogRetention(); err != nil {
			return CleanupResult{}, fmt.Errorf("clean up log of %s: %w", s.URL(), err)
		}
	}
	now := o.Now()
	cutoff := now.Add(-retention).UTC().Truncate(24 * time.Hour)
	graceCutoff := now.Add(-sidecarGrace)
	res := CleanupResult{Cutoff: cutoff, KeptCheckpoint: -1, DryRun: o.DryRun}
	fail := func(err error) (CleanupResult, error) {
		return res, errwrap.URL("clean up log of", s.URL(), err)
	}

	// List everything first: a listing that fails deletes nothing.
	type entry struct {
		info delta.ObjectInfo
		file delta.LogFile
	}
	var entries []entry
	for obj, err := range s.List(ctx, delta.LogDir, "") {
		if err != nil {
			return fail(err)
		}
		if f, ok := delta.ParseLogKey(obj.Key); ok && f.Kind != delta.KindLastCheckpoint {
			entries = append(entries, entry{obj, f})
		}
	}
	var sidecars []delta.ObjectInfo // unreferenced candidates: old enough
	for obj, err := range s.List(ctx, delta.SidecarDir, "") {
		if err != nil {
			return fail(err)
		}
		name := strings.TrimPrefix(obj.Key, delta.SidecarDir)
		if strings.Contains(name, "/") || !strings.HasSuffix(name, ".parquet") {
			continue
		}
		if obj.ModTime.Before(graceCutoff) {
			sidecars = append(sidecars, obj)
		}
	}
	var temps []delta.ObjectInfo
	for obj, err := range s.ListTemp(ctx, delta.LogDir) {
		if err != nil {
			return fail(err)
		}
		if obj.ModTime.Before(graceCutoff) && !obj.ModTime.After(cutoff) {
			temps = append(temps, obj)
		}
	}
	ts, err := delta.CommitTimestamps(ctx, s)
	if err != nil {
		return fail(err)
	}
	cutoffCommit := int64(-1)
	for _, c := range ts {
		if !c.Time.After(cutoff) {
			cutoffCommit = c.Version
		}
	}
	// The newest complete checkpoint at or before the cutoff commit (the reader's rules decide
	// completeness: open the segment at that version).
	keep := int64(-1)
	if cutoffCommit >= 0 {
		seg, err := delta.Open(ctx, s, delta.AtVersion(cutoffCommit))
		if err != nil {
			return fail(err)
		}
		if cp := seg.Segment().Checkpoint; cp != nil {
			keep = cp.Version
		}
	}
	res.KeptCheckpoint = keep

	var doomed []delta.ObjectInfo
	if keep >= 0 {
		for _, e := range entries {
			old := e.file.Version < keep
			if e.file.Kind == delta.KindCompacted {
				old = e.file.EndVersion < keep
			}
			if old && !e.info.ModTime.After(cutoff) {
				doomed = append(doomed, e.info)
			}
		}
		sort.SliceStable(doomed, func(i, j int) bool { return doomed[i].Key < doomed[j].Key })
	}

	// Sidecars: those the checkpoints that remain reference stay.
	if len(sidecars) > 0 {
		gone := map[string]bool{}
		for _, obj := range doomed {
			gone[obj.Key] = true
		}
		referenced := map[string]bool{}
		for _, e := range entries {
			if e.file.Kind != delta.KindUUIDCheckpoint && e.file.Kind != delta.KindCheckpoint || gone[e.info.Key] {
				continue
			}
			names, err := delta.SidecarsOf(ctx, s, e.info)
			if err != nil {
				return fail(err)
			}
			for _, n := range names {
				referenced[n] = true
			}
		}
		for _, obj := range sidecars {
			if !referenced[strings.TrimPrefix(obj.Key, delta.SidecarDir)] {
				doomed = append(doomed, obj)
			}
		}
	}
	doomed = append(doomed, temps...)

	for i, obj := range doomed {
		if !o.DryRun {
			if err := s.Delete(ctx, obj.Key); err != nil {
				return fail(err)
			}
		}
		res.Deleted = append(res.Deleted, obj.Key)
		if o.Progress != nil {
			o.Progress(i+1, len(doomed))
		}
	}
	return res, nil
}
