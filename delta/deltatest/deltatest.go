// Package deltatest is the conformance suite every [delta.Store] runs, in the manner of go-cloud's
// drivertest: one set of subtests, each against a fresh, empty store, checks the contract written
// in the Store doc comment (ordered and complete listings, atomic puts, mutual exclusion of
// put-if-absent and of conditional streaming writes, reads pinned to one version of an object,
// not-found errors, idempotent deletes, temporary objects kept out of listings).
//
// A backend's test calls [RunStoreTests] with a constructor that returns an empty store, for
// example on a fresh bucket or prefix per subtest:
//
//	func TestStoreLocal(t *testing.T) {
//		deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
//			s, err := delta.OpenStore(t.Context(), t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}, deltatest.WithRaceRounds(200))
//	}
package deltatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// Option tunes the suite for one backend.
type Option func(*config)

type config struct {
	raceRounds  int
	raceWriters int
	largeSize   int
}

// WithRaceRounds sets how many keys the put-if-absent race runs on, one round per key (default
// 1,000; 100 with -short). Remote backends may lower it to keep the suite fast.
func WithRaceRounds(n int) Option { return func(c *config) { c.raceRounds = n } }

// WithRaceWriters sets how many goroutines race in each round (default 8).
func WithRaceWriters(n int) Option { return func(c *config) { c.raceWriters = n } }

// WithLargeObjectSize sets the size of the object streamed through Create (default 5 MiB).
func WithLargeObjectSize(n int) Option { return func(c *config) { c.largeSize = n } }

// RunStoreTests runs the conformance suite. newStore must return an empty store for the test it
// is given; the suite closes it when that test ends.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) delta.Store, opts ...Option) {
	t.Helper()
	c := config{raceRounds: 1000, raceWriters: 8, largeSize: 5 << 20}
	if testing.Short() {
		c.raceRounds = 100
	}
	for _, o := range opts {
		o(&c)
	}
	open := func(t *testing.T) delta.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s delta.Store, c config)
	}{
		{"PutRead", testPutRead},
		{"ReadRange", testReadRange},
		{"EmptyObject", testEmptyObject},
		{"NotFound", testNotFound},
		{"PutOverwrites", testPutOverwrites},
		{"PutIfAbsent", testPutIfAbsent},
		{"Delete", testDelete},
		{"List", testList},
		{"ListOrder", testListOrder},
		{"ListStartAfter", testListStartAfter},
		{"ListEmpty", testListEmpty},
		{"ListManyKeys", testListManyKeys},
		{"ListCancelled", testListCancelled},
		{"ListDuringPuts", testListDuringPuts},
		{"ListStopEarly", testListStopEarly},
		{"Create", testCreate},
		{"CreateAbort", testCreateAbort},
		{"CreateCancelledMidWrite", testCreateCancelledMidWrite},
		{"NestedKeys", testNestedKeys},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"CreateIfAbsent", testCreateIfAbsent},
		{"CreateIfAbsentRace", testCreateIfAbsentRace},
		{"ReadPinned", testReadPinned},
		{"ReaderAtPinned", testReaderAtPinned},
		{"ListTemp", testListTemp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t), c)
		})
	}
}

func testPutRead(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	key := "_delta_log/00000000000000000000.json"
	data := []byte(`{"commitInfo":{"timestamp":1}}` + "\n")
	mustPut(t, s, key, data)
	assertContent(t, s, key, data)
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Stat(%q).Size = %d, want %d", key, info.Size, len(data))
	}
	if info.Key != key {
		t.Errorf("Stat(%q).Key = %q, want %q", key, info.Key, key)
	}
}

func testReadRange(t *testing.T, s delta.Store, _ config) {
	key := "part-00000.parquet"
	data := []byte("0123456789abcdefghij")
	n := int64(len(data))
	mustPut(t, s, key, data)
	tests := []struct {
		name           string
		offset, length int64
		want           string
	}{
		{"whole", 0, -1, string(data)},
		{"whole by length", 0, n, string(data)},
		{"prefix", 0, 4, "0123"},
		{"middle", 3, 4, "3456"},
		{"tail to end", 15, -1, "fghij"},
		{"last byte", n - 1, 1, "j"},
		{"range past the end", n - 3, 100, "hij"},
		{"zero length", 5, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readRange(t.Context(), s, key, tc.offset, tc.length)
			if err != nil {
				t.Fatalf("ReadRange(%q, %d, %d): %v", key, tc.offset, tc.length, err)
			}
			if string(got) != tc.want {
				t.Errorf("ReadRange(%q, %d, %d) = %q, want %q", key, tc.offset, tc.length, got, tc.want)
			}
		})
	}
}

func testEmptyObject(t *testing.T, s delta.Store, _ config) {
	key := "_delta_log/empty"
	mustPut(t, s, key, nil)
	assertContent(t, s, key, nil)
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Size != 0 {
		t.Errorf("Stat(%q).Size = %d, want 0", key, info.Size)
	}
	if got := listKeys(t, s, "_delta_log/", ""); !slices.Equal(got, []string{key}) {
		t.Errorf("List = %q, want [%q]", got, key)
	}
}

func testNotFound(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	mustPut(t, s, "dir/sub/file.json", []byte("{}"))
	// "dir" and "dir/sub" are prefixes of a key, not keys: they do not exist either.
	for _, key := range []string{"missing.json", "_delta_log/00000000000000000000.json", "dir", "dir/sub", "dir/sub/file"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, delta.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
		}
		if _, err := readRange(ctx, s, key, 0, -1); !errors.Is(err, delta.ErrNotFound) {
			t.Errorf("ReadRange(%q, 0, -1) error = %v, want ErrNotFound", key, err)
		}
		if _, err := readRange(ctx, s, key, 2, 4); !errors.Is(err, delta.ErrNotFound) {
			t.Errorf("ReadRange(%q, 2, 4) error = %v, want ErrNotFound", key, err)
		}
		if _, err := delta.ReadAll(ctx, s, key); !errors.Is(err, delta.ErrNotFound) {
			t.Errorf("ReadAll(%q) error = %v, want ErrNotFound", key, err)
		}
	}
}

func testPutOverwrites(t *testing.T, s delta.Store, _ config) {
	key := "_delta_log/_last_checkpoint"
	mustPut(t, s, key, []byte(`{"version":10,"size":100000}`))
	second := []byte(`{"version":20,"size":3}`)
	mustPut(t, s, key, second)
	assertContent(t, s, key, second)
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Size != int64(len(second)) {
		t.Errorf("Stat(%q).Size = %d after overwrite, want %d", key, info.Size, len(second))
	}
	if got := listKeys(t, s, "", ""); !slices.Equal(got, []string{key}) {
		t.Errorf("List after overwrite = %q, want [%q]", got, key)
	}
}

func testPutIfAbsent(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	key := delta.CommitKey(0)
	first := []byte(`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`)
	if err := s.PutIfAbsent(ctx, key, first); err != nil {
		t.Fatalf("PutIfAbsent(%q) on a new key: %v", key, err)
	}
	assertContent(t, s, key, first)
	err := s.PutIfAbsent(ctx, key, []byte("loser"))
	if !errors.Is(err, delta.ErrExist) {
		t.Fatalf("PutIfAbsent(%q) on an existing key: error = %v, want ErrExist", key, err)
	}
	if errors.Is(err, delta.ErrNotFound) {
		t.Errorf("PutIfAbsent(%q) error %v also matches ErrNotFound", key, err)
	}
	assertContent(t, s, key, first)

	// A key written by Put is just as existing.
	key2 := delta.CommitKey(1)
	mustPut(t, s, key2, []byte("put"))
	if err := s.PutIfAbsent(ctx, key2, []byte("loser")); !errors.Is(err, delta.ErrExist) {
		t.Fatalf("PutIfAbsent(%q) over a Put: error = %v, want ErrExist", key2, err)
	}
	assertContent(t, s, key2, []byte("put"))

	// A deleted key can be created again.
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if err := s.PutIfAbsent(ctx, key, []byte("again")); err != nil {
		t.Fatalf("PutIfAbsent(%q) after Delete: %v", key, err)
	}
	assertContent(t, s, key, []byte("again"))
}

func testDelete(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	if err := s.Delete(ctx, "never-written.parquet"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if err := s.Delete(ctx, "no/such/dir/file.parquet"); err != nil {
		t.Errorf("Delete of a key in a missing directory: %v, want nil", err)
	}
	key := "a=1/part-0.parquet"
	mustPut(t, s, key, []byte("data"))
	mustPut(t, s, "a=1/part-1.parquet", []byte("data"))
	for i := range 2 {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q) #%d: %v", key, i+1, err)
		}
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("Stat(%q) after Delete: error = %v, want ErrNotFound", key, err)
	}
	if _, err := readRange(ctx, s, key, 0, -1); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("ReadRange(%q) after Delete: error = %v, want ErrNotFound", key, err)
	}
	if got, want := listKeys(t, s, "", ""), []string{"a=1/part-1.parquet"}; !slices.Equal(got, want) {
		t.Errorf("List after Delete = %q, want %q", got, want)
	}
}

// commitKeys is a small log: commits, a checkpoint, a .crc and _last_checkpoint interleave in
// lexical order only if the store sorts by bytes.
var commitKeys = []string{
	"_delta_log/00000000000000000000.json",
	"_delta_log/00000000000000000001.json",
	"_delta_log/00000000000000000002.checkpoint.parquet",
	"_delta_log/00000000000000000002.crc",
	"_delta_log/00000000000000000002.json",
	"_delta_log/00000000000000000003.json",
	"_delta_log/00000000000000000010.json",
	"_delta_log/_last_checkpoint",
	"_delta_log/_sidecars/00000000000000000002.sidecar.parquet",
}

func testList(t *testing.T, s delta.Store, _ config) {
	other := []string{"part-00000.parquet", "_delta_logx", "_delta_lo", "x=1/part-0.parquet"}
	// Written in reverse so a store that returns insertion order fails.
	for _, k := range slices.Backward(append(slices.Clone(commitKeys), other...)) {
		mustPut(t, s, k, []byte(k))
	}
	got := list(t, s, "_delta_log/", "")
	if keys := objKeys(got); !slices.Equal(keys, commitKeys) {
		t.Fatalf("List(%q) =\n%q\nwant\n%q", "_delta_log/", keys, commitKeys)
	}
	for _, o := range got {
		if o.Size != int64(len(o.Key)) {
			t.Errorf("List: %q has Size %d, want %d", o.Key, o.Size, len(o.Key))
		}
	}
	all := append(slices.Clone(commitKeys), other...)
	slices.Sort(all)
	if keys := listKeys(t, s, "", ""); !slices.Equal(keys, all) {
		t.Errorf("List(\"\") =\n%q\nwant\n%q", keys, all)
	}
	// A prefix that is not a directory boundary.
	if keys := listKeys(t, s, "_delta_log/0000000000000000000", ""); !slices.Equal(keys, commitKeys[:6]) {
		t.Errorf("List(%q) = %q, want %q", "_delta_log/0000000000000000000", keys, commitKeys[:6])
	}
	want := []string{"_delta_lo", "_delta_log/00000000000000000000.json"}
	if keys := listKeys(t, s, "_delta_lo", ""); len(keys) != len(commitKeys)+2 || keys[0] != want[0] || keys[1] != want[1] {
		t.Errorf("List(%q) = %q, want %d keys starting %q", "_delta_lo", keys, len(commitKeys)+2, want)
	}
}

// testListOrder puts keys whose byte order differs from a depth-first walk of directories: ' ',
// '-' and '.' sort before '/', so "a.b" comes before "a/b", and "x=1.5/..." before "x=1/...".
func testListOrder(t *testing.T, s delta.Store, _ config) {
	keys := []string{
		"p/a b",
		"p/a-1/x",
		"p/a.b",
		"p/a/b",
		"p/a/c",
		"p/a/d/e",
		"p/a0",
		"p/x=1-2/part-0.parquet",
		"p/x=1.5/part-0.parquet",
		"p/x=1/part-0.parquet",
		"p/x=1/part-1.parquet",
		"p/x=10/part-0.parquet",
		"p/~",
		"p/\u00e9", // UTF-8 bytes 0xC3 0xA9 sort after '~'
	}
	if !slices.IsSorted(keys) {
		t.Fatal("test keys are not sorted")
	}
	for _, k := range slices.Backward(keys) {
		mustPut(t, s, k, []byte(k))
	}
	if got := listKeys(t, s, "p/", ""); !slices.Equal(got, keys) {
		t.Errorf("List(\"p/\") is not in byte order:\n got %q\nwant %q", got, keys)
	}
	// startAfter inside a directory that sorts after its siblings' files.
	if got := listKeys(t, s, "p/", "p/a.b"); !slices.Equal(got, keys[3:]) {
		t.Errorf("List(\"p/\", after \"p/a.b\") =\n got %q\nwant %q", got, keys[3:])
	}
}

func testListStartAfter(t *testing.T, s delta.Store, _ config) {
	for _, k := range commitKeys {
		mustPut(t, s, k, []byte("x"))
	}
	tests := []struct {
		name       string
		prefix     string
		startAfter string
		want       []string
	}{
		{"empty startAfter", "_delta_log/", "", commitKeys},
		{"exclusive", "_delta_log/", commitKeys[2], commitKeys[3:]},
		{"between keys", "_delta_log/", "_delta_log/00000000000000000002.d", commitKeys[4:]},
		{"before prefix", "_delta_log/", "_a", commitKeys},
		{"last key", "_delta_log/", commitKeys[len(commitKeys)-1], nil},
		{"after everything", "_delta_log/", "_delta_log/~", nil},
		{"prefix of a version", "_delta_log/", "_delta_log/00000000000000000002", commitKeys[2:]},
		{"commits from version 3", "_delta_log/", delta.CommitKey(2), commitKeys[5:]},
		{"no prefix", "", commitKeys[7], commitKeys[8:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := listKeys(t, s, tc.prefix, tc.startAfter); !slices.Equal(got, tc.want) {
				t.Errorf("List(%q, %q) =\n got %q\nwant %q", tc.prefix, tc.startAfter, got, tc.want)
			}
		})
	}
}

func testListEmpty(t *testing.T, s delta.Store, _ config) {
	if got := listKeys(t, s, "", ""); len(got) != 0 {
		t.Errorf("List of an empty store = %q, want nothing", got)
	}
	if got := listKeys(t, s, "_delta_log/", ""); len(got) != 0 {
		t.Errorf("List(\"_delta_log/\") of an empty store = %q, want nothing", got)
	}
	mustPut(t, s, "a/b.json", []byte("{}"))
	for _, prefix := range []string{"b", "a/c", "a/b.json/", "_delta_log/", "a/b.jsonx"} {
		if got := listKeys(t, s, prefix, ""); len(got) != 0 {
			t.Errorf("List(%q) = %q, want nothing", prefix, got)
		}
	}
}

// testListManyKeys puts more keys than one page of most backends (1,000) and expects every
// completed put in the listing.
func testListManyKeys(t *testing.T, s delta.Store, _ config) {
	const n = 1100
	want := make([]string, n)
	for i := range n {
		want[i] = delta.CommitKey(int64(i))
	}
	putAll(t, s, want, 32)
	mustPut(t, s, "_delta_logz", []byte("x"))
	got := listKeys(t, s, delta.LogDir, "")
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) returned %d keys, want %d; first difference at %d", delta.LogDir, len(got), n, firstDiff(got, want))
	}
	if got := listKeys(t, s, delta.LogDir, want[999]); !slices.Equal(got, want[1000:]) {
		t.Errorf("List(%q, %q) returned %d keys, want %d", delta.LogDir, want[999], len(got), n-1000)
	}
}

// testListCancelled checks that a cancelled listing ends with an error, never as a silently
// short (or silently complete) result.
func testListCancelled(t *testing.T, s delta.Store, _ config) {
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = delta.CommitKey(int64(i))
	}
	putAll(t, s, keys, 8)

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		n, err := drain(s.List(ctx, delta.LogDir, ""))
		if err == nil {
			t.Fatalf("List with a cancelled context yielded %d objects and no error", n)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("List with a cancelled context: error = %v, want one matching context.Canceled", err)
		}
	})
	t.Run("midway", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		n := 0
		var err error
		for _, e := range s.List(ctx, delta.LogDir, "") {
			if e != nil {
				err = e
				break
			}
			n++
			if n == 1 {
				cancel()
			}
		}
		// A store may have finished before it saw the cancellation; it may not stop short.
		if err == nil && n != len(keys) {
			t.Errorf("List cancelled midway yielded %d of %d objects and no error", n, len(keys))
		}
	})
}

// testListDuringPuts lists while other goroutines put: every listing succeeds, is sorted, and
// holds every put that completed before it began.
func testListDuringPuts(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	const writers, perWriter = 4, 50
	var (
		mu   sync.Mutex
		done []string // completed puts
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := delta.CommitKey(int64(i*writers + w))
				if err := s.Put(ctx, k, []byte(k)); err != nil {
					t.Errorf("Put(%q): %v", k, err)
					return
				}
				mu.Lock()
				done = append(done, k)
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	listDone := make(chan struct{})
	go func() {
		defer close(listDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			before := slices.Clone(done)
			mu.Unlock()
			var got []string
			for o, err := range s.List(ctx, delta.LogDir, "") {
				if err != nil {
					t.Errorf("List during puts: %v", err)
					return
				}
				got = append(got, o.Key)
			}
			if !slices.IsSorted(got) {
				t.Errorf("List during puts is not sorted: %q", got)
				return
			}
			for _, k := range before {
				if _, found := slices.BinarySearch(got, k); !found {
					t.Errorf("List during puts misses %q, whose put had completed", k)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-listDone
	if got := listKeys(t, s, delta.LogDir, ""); len(got) != writers*perWriter {
		t.Errorf("List after puts returned %d keys, want %d", len(got), writers*perWriter)
	}
}

// testListStopEarly checks that a consumer may stop ranging without harm.
func testListStopEarly(t *testing.T, s delta.Store, _ config) {
	putAll(t, s, commitKeys, 4)
	for o, err := range s.List(t.Context(), delta.LogDir, "") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if o.Key != commitKeys[0] {
			t.Errorf("first key = %q, want %q", o.Key, commitKeys[0])
		}
		break
	}
	if got := listKeys(t, s, delta.LogDir, ""); !slices.Equal(got, commitKeys) {
		t.Errorf("List after an early stop = %q, want %q", got, commitKeys)
	}
}

func testCreate(t *testing.T, s delta.Store, c config) {
	ctx := t.Context()
	key := "_delta_log/00000000000000000100.checkpoint.parquet"
	data := pattern(c.largeSize)
	w, err := s.Create(ctx, key)
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	const chunk = 64 << 10
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		n, err := w.Write(data[off:end])
		if err != nil || n != end-off {
			t.Fatalf("Write at %d: n = %d, err = %v", off, n, err)
		}
		if off == len(data)/2 {
			if _, err := s.Stat(ctx, key); !errors.Is(err, delta.ErrNotFound) {
				t.Errorf("Stat(%q) before Close: error = %v, want ErrNotFound", key, err)
			}
			if got := listKeys(t, s, "", ""); len(got) != 0 {
				t.Errorf("List before Close = %q, want nothing", got)
			}
		}
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("Stat(%q) before Close: error = %v, want ErrNotFound", key, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(%q) after Close: %v", key, err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Stat(%q).Size = %d, want %d", key, info.Size, len(data))
	}
	got, err := delta.ReadAll(ctx, s, key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("ReadAll(%q): %d bytes differ from the %d written (first difference at %d)", key, len(got), len(data), firstDiffBytes(got, data))
	}
	// A ranged read across a chunk boundary, as a Parquet footer read would be.
	off := int64(len(data)/2 - 10)
	part, err := readRange(ctx, s, key, off, 100)
	if err != nil {
		t.Fatalf("ReadRange(%q, %d, 100): %v", key, off, err)
	}
	if !bytes.Equal(part, data[off:off+100]) {
		t.Errorf("ReadRange(%q, %d, 100) differs from what was written", key, off)
	}
	if got := listKeys(t, s, "", ""); !slices.Equal(got, []string{key}) {
		t.Errorf("List after Close = %q, want [%q]", got, key)
	}
}

func testCreateAbort(t *testing.T, s delta.Store, _ config) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key := "part-00000-aborted.parquet"
	w, err := s.Create(ctx, key)
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	if _, err := w.Write(pattern(100 << 10)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cancel()
	if err := w.Close(); err == nil {
		t.Errorf("Close after cancelling the context returned nil, want an error")
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("Stat(%q) after an aborted Create: error = %v, want ErrNotFound", key, err)
	}
	if got := listKeys(t, s, "", ""); len(got) != 0 {
		t.Errorf("List after an aborted Create = %q, want nothing", got)
	}
}

// testCreateCancelledMidWrite cancels streamed writes while their upload is under way (past
// the first upload part), then goes on writing and closes: no panic (gocloud v0.47's azblob
// Writer had one), Close fails, and nothing is published.
func testCreateCancelledMidWrite(t *testing.T, s delta.Store, c config) {
	size := max(c.largeSize, 6<<20)
	for _, tc := range []struct {
		name   string
		create func(ctx context.Context, key string) (io.WriteCloser, error)
	}{
		{"Create", s.Create},
		{"CreateIfAbsent", s.CreateIfAbsent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			key := "part-00000-cancelled-" + tc.name + ".parquet"
			w, err := tc.create(ctx, key)
			if err != nil {
				t.Fatalf("%s(%q): %v", tc.name, key, err)
			}
			data := pattern(size)
			const chunk = 64 << 10
			for off := 0; off < len(data); off += chunk {
				if off >= len(data)/2 {
					cancel()
				}
				if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
					if off < len(data)/2 {
						t.Fatalf("Write at %d, before cancelling: %v", off, err)
					}
					break // a write after the cancel may fail
				}
			}
			if err := w.Close(); err == nil {
				t.Errorf("Close after cancelling mid-write returned nil, want an error")
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, delta.ErrNotFound) {
				t.Errorf("Stat(%q) after a cancelled %s: error = %v, want ErrNotFound", key, tc.name, err)
			}
			if got := listKeys(t, s, "", ""); len(got) != 0 {
				t.Errorf("List after a cancelled %s = %q, want nothing", tc.name, got)
			}
		})
	}
}

func testNestedKeys(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	keys := []string{
		"_delta_log/_sidecars/x.parquet",
		"a=1/b=2/part-0.parquet",
		"a=1/b=3/part-0.parquet",
		"a=2/b=2/c=3/d=4/part-0.parquet",
		"date=2024-01-01 00%3A00%3A00/part-00000-c000.snappy.parquet",
		"deletion_vector_8b3c5a8e-0c1d-4a7b-9d39-1f0a0d1a0c55.bin",
	}
	for _, k := range keys {
		if err := s.PutIfAbsent(ctx, k, []byte(k)); err != nil {
			t.Fatalf("PutIfAbsent(%q): %v", k, err)
		}
	}
	for _, k := range keys {
		assertContent(t, s, k, []byte(k))
	}
	sorted := slices.Sorted(slices.Values(keys))
	if got := listKeys(t, s, "", ""); !slices.Equal(got, sorted) {
		t.Errorf("List = %q, want %q", got, sorted)
	}
	if got, want := listKeys(t, s, "a=1/", ""), keys[1:3]; !slices.Equal(got, want) {
		t.Errorf("List(\"a=1/\") = %q, want %q", got, want)
	}
	if got, want := listKeys(t, s, delta.SidecarDir, ""), keys[:1]; !slices.Equal(got, want) {
		t.Errorf("List(%q) = %q, want %q", delta.SidecarDir, got, want)
	}
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
	}
	if got := listKeys(t, s, "", ""); len(got) != 0 {
		t.Errorf("List after deleting every key = %q, want nothing", got)
	}
}

// testPutIfAbsentRace runs rounds of writers that put-if-absent one fresh key at once: exactly one
// wins each round, every other gets ErrExist, and the object holds the winner's bytes.
func testPutIfAbsentRace(t *testing.T, s delta.Store, c config) {
	for round := range c.raceRounds {
		if err := raceRound(t.Context(), s, round, c.raceWriters); err != nil {
			t.Fatal(err)
		}
	}
	if got := listKeys(t, s, delta.LogDir, ""); len(got) != c.raceRounds {
		t.Errorf("List after the race returned %d keys, want %d", len(got), c.raceRounds)
	}
}

// raceRound has writers goroutines put-if-absent one key at once and checks the outcome.
func raceRound(ctx context.Context, s delta.Store, round, writers int) error {
	key := delta.CommitKey(int64(round))
	var (
		start = make(chan struct{})
		errs  = make([]error, writers)
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			<-start
			errs[w] = s.PutIfAbsent(ctx, key, raceContent(round, w))
		})
	}
	close(start)
	wg.Wait()
	winner, losers := -1, 0
	var other []error
	for w, err := range errs {
		switch {
		case err == nil && winner >= 0:
			return fmt.Errorf("round %d: writers %d and %d both won the put-if-absent of %q", round, winner, w, key)
		case err == nil:
			winner = w
		case errors.Is(err, delta.ErrExist):
			losers++
		default:
			other = append(other, err)
		}
	}
	if winner < 0 || losers != writers-1 {
		return fmt.Errorf("round %d: winner %d, %d ErrExist, other errors %v; want 1 winner and %d ErrExist",
			round, winner, losers, other, writers-1)
	}
	got, err := delta.ReadAll(ctx, s, key)
	if err != nil {
		return fmt.Errorf("round %d: %w", round, err)
	}
	if want := raceContent(round, winner); !bytes.Equal(got, want) {
		return fmt.Errorf("round %d: %q holds %q, want the winner's %q", round, key, got, want)
	}
	return nil
}

func raceContent(round, writer int) []byte {
	return fmt.Appendf(nil, `{"commitInfo":{"round":%d,"writer":%d}}`, round, writer)
}

func mustPut(t *testing.T, s delta.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// putAll puts every key, its own name as content, from par goroutines.
func putAll(t *testing.T, s delta.Store, keys []string, par int) {
	t.Helper()
	ch := make(chan string)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for k := range ch {
				if err := s.Put(t.Context(), k, []byte(k)); err != nil {
					t.Errorf("Put(%q): %v", k, err)
				}
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func readRange(ctx context.Context, s delta.Store, key string, offset, length int64) ([]byte, error) {
	r, err := s.ReadRange(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return b, err
}

func assertContent(t *testing.T, s delta.Store, key string, want []byte) {
	t.Helper()
	got, err := delta.ReadAll(t.Context(), s, key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAll(%q) = %q, want %q", key, got, want)
	}
}

func list(t *testing.T, s delta.Store, prefix, startAfter string) []delta.ObjectInfo {
	t.Helper()
	var out []delta.ObjectInfo
	for o, err := range s.List(t.Context(), prefix, startAfter) {
		if err != nil {
			t.Fatalf("List(%q, %q): %v", prefix, startAfter, err)
		}
		out = append(out, o)
	}
	return out
}

func listKeys(t *testing.T, s delta.Store, prefix, startAfter string) []string {
	t.Helper()
	return objKeys(list(t, s, prefix, startAfter))
}

func objKeys(objs []delta.ObjectInfo) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// drain counts the objects of a listing and returns its first error.
func drain(seq iter.Seq2[delta.ObjectInfo, error]) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// pattern returns n bytes that differ at every 4-byte boundary, so a misplaced chunk shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := 0; i+4 <= n; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	}
	return b
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func firstDiffBytes(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// createIfAbsent streams data to key with CreateIfAbsent in chunks and returns Close's error.
func createIfAbsent(ctx context.Context, s delta.Store, key string, data []byte) error {
	w, err := s.CreateIfAbsent(ctx, key)
	if err != nil {
		return err
	}
	const chunk = 64 << 10
	for off := 0; off < len(data); off += chunk {
		if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
			_ = w.Close()
			return err
		}
	}
	return w.Close()
}

func testCreateIfAbsent(t *testing.T, s delta.Store, c config) {
	ctx := t.Context()
	key := "_delta_log/00000000000000000007.checkpoint.parquet"
	first := pattern(c.largeSize)
	if err := createIfAbsent(ctx, s, key, first); err != nil {
		t.Fatalf("CreateIfAbsent(%q) of a new key: %v", key, err)
	}
	if got, err := delta.ReadAll(ctx, s, key); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("ReadAll(%q) after CreateIfAbsent: %d bytes, %v; want the %d written", key, len(got), err, len(first))
	}
	// A second, different object of the same key is refused at Close; the first stays whole.
	second := bytes.Repeat([]byte("x"), 1000)
	if err := createIfAbsent(ctx, s, key, second); !errors.Is(err, delta.ErrExist) {
		t.Errorf("CreateIfAbsent(%q) of an existing key: error = %v, want ErrExist", key, err)
	}
	if got, err := delta.ReadAll(ctx, s, key); err != nil || !bytes.Equal(got, first) {
		t.Errorf("ReadAll(%q) after a refused CreateIfAbsent: %d bytes, %v; want the first %d", key, len(got), err, len(first))
	}
	// An aborted one publishes nothing.
	actx, cancel := context.WithCancel(ctx)
	w, err := s.CreateIfAbsent(actx, "aborted.parquet")
	if err != nil {
		t.Fatalf("CreateIfAbsent: %v", err)
	}
	if _, err := w.Write(pattern(100 << 10)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cancel()
	if err := w.Close(); err == nil {
		t.Errorf("Close after cancelling the context returned nil, want an error")
	}
	if _, err := s.Stat(ctx, "aborted.parquet"); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("Stat after an aborted CreateIfAbsent: error = %v, want ErrNotFound", err)
	}
	if got := listKeys(t, s, "", ""); !slices.Equal(got, []string{key}) {
		t.Errorf("List = %q, want [%q]", got, key)
	}
}

// testCreateIfAbsentRace: writers stream different objects to one key at once; exactly one
// publishes, the others get ErrExist, and the object is the winner's, whole.
func testCreateIfAbsentRace(t *testing.T, s delta.Store, c config) {
	ctx := t.Context()
	rounds := max(c.raceRounds/20, 5)
	writers := min(c.raceWriters, 4)
	for round := range rounds {
		key := delta.CheckpointKey(int64(round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		content := func(w int) []byte { return bytes.Repeat(raceContent(round, w), 2000+w*100) }
		for w := range writers {
			wg.Go(func() {
				<-start
				errs[w] = createIfAbsent(ctx, s, key, content(w))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both published %q", round, winner, w, key)
			case err == nil:
				winner = w
			case !errors.Is(err, delta.ErrExist):
				t.Fatalf("round %d: writer %d: %v, want nil or ErrExist", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer published %q", round, key)
		}
		if got, err := delta.ReadAll(ctx, s, key); err != nil || !bytes.Equal(got, content(winner)) {
			t.Fatalf("round %d: %q holds %d bytes (%v), not the winner's %d", round, key, len(got), err, len(content(winner)))
		}
	}
}

func testReadPinned(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	key := "_delta_log/00000000000000000003.checkpoint.parquet"
	mustPut(t, s, key, []byte("first version"))
	read := func(gen string, off, n int64) (string, delta.ObjectInfo, error) {
		r, info, err := s.ReadPinned(ctx, key, gen, off, n)
		if err != nil {
			return "", info, err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), info, err
	}
	got, info, err := read("", 6, 7)
	if err != nil || got != "version" {
		t.Fatalf("ReadPinned(%q, \"\", 6, 7) = %q, %v; want \"version\"", key, got, err)
	}
	if info.Size != 13 || info.Generation == "" {
		t.Fatalf("ReadPinned info = %+v, want size 13 and a generation", info)
	}
	if st, err := s.Stat(ctx, key); err != nil || st.Generation != info.Generation {
		t.Errorf("Stat(%q).Generation = %q (%v), want ReadPinned's %q", key, st.Generation, err, info.Generation)
	}
	gen := info.Generation
	if got, _, err := read(gen, 0, 5); err != nil || got != "first" {
		t.Errorf("ReadPinned with its own generation = %q, %v; want \"first\"", got, err)
	}
	// Replaced by an object of the same size: a pinned read fails, naming the key.
	mustPut(t, s, key, []byte("other version"))
	if _, _, err := read(gen, 0, 5); !errors.Is(err, delta.ErrChanged) || !strings.Contains(err.Error(), key) {
		t.Errorf("ReadPinned of a replaced object: error = %v, want ErrChanged naming %q", err, key)
	}
	_, info2, err := read("", 0, -1)
	if err != nil || info2.Generation == gen {
		t.Errorf("ReadPinned of the new version: generation %q (the old one %q), %v", info2.Generation, gen, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(info2.Generation, 0, 5); !errors.Is(err, delta.ErrChanged) {
		t.Errorf("ReadPinned of a deleted object: error = %v, want ErrChanged", err)
	}
	if _, _, err := read("", 0, 5); !errors.Is(err, delta.ErrNotFound) || errors.Is(err, delta.ErrChanged) {
		t.Errorf("ReadPinned of a missing object, no generation: error = %v, want ErrNotFound only", err)
	}
}

// testReaderAtPinned: a ReaderAt keeps reading the object it first read; an object replaced
// (same size or not) or deleted between two reads fails with ErrChanged, never mixing bytes.
func testReaderAtPinned(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	key := "_delta_log/00000000000000000005.checkpoint.parquet"
	first := bytes.Repeat([]byte("A"), 4096)
	tests := []struct {
		name    string
		replace func() error
	}{
		{"same size", func() error { return s.Put(ctx, key, bytes.Repeat([]byte("B"), 4096)) }},
		{"other size", func() error { return s.Put(ctx, key, bytes.Repeat([]byte("B"), 5000)) }},
		{"deleted", func() error { return s.Delete(ctx, key) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPut(t, s, key, first)
			r := delta.NewReaderAt(ctx, s, key, int64(len(first)))
			buf := make([]byte, 100)
			if n, err := r.ReadAt(buf, 4096-100); err != nil || n != 100 || !bytes.Equal(buf, first[:100]) {
				t.Fatalf("first ReadAt: %d, %v", n, err)
			}
			if err := tc.replace(); err != nil {
				t.Fatal(err)
			}
			n, err := r.ReadAt(buf, 0)
			if !errors.Is(err, delta.ErrChanged) || !strings.Contains(err.Error(), key) {
				t.Errorf("ReadAt after the object was replaced: %d bytes %q, error = %v; want ErrChanged naming %q", n, buf[:n], err, key)
			}
		})
	}
	t.Run("before the first read", func(t *testing.T) {
		mustPut(t, s, key, first)
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		stale := delta.NewReaderAt(ctx, s, key, info.Size)
		pinned := delta.NewReaderAtVersion(ctx, s, info)
		mustPut(t, s, key, bytes.Repeat([]byte("B"), 3000))
		buf := make([]byte, 10)
		if _, err := stale.ReadAt(buf, 0); !errors.Is(err, delta.ErrChanged) {
			t.Errorf("ReadAt with the size of a replaced object: error = %v, want ErrChanged", err)
		}
		mustPut(t, s, key, bytes.Repeat([]byte("C"), len(first)))
		if _, err := pinned.ReadAt(buf, 0); !errors.Is(err, delta.ErrChanged) {
			t.Errorf("ReadAt pinned by Stat, object replaced at the same size: error = %v, want ErrChanged", err)
		}
	})
}

// testListTemp: whatever temporary objects a store keeps while a write is under way stay out
// of List, show in ListTemp under the prefix, and are gone once the write is aborted.
func testListTemp(t *testing.T, s delta.Store, _ config) {
	ctx := t.Context()
	mustPut(t, s, "_delta_log/00000000000000000000.json", []byte("{}"))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.CreateIfAbsent(wctx, "_delta_log/00000000000000000001.checkpoint.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(1000)); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, s, delta.LogDir, ""); !slices.Equal(got, []string{"_delta_log/00000000000000000000.json"}) {
		t.Errorf("List during a write = %q", got)
	}
	for o, err := range s.ListTemp(ctx, delta.LogDir) {
		if err != nil {
			t.Fatalf("ListTemp: %v", err)
		}
		if !strings.HasPrefix(o.Key, delta.LogDir) || o.Key == "_delta_log/00000000000000000000.json" {
			t.Errorf("ListTemp(%q) yielded %q", delta.LogDir, o.Key)
		}
	}
	cancel()
	_ = w.Close()
	if n, err := drain(s.ListTemp(ctx, delta.LogDir)); n != 0 || err != nil {
		t.Errorf("ListTemp after the write was aborted: %d objects, %v", n, err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := drain(s.ListTemp(cctx, "")); err == nil {
		t.Errorf("ListTemp with a cancelled context: no error")
	}
}
