package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// pairKey is the hash of one (identity, version) pair: 16 bytes of its SHA-256.
type pairKey [16]byte

func keyOf(id, version string) pairKey {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(version))
	var k pairKey
	copy(k[:], h.Sum(nil))
	return k
}

// Index is which (source identity, version) pairs a raster table holds, as 16-byte hashes with
// the number of live data files holding each. It is built once from a snapshot (the
// deltaraster.sources tags of the live files, read from the log and checkpoint alone) and then
// kept current by reading only the commits after the version it holds: adds count up, removes
// that carry the tag (ingest's and optimize's do) count down. A file without the tag (rewritten
// by another engine) is not indexed by pair: Ingest itself finds its sources, and reports them
// unchanged, which the daemon then notes (Note). A remove without the tag cannot be counted
// down, so its pairs stay held until the next start.
//
// The index also answers ingest's Holdings (Absent), so a batch of new sources is planned
// without streaming the table's file list: by identity alone (a 64-bit hash, counted as the
// pairs are) and, for the live files without the tag, by the envelope of the source ranges
// their statistics give.
//
// An Index is safe for concurrent use: ingest asks Absent from the goroutine that commits.
type Index struct {
	store delta.Store
	seed  maphash.Seed

	mu       sync.RWMutex
	version  int64 // the last version applied; -1 before the table exists
	held     map[pairKey]int32
	ids      map[uint64]int32 // identity hash -> pairs held of it
	untagged map[pairKey]bool // live files without the tag (path hash) -> their stats bound the source column
	unranged int              // untagged files whose stats do not
	lo, hi   string           // envelope of the source ranges of the untagged files (since there were none)
}

// LoadIndex builds the index of the table in store at its latest version (empty, at version
// -1, when there is no table yet).
func LoadIndex(ctx context.Context, store delta.Store) (*Index, error) {
	x := &Index{store: store, seed: maphash.MakeSeed(), version: -1, held: map[pairKey]int32{},
		ids: map[uint64]int32{}, untagged: map[pairKey]bool{}}
	snap, err := delta.Open(ctx, store)
	if errors.Is(err, delta.ErrNotATable) {
		return x, nil
	}
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", store.URL(), err)
	}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", store.URL(), err)
		}
		x.add(a.Path, a.DeletionVector, a.Stats, a.Tags)
	}
	x.version = snap.Version()
	return x, nil
}

// Version is the table version the index is current with (-1: no table yet).
func (x *Index) Version() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.version
}

// Len is the number of (identity, version) pairs held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.held)
}

// Holds reports whether the table holds the source at that version.
func (x *Index) Holds(id, version string) bool { return x.holdsKey(keyOf(id, version)) }

// holdsKey is Holds for a pair already hashed (an entry's key).
func (x *Index) holdsKey(k pairKey) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.held[k] > 0
}

// Note records that the table holds the pair (Ingest found it there).
func (x *Index) Note(id, version string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.countPair(id, keyOf(id, version), 1)
}

// Absent implements ingest.Holdings: at the index's version, no live file holds any of the
// identities by its tag, and no untagged file's source range may hold one.
func (x *Index) Absent(ids []string) (int64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, id := range ids {
		if x.ids[maphash.String(x.seed, id)] > 0 {
			return x.version, false
		}
	}
	if x.unranged > 0 || len(x.untagged) > 0 && ingest.SpanMayHold(x.lo, x.hi, ids) {
		return x.version, false
	}
	return x.version, true
}

// countPair counts one file holding the pair k of identity id up (d 1) or down (d -1).
func (x *Index) countPair(id string, k pairKey, d int32) {
	before := x.held[k]
	if d < 0 && before <= 0 {
		return // a remove of a pair never counted (see Index)
	}
	if n := before + d; n > 0 {
		x.held[k] = n
	} else {
		delete(x.held, k)
	}
	h := maphash.String(x.seed, id)
	if n := x.ids[h] + d; n > 0 {
		x.ids[h] = n
	} else {
		delete(x.ids, h)
	}
}

// add counts a live data file in.
func (x *Index) add(path string, dv *delta.DeletionVector, stats string, tags map[string]string) {
	if pairs, ok := ingest.FileSources(tags); ok {
		for _, p := range pairs {
			x.countPair(p.ID, keyOf(p.ID, p.Version), 1)
		}
		return
	}
	lo, hi, ranged, empty := ingest.SourceSpan(stats)
	if empty {
		return // no rows: holds no source
	}
	k := fileKeyOf(path, dv)
	if _, dup := x.untagged[k]; dup {
		return
	}
	x.untagged[k] = ranged
	switch {
	case !ranged:
		x.unranged++
	case len(x.untagged) == 1:
		x.lo, x.hi = lo, hi
	default:
		x.lo, x.hi = min(x.lo, lo), max(x.hi, hi)
	}
}

// remove counts a data file out.
func (x *Index) remove(path string, dv *delta.DeletionVector, tags map[string]string) {
	k := fileKeyOf(path, dv)
	if ranged, ok := x.untagged[k]; ok {
		delete(x.untagged, k)
		if !ranged {
			x.unranged--
		}
		if len(x.untagged) == 0 {
			x.lo, x.hi = "", ""
		}
		return
	}
	if pairs, ok := ingest.FileSources(tags); ok {
		for _, p := range pairs {
			x.countPair(p.ID, keyOf(p.ID, p.Version), -1)
		}
	}
}

// fileKeyOf hashes a data file's key as log replay matches adds and removes: its path as the
// log spells it, and its deletion vector.
func fileKeyOf(path string, dv *delta.DeletionVector) pairKey {
	h := sha256.New()
	h.Write([]byte(path))
	if dv != nil {
		h.Write([]byte{0})
		h.Write([]byte(dv.UniqueID()))
	}
	var k pairKey
	copy(k[:], h.Sum(nil))
	return k
}

// Update applies the commits after Version, reading each commit file once, and returns how
// many it applied. A commit is applied whole or not at all: an error leaves the index at the
// last commit read in full.
func (x *Index) Update(ctx context.Context) (int, error) {
	n := 0
	type file struct {
		path, stats string
		dv          *delta.DeletionVector
		tags        map[string]string
	}
	var adds, removes []file
	for c, err := range delta.CommitsAfter(ctx, x.store, x.Version()) {
		if err != nil {
			return n, fmt.Errorf("index %s: %w", x.store.URL(), err)
		}
		adds, removes = adds[:0], removes[:0]
		for a, err := range c.Actions() {
			if err != nil {
				return n, fmt.Errorf("index %s: %w", x.store.URL(), err)
			}
			switch {
			case a.Add != nil:
				adds = append(adds, file{a.Add.Path, a.Add.Stats, a.Add.DeletionVector, a.Add.Tags})
			case a.Remove != nil:
				removes = append(removes, file{path: a.Remove.Path, dv: a.Remove.DeletionVector, tags: a.Remove.Tags})
			}
		}
		x.mu.Lock()
		for _, f := range removes {
			x.remove(f.path, f.dv, f.tags)
		}
		for _, f := range adds {
			x.add(f.path, f.dv, f.stats, f.tags)
		}
		x.version = c.Version
		x.mu.Unlock()
		n++
	}
	return n, nil
}
