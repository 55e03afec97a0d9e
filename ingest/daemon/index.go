package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

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
// by another engine) is not indexed: Ingest itself finds its sources, and reports them
// unchanged, which the daemon then notes (Note). A remove without the tag cannot be counted
// down, so its pairs stay held until the next start.
//
// An Index is for one goroutine.
type Index struct {
	store   delta.Store
	version int64 // the last version applied; -1 before the table exists
	held    map[pairKey]int32
}

// LoadIndex builds the index of the table in store at its latest version (empty, at version
// -1, when there is no table yet).
func LoadIndex(ctx context.Context, store delta.Store) (*Index, error) {
	x := &Index{store: store, version: -1, held: map[pairKey]int32{}}
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
		x.count(a.Tags, 1)
	}
	x.version = snap.Version()
	return x, nil
}

// Version is the table version the index is current with (-1: no table yet).
func (x *Index) Version() int64 { return x.version }

// Len is the number of (identity, version) pairs held.
func (x *Index) Len() int { return len(x.held) }

// Holds reports whether the table holds the source at that version.
func (x *Index) Holds(id, version string) bool { return x.holdsKey(keyOf(id, version)) }

// holdsKey is Holds for a pair already hashed (an entry's key).
func (x *Index) holdsKey(k pairKey) bool { return x.held[k] > 0 }

// Note records that the table holds the pair (Ingest found it there).
func (x *Index) Note(id, version string) {
	k := keyOf(id, version)
	if x.held[k] <= 0 {
		x.held[k] = 1
	}
}

func (x *Index) count(tags map[string]string, d int32) {
	pairs, ok := ingest.FileSources(tags)
	if !ok {
		return
	}
	for _, p := range pairs {
		k := keyOf(p.ID, p.Version)
		if n := x.held[k] + d; n > 0 {
			x.held[k] = n
		} else {
			delete(x.held, k)
		}
	}
}

// Update applies the commits after Version, reading each commit file once, and returns how
// many it applied. A commit is applied whole or not at all: an error leaves the index at the
// last commit read in full.
func (x *Index) Update(ctx context.Context) (int, error) {
	n := 0
	var adds, removes []map[string]string
	for v := x.version + 1; ; v++ {
		adds, removes = adds[:0], removes[:0]
		err := delta.ReadCommitActions(ctx, x.store, v, func(a delta.Action) error {
			switch {
			case a.Add != nil:
				adds = append(adds, a.Add.Tags)
			case a.Remove != nil:
				removes = append(removes, a.Remove.Tags)
			}
			return nil
		})
		if errors.Is(err, delta.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("index %s: read commit %d: %w", x.store.URL(), v, err)
		}
		for _, t := range removes {
			x.count(t, -1)
		}
		for _, t := range adds {
			x.count(t, 1)
		}
		x.version = v
		n++
	}
}
