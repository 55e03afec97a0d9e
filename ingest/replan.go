package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/deltaraster/deltaraster/delta"
)

// mayHoldSources reports whether data file a may hold rows of one of the sources (identities):
// by its tagSources tag, whatever spelling it holds, else by the min/max stats of the source
// column (true when it cannot be told).
func mayHoldSources(a *delta.Add, sources map[string]bool) bool {
	if raw, ok := a.Tags[tagSources]; ok {
		var tags []sourceTag
		if json.Unmarshal([]byte(raw), &tags) == nil {
			var ids entryIDs
			for _, t := range tags {
				if sources[ids.id(t.URI)] {
					return true
				}
			}
			return false
		}
	}
	return statsMayHold(a.Stats, sources)
}

// describeSources names a set of sources for an error: the first few, then a count.
func describeSources(sources map[string]bool) string {
	names := slices.Sorted(maps.Keys(sources))
	const show = 3
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more sources", strings.Join(names[:show], ", "), len(names)-show)
}

// reconcile compares the plan a batch was written for with the plan made after a conflicting
// commit. The batch can still commit when the files it rewrites are the same and every source
// has the same status, except sources it adds or replaces that the table now holds at the
// version the batch has (another writer ingested them meanwhile): those are returned, to be
// taken out of the batch. Anything else is an error matching delta.ErrConflict.
func reconcile(was, now *plan) (drop map[string]bool, err error) {
	if !slices.EqualFunc(was.rewrite, now.rewrite, func(a, b *delta.Add) bool { return a.Path == b.Path }) {
		return nil, fmt.Errorf("a concurrent commit changed the files this batch rewrites: %w", delta.ErrConflict)
	}
	for u, st := range was.status {
		switch ns := now.status[u]; {
		case ns == st:
		case st != StatusUnchanged && ns == StatusUnchanged:
			if drop == nil {
				drop = map[string]bool{}
			}
			drop[u] = true
		default:
			return nil, fmt.Errorf("a concurrent commit changed source %s (now %s, planned %s): %w", u, ns, st, delta.ErrConflict)
		}
	}
	return drop, nil
}

// dropSources takes the sources in drop out of a written batch: data files holding only them
// are deleted, files holding them beside other sources are written again without their rows
// (and the first copies deleted). None of these files was ever committed.
func (in *ingestion) dropSources(ctx context.Context, w *batchWriter, drop map[string]bool) error {
	if err := w.wait(); err != nil {
		return err
	}
	var keep, redo, gone []writtenFile
	var ids entryIDs
	for _, f := range w.written {
		held, other := false, false
		for u := range f.Sources {
			if drop[ids.id(u)] {
				held = true
			} else {
				other = true
			}
		}
		switch {
		case !held:
			keep = append(keep, f)
		case other:
			redo = append(redo, f)
		default:
			gone = append(gone, f)
		}
	}
	w.written = keep
	c := w.codec
	for _, f := range redo {
		a := &delta.Add{Path: f.Path, Size: f.Size}
		if _, err := copyRows(ctx, in.store, a, c, drop, w); err != nil {
			return fmt.Errorf("rewrite %s without sources another writer added: %w", f.Path, err)
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	for _, f := range append(redo, gone...) {
		if err := in.store.Delete(ctx, f.Path); err != nil {
			// Left for vacuum: it is in no commit.
			in.opts.Logger.Warn("ingest: could not delete a data file taken out of the batch", "file", f.Path, "err", err)
		}
	}
	// The summary speaks of what the commit will hold.
	in.sum.Files, in.sum.Bytes = in.sum.Files[:0], 0
	for _, f := range w.written {
		in.sum.Files = append(in.sum.Files, f.Path)
		in.sum.Bytes += f.Size
	}
	for i := range in.sum.Sources {
		r := &in.sum.Sources[i]
		if drop[r.URI] {
			in.sum.Tiles -= r.Tiles
			r.Status, r.Tiles = StatusUnchanged, 0
		}
	}
	in.opts.Logger.Info("ingest: sources added meanwhile by another writer taken out of the batch",
		"table", in.store.URL(), "sources", describeSources(drop))
	return nil
}

// maxHoldingsGap is how many commits a plan reads to carry Options.Holdings' answer over to
// its own version before it streams the file list instead.
const maxHoldingsGap = 100

// absent reports, from Options.Holdings, that the table at txn's read version holds none of
// the sources of want: Holdings says so at its version, and no commit after that one, up to
// the read version, adds a file that may hold one of them (removes only take data away).
// False means "not known": the caller streams the file list.
func (in *ingestion) absent(ctx context.Context, txn *delta.Txn, want map[string]bool) bool {
	h := in.opts.Holdings
	if h == nil || len(want) == 0 {
		return false
	}
	at, ok := h.Absent(slices.Collect(maps.Keys(want)))
	read := txn.ReadVersion()
	if !ok || at > read || read-at > maxHoldingsGap {
		return false
	}
	for c, err := range delta.CommitsAfter(ctx, in.store, at, delta.ThroughVersion(read)) {
		if err != nil {
			return false
		}
		for a, err := range c.Actions() {
			if err != nil || a.Add != nil && mayHoldSources(a.Add, want) {
				return false
			}
		}
	}
	return true
}

// SourceSpan is the range of the source column that a data file's statistics give: lo and hi
// as written (spellings, not identities); ok is false when the statistics are missing or do
// not bound the column. empty is true when they say the file has no rows.
func SourceSpan(stats string) (lo, hi string, ok, empty bool) {
	var s struct {
		NumRecords *int64         `json:"numRecords"`
		Min        map[string]any `json:"minValues"`
		Max        map[string]any `json:"maxValues"`
	}
	if stats == "" || json.Unmarshal([]byte(stats), &s) != nil {
		return "", "", false, false
	}
	if s.NumRecords != nil && *s.NumRecords == 0 {
		return "", "", true, true
	}
	lo, ok1 := s.Min[colSource].(string)
	hi, ok2 := s.Max[colSource].(string)
	return lo, hi, ok1 && ok2, false
}

// SpanMayHold reports whether a source column whose values lie in [lo, hi] (as SourceSpan
// gives them) may hold a spelling of one of the identities.
func SpanMayHold(lo, hi string, ids []string) bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return rangeMayHold(lo, hi, set)
}
