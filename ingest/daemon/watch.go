package daemon

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// Work is one source to ingest: a listed object at one version.
type Work struct {
	URI     string // as given to Ingest: it carries the watch URL's connection parameters
	ID      string // its identity (ingest.SourceID), as the table holds it
	Version string // its source_version
	Key     string // its key under the watched prefix
}

// Shard selects the keys of one replica: those whose FNV-1a hash modulo N is I. The zero
// value selects every key.
type Shard struct{ I, N int }

// hasHash reports whether the key whose hashKey is kh is the replica's.
func (s Shard) hasHash(kh uint64) bool { return s.N <= 1 || kh%uint64(s.N) == uint64(s.I) }

// Watch lists a prefix of a store (a local directory or a file://, s3://, gs://, azblob:// or
// mem:// URL) for new and changed objects.
//
// A key is work when the table holds no source with its identity at its version: new objects
// and objects whose version changed. The version of a local file is its size and modification
// time, read from the listing; an object's is its ETag, read with one Stat of each key whose
// size or modification time differs from the previous listing (List gives no ETag), so a
// listing of settled objects costs no request per object. On an object store a listed object
// is complete; a local file is work only once two listings in a row saw the same size and
// modification time (it may still be being written), except in a first listing taken with
// settle false (--once). Keys with a path element starting with "." or "_" (hidden files,
// temporary files of copy tools, a table's _delta_log) are skipped, and so are keys that make
// no source URI (ingest.SourceID refuses them).
//
// Memory: 16 bytes per listed key of the shard (a hash of the key and one of its size and
// modification time), kept from one listing to the next.
//
// A Watch is for one goroutine.
type Watch struct {
	url    string
	settle bool
	store  delta.Store
	local  string // the directory, for a local watch
	base   *url.URL
	shard  Shard
	prev   map[uint64]uint64 // key hash -> hash of (size, mtime) at the previous listing
}

// WatchOptions configure a Watch.
type WatchOptions struct {
	// Shard selects this replica's keys (zero: all).
	Shard Shard
	// Unsettled takes local files at their first listing, without waiting for a second one
	// to see the same size and modification time (for --once: what is there now).
	Unsettled bool
}

// OpenWatch opens the prefix at rawURL.
func OpenWatch(ctx context.Context, rawURL string, o WatchOptions) (*Watch, error) {
	shard := o.Shard
	if shard.N < 0 || shard.N > 0 && (shard.I < 0 || shard.I >= shard.N) {
		return nil, fmt.Errorf("watch: shard %d/%d: want 0 <= i < n", shard.I, shard.N)
	}
	w := &Watch{url: rawURL, settle: !o.Unsettled, shard: shard, prev: map[uint64]uint64{}}
	switch {
	case !strings.Contains(rawURL, "://"):
		w.local = rawURL
	case strings.HasPrefix(rawURL, "file://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", rawURL, err)
		}
		w.local = u.Path
	default:
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", rawURL, err)
		}
		w.base = u
	}
	if w.local != "" {
		abs, err := filepath.Abs(w.local)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", rawURL, err)
		}
		w.local = abs
	}
	st, err := delta.OpenStore(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w.store = st
	return w, nil
}

// String is the watched prefix as given.
func (w *Watch) String() string { return w.url }

// Poll lists the prefix once (see List); it makes Watch a Source.
func (w *Watch) Poll(ctx context.Context, known func(id, version string) bool) ([]Work, error) {
	return w.List(ctx, w.settle, known)
}

// Settled does nothing: a settled key is skipped by the next listings as long as its size and
// modification time stay (and, for local files, its version is known).
func (w *Watch) Settled(Work) {}

// Dropped makes the next listing look at the work's key again (Forget).
func (w *Watch) Dropped(wk Work) { w.Forget(wk.Key) }

// Close closes the watched store.
func (w *Watch) Close() error { return w.store.Close() }

// uri is the source URI of a key: the local path, or the watch URL with the key appended to
// its path (its query, the connection parameters, kept).
func (w *Watch) uri(key string) string {
	if w.local != "" {
		return filepath.Join(w.local, filepath.FromSlash(key))
	}
	u := *w.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + key
	u.RawPath = ""
	return u.String()
}

func hidden(key string) bool {
	for el := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(el, ".") || strings.HasPrefix(el, "_") {
			return true
		}
	}
	return false
}

func hashKey(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

func hashSig(info delta.ObjectInfo) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(info.Size))
	binary.LittleEndian.PutUint64(b[8:], uint64(info.ModTime.UnixNano()))
	h := fnv.New64a()
	h.Write(b[:])
	return h.Sum64() | 1 // never 0, the map's zero value
}

// List lists the prefix once and returns the work in it, in key order: the keys of the shard
// whose (identity, version) skip does not report as known (held by the table, queued or
// dead-lettered). settle false takes local files without waiting for a second listing. A
// cancelled or failed listing is an error, never a short result.
func (w *Watch) List(ctx context.Context, settle bool, skip func(id, version string) bool) ([]Work, error) {
	cur := make(map[uint64]uint64, len(w.prev))
	var out []Work
	for info, err := range w.store.List(ctx, "", "") {
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", w.url, err)
		}
		if hidden(info.Key) {
			continue
		}
		kh := hashKey(info.Key)
		if !w.shard.hasHash(kh) {
			continue
		}
		sig := hashSig(info)
		cur[kh] = sig
		same := w.prev[kh] == sig
		var version string
		if w.local != "" {
			if settle && !same {
				continue // new or still moving: the next listing decides
			}
			version = ingest.ObjectVersion(info, true)
		} else {
			if same {
				continue // settled at the previous listing (see Dropped)
			}
			st, err := w.store.Stat(ctx, info.Key)
			if err != nil {
				delete(cur, kh) // deleted meanwhile, or to stat again next time
				continue
			}
			version = ingest.ObjectVersion(st, false)
		}
		uri := w.uri(info.Key)
		id, err := ingest.SourceID(uri)
		if err != nil {
			continue // not a source URI (a key Ingest could not name): never work
		}
		if skip(id, version) {
			continue
		}
		out = append(out, Work{URI: uri, ID: id, Version: version, Key: info.Key})
	}
	w.prev = cur
	return out, nil
}

// Forget makes the next listing look at key again as if it were new: for work that was
// dropped (abandoned at shutdown, or its source changed while it was read).
func (w *Watch) Forget(key string) { delete(w.prev, hashKey(key)) }
