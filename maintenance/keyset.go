package maintenance

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// fileKey is a 128-bit hash of a store key: two independent 64-bit maphash values. Sets of
// them stand in for sets of paths, at 16 bytes a file however long its path.
//
// A collision (two keys with the same hash, chance about n^2 / 2^129 for n keys) can only make
// an unneeded file look needed, so it is kept: hashing never makes vacuum delete a file it
// should keep.
type fileKey [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func hashKey(key string) fileKey {
	return fileKey{maphash.String(keySeeds[0], key), maphash.String(keySeeds[1], key)}
}

func compareKeys(a, b fileKey) int {
	return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
}

// keySet is a set of file keys kept as a sorted slice: exactly 16 bytes an entry once sealed
// (and up to about 2.25 times that while the slice grows), against some 40 for a Go map.
// Add everything, Seal once, then Has.
type keySet struct {
	keys   []fileKey
	sealed bool
}

func (s *keySet) Add(key string) { s.keys = append(s.keys, hashKey(key)) }

// Seal sorts and deduplicates the keys and gives back the slack of the slice.
func (s *keySet) Seal() {
	slices.SortFunc(s.keys, compareKeys)
	s.keys = slices.Compact(s.keys)
	s.keys = slices.Clip(s.keys)
	s.sealed = true
}

// Has reports whether key was added. The set must be sealed.
func (s *keySet) Has(key string) bool {
	_, ok := slices.BinarySearchFunc(s.keys, hashKey(key), compareKeys)
	return ok
}

// Len is the number of distinct keys (once sealed).
func (s *keySet) Len() int { return len(s.keys) }

// Bytes is the memory the keys take.
func (s *keySet) Bytes() int64 { return int64(cap(s.keys)) * 16 }
