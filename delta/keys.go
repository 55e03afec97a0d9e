package delta

import (
	"fmt"
	"hash/maphash"
	"net/url"
	"path"
	"strings"
)

// fileKey identifies a logical file, (path, deletion vector unique id), by a 128-bit hash: 16
// bytes a key however long the path, with a collision chance near 2^-128 per pair. Two
// independent 64-bit maphash seeds give the two halves.
type fileKey [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(p string, dv *DeletionVector) fileKey {
	var h [2]maphash.Hash
	var k fileKey
	for i := range h {
		h[i].SetSeed(keySeeds[i])
		h[i].WriteString(p)
		if dv != nil {
			h[i].WriteByte(0)
			h[i].WriteString(dv.UniqueID())
		}
		k[i] = h[i].Sum64()
	}
	return k
}

// keySet is a set of file keys.
type keySet map[fileKey]struct{}

func newKeySet() keySet             { return keySet{} }
func (s keySet) has(k fileKey) bool { _, ok := s[k]; return ok }
func (s keySet) add(k fileKey)      { s[k] = struct{}{} }

// checkPath refuses a data file path that leaves the table root: an absolute URI or path, a
// ".." segment after decoding, or an empty path. Paths are URIs relative to the root.
func checkPath(p string) error {
	if plainRelative(p) {
		return nil
	}
	return checkPathFull(p)
}

// checkPathFull is checkPath without the fast path.
func checkPathFull(p string) error {
	if p == "" {
		return fmt.Errorf("empty path: %w", ErrInvalidPath)
	}
	if hasScheme(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "\\") {
		return fmt.Errorf("absolute path: %w", ErrInvalidPath)
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		dec = p
	}
	if strings.HasPrefix(dec, "/") || strings.Contains(dec, "\\") || strings.Contains(dec, "://") {
		return fmt.Errorf("absolute path: %w", ErrInvalidPath)
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == ".." {
			return fmt.Errorf("path with '..': %w", ErrInvalidPath)
		}
	}
	if c := path.Clean(dec); c == "." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("path resolves outside the root: %w", ErrInvalidPath)
	}
	return nil
}

// plainRelative reports, without allocating, that p is certainly a path inside the root: not
// empty, no leading slash, no escapes, backslashes or colons (so no scheme), and no segment
// beginning with a dot. Anything else gets the full check.
func plainRelative(p string) bool {
	if p == "" || p[0] == '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', ':':
			return false
		case '.':
			if i == 0 || p[i-1] == '/' {
				return false
			}
		}
	}
	return true
}

// FileKey returns the store key of a data file path from the log: the URI decoded. The path
// must stay inside the table root.
func FileKey(p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", fmt.Errorf("data file %q: %w", p, err)
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("data file %q: %w", p, err)
	}
	return path.Clean(dec), nil
}

// hasScheme reports whether p starts with a URI scheme ("s3:", "file:").
func hasScheme(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}
