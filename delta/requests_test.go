package delta_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// countStore counts what a Store is asked, as requests to an object store: one per read,
// stat, write and delete, and one per page of 1,000 listed keys (at least one per listing).
type countStore struct {
	delta.Store
	// fromStart makes listings read the prefix from its start, counting every key, and drop
	// those up to startAfter: what a listing costs on a server without start-after.
	fromStart bool
	mu        sync.Mutex
	reads     map[string]int // reads (ReadRange, ReadPinned) by key
	stats     int
	lists     int
	listed    int // keys listed, over all listings
	pages     int
	writes    int
}

func newCountStore(s delta.Store) *countStore {
	return &countStore{Store: s, reads: map[string]int{}}
}

func (c *countStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads, c.stats, c.lists, c.listed, c.pages, c.writes = map[string]int{}, 0, 0, 0, 0, 0
}

func (c *countStore) read(key string) {
	c.mu.Lock()
	c.reads[key]++
	c.mu.Unlock()
}

func (c *countStore) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.read(key)
	return c.Store.ReadRange(ctx, key, off, n)
}

func (c *countStore) ReadPinned(ctx context.Context, key, gen string, off, n int64) (io.ReadCloser, delta.ObjectInfo, error) {
	c.read(key)
	return c.Store.ReadPinned(ctx, key, gen, off, n)
}

func (c *countStore) Stat(ctx context.Context, key string) (delta.ObjectInfo, error) {
	c.mu.Lock()
	c.stats++
	c.mu.Unlock()
	return c.Store.Stat(ctx, key)
}

func (c *countStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[delta.ObjectInfo, error] {
	return func(yield func(delta.ObjectInfo, error) bool) {
		n := 0
		defer func() {
			c.mu.Lock()
			c.lists++
			c.listed += n
			c.pages += 1 + n/1000
			c.mu.Unlock()
		}()
		from := startAfter
		if c.fromStart {
			from = ""
		}
		for o, err := range c.Store.List(ctx, prefix, from) {
			if err == nil {
				n++
				if o.Key <= startAfter {
					continue
				}
			}
			if !yield(o, err) {
				return
			}
		}
	}
}

func (c *countStore) Put(ctx context.Context, key string, data []byte) error {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Store.Put(ctx, key, data)
}

func (c *countStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Store.PutIfAbsent(ctx, key, data)
}

// requests is the number of requests counted.
func (c *countStore) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.stats + c.pages + c.writes
	for _, r := range c.reads {
		n += r
	}
	return n
}

// report lists the reads by key, for failure messages.
func (c *countStore) report() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.reads))
	for k := range c.reads {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d listings (%d keys, %d pages), %d stats, %d writes; reads:", c.lists, c.listed, c.pages, c.stats, c.writes)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s×%d", k, c.reads[k])
	}
	return b.String()
}

// reqTable describes a table made by makeReqTable.
type reqTable struct {
	checkpoint int64    // the checkpoint's version
	cpKeys     []string // its files, sidecars included
	latest     int64
	files      int
}

// makeReqTable writes a table in s: version 0, three commits of 100 files, a checkpoint (V2
// with two sidecars, or classic), then tail commits of one file each. With crc, every version
// has its .crc, as this module's writers leave them.
func makeReqTable(t testing.TB, s delta.Store, v2, crc bool, tail int) reqTable {
	t.Helper()
	ctx := context.Background()
	spec := delta.TableSpec{Schema: delta.StructType{Fields: []delta.StructField{delta.NewField("id", "long")}}}
	if v2 {
		spec.Protocol = &delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7,
			ReaderFeatures: []string{"v2Checkpoint"}, WriterFeatures: []string{"v2Checkpoint"}}
	}
	var opts delta.TxnOptions
	if crc {
		opts.PostCommit = checkpoint.PostCommit(checkpoint.HookOptions{DisableAuto: true})
	}
	if _, err := delta.CreateTable(ctx, s, spec, opts); err != nil {
		t.Fatal(err)
	}
	files := 0
	commit := func(n int) {
		tx, err := delta.Begin(ctx, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			tx.Add(&delta.Add{Path: fmt.Sprintf("part-%05d.parquet", files), Size: 1000, DataChange: true,
				Stats: `{"numRecords":10}`})
			files++
		}
		if _, err := tx.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		commit(100)
	}
	res, err := checkpoint.Write(ctx, s, -1, checkpoint.Options{Sidecars: 2})
	if err != nil {
		t.Fatal(err)
	}
	if v2 != (res.Format == "v2") {
		t.Fatalf("checkpoint format %s", res.Format)
	}
	for range tail {
		commit(1)
	}
	return reqTable{checkpoint: res.Version, cpKeys: res.Keys, latest: res.Version + int64(tail), files: files}
}

// info opens the latest snapshot and streams its file list: what `deltactl files` and
// `deltactl info --verify` do (and what info did before it took its counts from the .crc).
func info(t testing.TB, s delta.Store) (*delta.Snapshot, int) {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return snap, n
}

// TestInfoRequests counts the requests of an open and the file list on a table with
// a checkpoint and 10 commits after it: _last_checkpoint, one listing page from the
// checkpoint on, the latest .crc, each commit of the tail once, and each checkpoint file once
// (one GET of the whole file: these are small). Without a .crc, no request asks for it.
func TestInfoRequests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v2, crc bool
	}{
		{"classic", false, true},
		{"v2", true, true},
		{"classic-nocrc", false, false},
		{"v2-nocrc", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
			tab := makeReqTable(t, cs, tc.v2, tc.crc, 10)
			cs.reset()
			snap, n := info(t, cs)
			if snap.Version() != tab.latest || n != tab.files {
				t.Fatalf("info: version %d, %d files; want %d, %d", snap.Version(), n, tab.latest, tab.files)
			}
			if tc.v2 && len(tab.cpKeys) != 3 {
				t.Fatalf("V2 checkpoint files %v, want two sidecars and the top-level file", tab.cpKeys)
			}
			// Each commit of the tail is read once for the file list; without a .crc, once more
			// before, for protocol and metadata (which then come from the checkpoint).
			perCommit, perCheckpoint := 1, 1
			if !tc.crc {
				perCommit = 2
			}
			for v := tab.checkpoint + 1; v <= tab.latest; v++ {
				if got := cs.reads[delta.CommitKey(v)]; got != perCommit {
					t.Errorf("commit %d read %d times, want %d; %s", v, got, perCommit, cs.report())
				}
			}
			for _, k := range tab.cpKeys {
				// The top-level file of a V2 checkpoint and a classic one are read again when
				// protocol and metadata come from the checkpoint.
				want := perCheckpoint
				if !tc.crc && !strings.Contains(k, "_sidecars/") {
					want = 2
				}
				if got := cs.reads[k]; got != want {
					t.Errorf("checkpoint file %s read %d times, want %d (one GET each); %s", k, got, want, cs.report())
				}
			}
			crcKey := delta.CRCKey(tab.latest)
			if got, want := cs.reads[crcKey], map[bool]int{true: 1, false: 0}[tc.crc]; got != want {
				t.Errorf("%s read %d times, want %d; %s", crcKey, got, want, cs.report())
			}
			if cs.lists != 1 || cs.stats != 0 || cs.writes != 0 {
				t.Errorf("want one listing, no stat, no write; %s", cs.report())
			}
			commitReads := perCommit * int(tab.latest-tab.checkpoint)
			others := cs.requests() - commitReads
			t.Logf("%s: %d requests: %d commit reads, %d others; %s", tc.name, cs.requests(), commitReads, others, cs.report())
			if tc.crc && others > 6 {
				t.Errorf("%d requests besides the commits of the tail, want at most 6", others)
			}
		})
	}
}

// infoCounts does what `deltactl info` does with a table: open the latest snapshot and take
// its counts (from the version's .crc when it has them all, else from the file list).
func infoCounts(t testing.TB, s delta.Store) (*delta.Snapshot, delta.Counts) {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := snap.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap, c
}

// TestInfoCountsRequests counts the requests of `deltactl info` (open, then the counts) on a
// table with a checkpoint and 10 commits after it. With this library's .crc files: at most 6
// (they are 3: _last_checkpoint, one listing page, the version's .crc, which holds protocol,
// metadata and the counts; no commit and no checkpoint is read). Without them, or with a .crc
// of another engine (no row count), the counts come from the file list, and are the same.
func TestInfoCountsRequests(t *testing.T) {
	for _, tc := range []struct {
		name         string
		v2, crc      bool
		foreign      bool // the latest .crc rewritten without this library's extension
		fromChecksum bool
	}{
		{"classic", false, true, false, true},
		{"v2", true, true, false, true},
		{"classic-foreign-crc", false, true, true, false},
		{"v2-nocrc", true, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
			tab := makeReqTable(t, cs, tc.v2, tc.crc, 10)
			if tc.foreign {
				c, ok, err := delta.ReadCRC(ctx, cs, tab.latest)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				if _, ok := c.NumRecords(tab.latest); !ok {
					t.Fatalf("the .crc of version %d has no row count", tab.latest)
				}
				c.DeltaRaster = nil
				b, _ := json.Marshal(c)
				if err := cs.Put(ctx, delta.CRCKey(tab.latest), b); err != nil {
					t.Fatal(err)
				}
			}
			cs.reset()
			snap, c := infoCounts(t, cs)
			if snap.Version() != tab.latest || c.NumFiles != int64(tab.files) || c.SizeInBytes != int64(1000*tab.files) ||
				c.NumRecords == nil || *c.NumRecords != int64(10*tab.files) {
				t.Fatalf("info: version %d, counts %+v; want %d, %d files of 1000 bytes and 10 rows", snap.Version(), c, tab.latest, tab.files)
			}
			if c.FromChecksum != tc.fromChecksum {
				t.Errorf("counts from the .crc: %v, want %v", c.FromChecksum, tc.fromChecksum)
			}
			t.Logf("%s: %d requests; %s", tc.name, cs.requests(), cs.report())
			if tc.fromChecksum && cs.requests() > 6 {
				t.Errorf("%d requests, want at most 6; %s", cs.requests(), cs.report())
			}
			if tc.fromChecksum {
				for k, n := range cs.reads {
					if k != delta.LastCheckpointKey && k != delta.CRCKey(tab.latest) {
						t.Errorf("read %s %d times: info needs only _last_checkpoint and the .crc", k, n)
					}
				}
			}
		})
	}
}

// TestListingSkipsSidecars: the listing of the log ends with the versioned files: the names of
// sidecars (left by older checkpoints until cleanup) and _last_checkpoint, which sort after
// them, are not listed.
func TestListingSkipsSidecars(t *testing.T) {
	ctx := context.Background()
	cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
	tab := makeReqTable(t, cs, true, true, 2)
	for i := range 2500 {
		if err := cs.Put(ctx, fmt.Sprintf("%s%08d-old.parquet", delta.SidecarDir, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cs.reset()
	snap, n := info(t, cs)
	if snap.Version() != tab.latest || n != tab.files {
		t.Fatalf("info: version %d, %d files; want %d, %d", snap.Version(), n, tab.latest, tab.files)
	}
	// From the checkpoint on: its file, the two commits and their .crc files, and the first
	// name after the versioned files, where the listing stops.
	if cs.lists != 1 || cs.listed > 10 {
		t.Errorf("listed %d keys in %d listings, want at most 10 in one; %s", cs.listed, cs.lists, cs.report())
	}
}

// TestRangedReadOfReplacedCheckpoint: a checkpoint larger than the whole-read limit (the limit
// is lowered to 0 here) is read by ranges, all of one version of the file: one replaced
// between two of its reads fails with ErrChanged, never mixes the two files.
func TestRangedReadOfReplacedCheckpoint(t *testing.T) {
	defer delta.SetWholeReadBytes(0)()
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "t"))
	tab := makeReqTable(t, s, false, true, 2)
	key := delta.CheckpointKey(tab.checkpoint)
	// The replacement: a checkpoint of a table with one more file, of another size.
	other := openStore(t, fmt.Sprintf("mem://requests-%d/other", memSeq.Add(1)))
	makeReqTable(t, other, false, true, 0)
	tx, err := delta.Begin(ctx, other, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.Add(&delta.Add{Path: "extra.parquet", Size: 1, DataChange: true})
	if _, err := tx.Commit(ctx, "WRITE", nil); err != nil {
		t.Fatal(err)
	}
	res, err := checkpoint.Write(ctx, other, -1, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replacement, err := delta.ReadAll(ctx, other, res.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	fst := testutil.NewFaultStore(s)
	var reads atomic.Int64
	fst.Hook = func(_ int64, op testutil.Op, k string) error {
		if op == testutil.OpReadRange && k == key && reads.Add(1) == 3 {
			if err := s.Put(ctx, key, replacement); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	snap, err := delta.Open(ctx, fst)
	if err == nil {
		for _, ferr := range snap.Files(ctx) {
			if ferr != nil {
				err = ferr
				break
			}
		}
	}
	if reads.Load() < 4 {
		t.Fatalf("the reader read %s %d times: the test replaces it before the third of several", key, reads.Load())
	}
	if !errors.Is(err, delta.ErrChanged) {
		t.Fatalf("a ranged read of a checkpoint replaced midway: error %v, want delta.ErrChanged", err)
	}
}

// fillLog writes a log of n objects before a checkpoint, in parallel: versions 0.. each with a
// commit and a .crc, and every 100th with a classic checkpoint, all copies of one small table's
// files; then the checkpoint the table is opened at, _last_checkpoint naming it, and tail
// commits after it. It returns the checkpoint's version.
func fillLog(t *testing.T, s delta.Store, n, tail int) int64 {
	t.Helper()
	ctx := context.Background()
	// A small real table gives the bytes: version 0, a checkpoint at 3, commits 4..6.
	src := openStore(t, fmt.Sprintf("mem://requests-%d/src", memSeq.Add(1)))
	tab := makeReqTable(t, src, false, true, 3)
	read := func(key string) []byte {
		b, err := delta.ReadAll(ctx, src, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	commit0, commit, crc := read(delta.CommitKey(0)), read(delta.CommitKey(tab.checkpoint+1)), read(delta.CRCKey(tab.checkpoint))
	cp := read(delta.CheckpointKey(tab.checkpoint))
	objs := map[string][]byte{}
	v := int64(0)
	for len(objs) < n {
		if v == 0 {
			objs[delta.CommitKey(0)] = commit0
		} else {
			objs[delta.CommitKey(v)] = commit
		}
		objs[delta.CRCKey(v)] = crc
		if v%100 == 0 && v > 0 && len(objs) < n {
			objs[delta.CheckpointKey(v)] = cp
		}
		v++
	}
	cpVersion := v
	objs[delta.CommitKey(cpVersion)] = commit
	objs[delta.CheckpointKey(cpVersion)] = cp
	objs[delta.CRCKey(cpVersion)] = crc
	for i := int64(1); i <= int64(tail); i++ {
		objs[delta.CommitKey(cpVersion+i)] = commit
	}
	objs[delta.LastCheckpointKey] = []byte(fmt.Sprintf(`{"version":%d,"size":%d}`, cpVersion, tab.files+2))
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	putAll(t, s, keys, objs)
	return cpVersion
}

// putAll writes objs with 32 writers.
func putAll(t testing.TB, s delta.Store, keys []string, objs map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if err := s.Put(ctx, k, objs[k]); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestOpenListingBlocks: on a store whose listings read a prefix from its start (Azure through
// gocloud), Open on a log of 20,000 objects before its checkpoint lists the blocks of versions
// from the checkpoint's on, not _delta_log from its start: at most 2 pages of 1,000 keys.
func TestOpenListingBlocks(t *testing.T) {
	cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
	cpVersion := fillLog(t, cs, 20000, 3)
	cs.reset()
	cs.fromStart = true
	snap, err := delta.Open(context.Background(), delta.WithListsFromStart(cs))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != cpVersion+3 || snap.Segment().Checkpoint == nil || snap.Segment().Checkpoint.Version != cpVersion {
		t.Fatalf("opened version %d from checkpoint %+v; want %d from %d", snap.Version(), snap.Segment().Checkpoint, cpVersion+3, cpVersion)
	}
	t.Logf("%s", cs.report())
	if cs.pages > 2 {
		t.Errorf("%d listing pages, want at most 2; %s", cs.pages, cs.report())
	}
}

// TestLogBlocksLongTail: listed in blocks of versions, a log whose tail crosses blocks of 100
// and of 1,000 versions gives the segment a listing from the checkpoint gives, at every
// version; the listing stops after the block of the newest version.
func TestLogBlocksLongTail(t *testing.T) {
	ctx := context.Background()
	cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
	// A checkpoint after 2,000 objects (version 996) and a tail of commits to 2,051.
	cpVersion := fillLog(t, cs, 2000, 1055)
	latest := cpVersion + 1055
	if latest < 2000 || cpVersion < 900 || cpVersion >= 1000 {
		t.Fatalf("checkpoint %d, latest %d: the test wants a tail from a block of 100 across the blocks of 1,000 at 1,000 and 2,000", cpVersion, latest)
	}
	cs.fromStart = true
	blocks := delta.WithListsFromStart(cs)
	for _, v := range []int64{-1, cpVersion, cpVersion + 47, 999, 1099, 1100, 1999, 2000, latest} {
		var opts []delta.SnapshotOption
		if v >= 0 {
			opts = append(opts, delta.AtVersion(v))
		}
		cs.reset()
		got, err := delta.Open(ctx, blocks, opts...)
		if err != nil {
			t.Fatalf("version %d listed in blocks: %v", v, err)
		}
		lists := cs.lists
		want, err := delta.Open(ctx, cs.Store, opts...)
		if err != nil {
			t.Fatal(err)
		}
		gs, ws := got.Segment(), want.Segment()
		// The listing ends at the first version after the one opened.
		upTo := latest
		if v >= 0 {
			upTo = min(v+1, latest)
		}
		if gs.Version != ws.Version || gs.LatestVersion != upTo || ws.LatestVersion != upTo ||
			gs.Checkpoint.Version != ws.Checkpoint.Version || len(gs.Commits) != len(ws.Commits) {
			t.Errorf("version %d: in blocks version %d (latest %d, checkpoint %d, %d commits); from the checkpoint %d (latest %d, checkpoint %d, %d commits)",
				v, gs.Version, gs.LatestVersion, gs.Checkpoint.Version, len(gs.Commits), ws.Version, ws.LatestVersion, ws.Checkpoint.Version, len(ws.Commits))
		}
		// Blocks: the 100 versions of the checkpoint's (900-999), then 1000-1999 and
		// 2000-2999, as far as the newest version listed.
		wantLists := 1
		for _, b := range []int64{1000, 2000} {
			if upTo >= b {
				wantLists++
			}
		}
		if lists != wantLists {
			t.Errorf("version %d: %d listings, want %d", v, lists, wantLists)
		}
	}
}

// TestOpenOldVersionListing: Open at a version older than the checkpoint _last_checkpoint
// names, or with a hint whose checkpoint is gone, lists a window of versions before it for a
// checkpoint, not the whole log (20,000 objects here, checkpoints every 100 versions).
func TestOpenOldVersionListing(t *testing.T) {
	ctx := context.Background()
	cs := newCountStore(openStore(t, fmt.Sprintf("mem://requests-%d/t", memSeq.Add(1))))
	cpVersion := fillLog(t, cs, 20000, 3)
	for _, tc := range []struct {
		name       string
		version    int64
		checkpoint int64
	}{
		{"at-checkpoint", 5000, 5000},
		{"after-checkpoint", 5050, 5000},
		{"before-checkpoint", 4999, 4900},
		{"hint", cpVersion + 2, cpVersion},
		{"start", 150, 100},
		{"first", 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs.reset()
			snap, err := delta.Open(ctx, cs, delta.AtVersion(tc.version))
			if err != nil {
				t.Fatal(err)
			}
			cp := int64(-1)
			if c := snap.Segment().Checkpoint; c != nil {
				cp = c.Version
			}
			if snap.Version() != tc.version || cp != tc.checkpoint {
				t.Fatalf("version %d from checkpoint %d; want %d from %d", snap.Version(), cp, tc.version, tc.checkpoint)
			}
			if cs.listed > 1000 {
				t.Errorf("listed %d keys, want at most 1,000; %s", cs.listed, cs.report())
			}
		})
	}
	t.Run("stale-hint", func(t *testing.T) {
		// The checkpoint the hint names is gone: the one 100 versions before serves.
		if err := cs.Delete(ctx, delta.CheckpointKey(cpVersion)); err != nil {
			t.Fatal(err)
		}
		cs.reset()
		snap, err := delta.Open(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		if c := snap.Segment().Checkpoint; snap.Version() != cpVersion+3 || c == nil || c.Version != cpVersion-cpVersion%100 {
			t.Fatalf("version %d from checkpoint %+v; want %d from %d", snap.Version(), c, cpVersion+3, cpVersion-cpVersion%100)
		}
		if cs.listed > 1000 {
			t.Errorf("listed %d keys, want at most 1,000; %s", cs.listed, cs.report())
		}
	})
}
