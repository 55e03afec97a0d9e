package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// crashTable builds, in a fresh local directory, a table whose latest snapshot is read through
// a checkpoint and a tail: version 0 create (stats as struct, tombstones kept one day, txns
// two days), adds, removes, app transactions, a checkpoint at 4 (V2 when v2: the upgrade is
// version 1), more commits to version 9. Commits are half a day apart, so a checkpoint at the
// end drops some tombstones and txns. It returns the directory and the clock, at the last
// commit.
func crashTable(t *testing.T, v2 bool, parted bool) (string, *testClock) {
	t.Helper()
	ctx := context.Background()
	dir := newDir(t)
	s := openDir(t, dir)
	clock := newTestClock(epoch)
	opts := delta.TxnOptions{Now: clock.Now}
	spec := delta.TableSpec{Schema: tableSchema(parted), Configuration: map[string]string{
		"delta.checkpoint.writeStatsAsStruct":   "true",
		"delta.deletedFileRetentionDuration":    "interval 1 day",
		"delta.setTransactionRetentionDuration": "interval 2 days",
	}}
	var part *string
	if parted {
		spec.PartitionColumns = []string{"part"}
		p := "p1"
		part = &p
	}
	if _, err := delta.CreateTable(ctx, s, spec, opts); err != nil {
		t.Fatal(err)
	}
	var live []*delta.Add
	n := 0
	for v := int64(1); v <= 9; v++ {
		clock.Advance(12 * time.Hour)
		if v == 1 && v2 {
			if _, err := checkpoint.EnableV2(ctx, s, opts); err != nil {
				t.Fatal(err)
			}
			continue
		}
		commit(t, s, opts, func(tx *delta.Txn) {
			for range 4 {
				n++
				a := newAdd(fmt.Sprintf("f-%03d.parquet", n), int64(1000+n), clock.Now(), part)
				tx.Add(a)
				live = append(live, a)
			}
			if v%2 == 0 {
				tx.Remove(removeOf(live[0]))
				live = live[1:]
			}
			tx.SetAppTransaction(fmt.Sprintf("app-%d", v%3), v)
		})
		if v == 4 {
			if _, err := checkpoint.Write(ctx, s, 4, checkpoint.Options{Now: clock.Now, Sidecars: 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, clock
}

// logSnapshot describes every file under dir/_delta_log (temporaries included): name, size
// and, for _last_checkpoint, the content. Equal snapshots mean nothing was published.
func logSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	root := filepath.Join(dir, "_delta_log")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d\n", p[len(root):], info.Size())
		if d.Name() == "_last_checkpoint" {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.Write(c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// leftoverTemps lists the hidden temporary files of the local store under dir.
func leftoverTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".deltaraster-") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unreferencedSidecars lists the sidecars no checkpoint file in the log names.
func unreferencedSidecars(t *testing.T, ctx context.Context, s delta.Store) []string {
	t.Helper()
	referenced := map[string]bool{}
	var sidecars []string
	for o, err := range s.List(ctx, delta.LogDir, "") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(o.Key, delta.SidecarDir) {
			sidecars = append(sidecars, strings.TrimPrefix(o.Key, delta.SidecarDir))
			continue
		}
		if f, ok := delta.ParseLogKey(o.Key); ok && f.IsCheckpoint() {
			names, err := delta.SidecarsOf(ctx, s, o)
			if err != nil {
				t.Fatalf("sidecars of %s: %v", o.Key, err)
			}
			for _, n := range names {
				referenced[n] = true
			}
		}
	}
	var out []string
	for _, n := range sidecars {
		if !referenced[n] {
			out = append(out, n)
		}
	}
	return out
}

// tolerated reports whether a single failed operation may be absorbed without an error: a
// read of an optional file (the _last_checkpoint hint, a .crc), or a listing (Open lists again
// from version 0 when the listing from the hint fails). The sweeps then require the run to
// have completed exactly as an undisturbed one.
func tolerated(op testutil.Op, key string) bool {
	if op == testutil.OpList {
		return true
	}
	optional := key == delta.LastCheckpointKey || strings.HasSuffix(key, ".crc")
	return optional && (op == testutil.OpReadRange || op == testutil.OpStat)
}

const maxFaultOps = 5000 // a run that never ends is a failure, not a hang

// TestWriteFaultAtEveryOp fails the store operations of checkpoint.Write one at a time, i = 0,
// 1, 2, ... until a run completes without reaching operation i. For every i: the error surfaces
// (wrapping testutil.ErrInjected); the table reopens with the plain store at the same version,
// with the same files, txns, protocol and metadata, and tombstones either as before or as the
// checkpoint keeps them; nothing temporary is left behind; without crash mode a failed V2
// write leaves no unreferenced sidecar; and a retry on the plain store succeeds.
func TestWriteFaultAtEveryOp(t *testing.T) {
	cases := []struct {
		name  string
		v2    bool
		opts  checkpoint.Options
		crash bool
	}{
		{"classic", false, checkpoint.Options{BatchRows: 3}, true},
		{"v2/one-sidecar", true, checkpoint.Options{BatchRows: 5, Sidecars: 1}, true},
		{"v2/three-sidecars", true, checkpoint.Options{BatchRows: 2, Sidecars: 3}, true},
		{"v2/three-sidecars/row-group-per-batch", true, checkpoint.Options{BatchRows: 2, Sidecars: 3, RowGroupBytes: 1}, false},
	}
	for _, tc := range cases {
		{
			crash := tc.crash
			t.Run(fmt.Sprintf("%s/crash=%v", tc.name, crash), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				base, clock := crashTable(t, tc.v2, tc.name == "classic")
				clock.Advance(time.Hour)
				opts := tc.opts
				opts.Now = clock.Now
				before := observeAt(t, ctx, openDir(t, base), -1)
				// A clean run gives the state the checkpoint keeps.
				clean := testutil.CopyTable(t, base)
				cs := openDir(t, clean)
				want, err := checkpoint.Write(ctx, cs, -1, opts)
				if err != nil {
					t.Fatal(err)
				}
				after := observeAt(t, ctx, cs, -1)
				if d := diffObserved(after, before); d == "" {
					t.Fatal("test table: the checkpoint drops nothing, so the test cannot tell the states apart")
				}
				if wantFormat := map[bool]string{true: "v2", false: "classic"}[tc.v2]; want.Format != wantFormat {
					t.Fatalf("format %s, want %s", want.Format, wantFormat)
				}
				baseLog := logSnapshot(t, base)
				i := int64(0)
				for ; i < maxFaultOps; i++ {
					dir := testutil.CopyTable(t, base)
					plain := openDir(t, dir)
					fst := testutil.NewFaultStore(plain)
					fst.FailAt(i, crash)
					fst.WriteBuffer(2048)
					_, err := checkpoint.Write(ctx, fst, -1, opts)
					hit, op, key := fst.Hit()
					if !hit {
						if err != nil {
							t.Fatalf("no fault injected (%d operations), yet: %v", fst.Ops(), err)
						}
						break
					}
					what := fmt.Sprintf("fault at operation %d (%s %s)", i, op, key)
					switch {
					case err == nil && !crash && tolerated(op, key):
						// Tolerated only when the run completed anyway.
						if d := diffObserved(observeAt(t, ctx, plain, -1), after); d != "" {
							t.Errorf("%s: checkpoint.Write returned nil, but the table is not checkpointed: %s", what, d)
						}
					case err == nil:
						t.Errorf("%s: checkpoint.Write returned nil", what)
					case !errors.Is(err, testutil.ErrInjected):
						t.Errorf("%s: error does not wrap the injected fault: %v", what, err)
					}
					if tmp := leftoverTemps(t, dir); len(tmp) > 0 {
						t.Errorf("%s: temporary files left: %v", what, tmp)
					}
					if logSnapshot(t, dir) == baseLog {
						// Nothing was published or changed: the table is the one checked
						// above, and a retry is the clean run.
						if t.Failed() {
							return
						}
						continue
					}
					// Files, protocol and metadata as before; tombstones and txns as before or
					// as the checkpoint keeps them.
					got := observeAt(t, ctx, plain, -1)
					if d1, d2 := diffObserved(got, before), diffObserved(got, after); d1 != "" && d2 != "" {
						t.Fatalf("%s: reopened table differs from before (%s) and from the checkpointed state (%s)", what, d1, d2)
					}
					if !crash {
						if orphans := unreferencedSidecars(t, ctx, plain); len(orphans) > 0 {
							t.Errorf("%s: the failed write left unreferenced sidecars %v", what, orphans)
						}
					}
					if _, err := checkpoint.Write(ctx, plain, -1, opts); err != nil {
						t.Fatalf("%s: retry on the plain store: %v", what, err)
					}
					if d := diffObserved(observeAt(t, ctx, plain, -1), after); d != "" {
						t.Fatalf("%s: after the retry: %s", what, d)
					}
					if t.Failed() {
						return
					}
				}
				if i == maxFaultOps {
					t.Fatalf("checkpoint.Write still reaches operation %d", i)
				}
				t.Logf("%d operations", i)
			})
		}
	}
}

// cleanupTable is crashTable plus checkpoints at 7 (and, for V2, an orphan sidecar): the
// newest checkpoint at or before the cutoff is 7, and versions 8 and 9 follow it.
func cleanupTable(t *testing.T, v2 bool) string {
	t.Helper()
	ctx := context.Background()
	dir, clock := crashTable(t, v2, false)
	s := openDir(t, dir)
	if _, err := checkpoint.Write(ctx, s, 7, checkpoint.Options{Now: clock.Now, Sidecars: 2}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCleanupFaultAtEveryOp does the same for checkpoint.CleanupMetadata with a clock far in
// the future and a one-day retention (so it deletes every log file before the checkpoint at
// 7): the error surfaces, the table reopens at the same version with the same state, every
// version from the kept checkpoint on opens with the state it had, and a retry completes the
// cleanup exactly as an undisturbed run does.
func TestCleanupFaultAtEveryOp(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		for _, mode := range []struct {
			crash     bool
			listAfter int // objects a failed listing yields before its error
		}{{true, 0}, {false, 3}} {
			crash, listAfter := mode.crash, mode.listAfter
			{
				t.Run(fmt.Sprintf("v2=%v/crash=%v/list-fails-after=%d", v2, crash, listAfter), func(t *testing.T) {
					t.Parallel()
					ctx := context.Background()
					base := cleanupTable(t, v2)
					bs := openDir(t, base)
					latest := observeAt(t, ctx, bs, -1).st.Version
					states := map[int64]observed{}
					for v := int64(0); v <= latest; v++ {
						states[v] = observeAt(t, ctx, bs, v)
					}
					now := func() time.Time { return time.Now().AddDate(3, 0, 0) }
					o := checkpoint.CleanupOptions{Now: now, Retention: 24 * time.Hour}
					clean := testutil.CopyTable(t, base)
					cs := openDir(t, clean)
					want, err := checkpoint.CleanupMetadata(ctx, cs, o)
					if err != nil {
						t.Fatal(err)
					}
					if want.KeptCheckpoint != 7 || len(want.Deleted) == 0 {
						t.Fatalf("clean run kept checkpoint %d and deleted %v; want 7 and some files", want.KeptCheckpoint, want.Deleted)
					}
					wantKeys := listLog(t, ctx, cs)
					baseLog := logSnapshot(t, base)
					i := int64(0)
					for ; i < maxFaultOps; i++ {
						dir := testutil.CopyTable(t, base)
						plain := openDir(t, dir)
						fst := testutil.NewFaultStore(plain)
						fst.FailAt(i, crash)
						fst.ListFailAfter(listAfter)
						_, err := checkpoint.CleanupMetadata(ctx, fst, o)
						hit, op, key := fst.Hit()
						if !hit {
							if err != nil {
								t.Fatalf("no fault injected (%d operations), yet: %v", fst.Ops(), err)
							}
							break
						}
						what := fmt.Sprintf("fault at operation %d (%s %s)", i, op, key)
						switch {
						case err == nil && !crash && tolerated(op, key):
							// Tolerated only when the run completed anyway.
							if got := listLog(t, ctx, plain); !slices.Equal(got, wantKeys) {
								t.Errorf("%s: CleanupMetadata returned nil, but the log holds\n  %v\nwant\n  %v", what, got, wantKeys)
							}
						case err == nil:
							t.Errorf("%s: CleanupMetadata returned nil", what)
						case !errors.Is(err, testutil.ErrInjected):
							t.Errorf("%s: error does not wrap the injected fault: %v", what, err)
						}
						if logSnapshot(t, dir) == baseLog {
							if t.Failed() {
								return
							}
							continue // nothing deleted: the table checked above
						}
						for v := want.KeptCheckpoint; v <= latest; v++ {
							if d := diffObserved(observeAt(t, ctx, plain, v), states[v]); d != "" {
								t.Fatalf("%s: version %d: %s", what, v, d)
							}
						}
						if d := diffObserved(observeAt(t, ctx, plain, -1), states[latest]); d != "" {
							t.Fatalf("%s: latest: %s", what, d)
						}
						if _, err := checkpoint.CleanupMetadata(ctx, plain, o); err != nil {
							t.Fatalf("%s: retry on the plain store: %v", what, err)
						}
						if got := listLog(t, ctx, plain); !slices.Equal(got, wantKeys) {
							t.Fatalf("%s: after the retry the log holds\n  %v\nwant\n  %v", what, got, wantKeys)
						}
						if t.Failed() {
							return
						}
					}
					if i == maxFaultOps {
						t.Fatalf("CleanupMetadata still reaches operation %d", i)
					}
					t.Logf("%d operations", i)
				})
			}
		}
	}
}

// TestRacingCheckpointers runs several checkpoint.Write calls for one version at once, with
// readers opening the table all the while: every writer succeeds, no reader fails, and
// afterwards every reader sees the state replay gives, at every version.
func TestRacingCheckpointers(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			ctx := context.Background()
			dir, _ := crashTable(t, v2, true)
			s := openDir(t, dir)
			latest := observeAt(t, ctx, s, -1).st.Version
			// A clock before every deletion: the checkpoints drop nothing, so every state a
			// reader may meet is the same.
			old := func() time.Time { return epoch }
			states := map[int64]observed{}
			for v := int64(0); v <= latest; v++ {
				states[v] = observeAt(t, ctx, s, v)
			}
			const writers = 6
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for r := range 2 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					rs, err := delta.OpenStore(ctx, dir)
					if err != nil {
						errs <- err
						return
					}
					defer rs.Close()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						v := latest - int64(n+r)%3
						snap, err := delta.Open(ctx, rs, delta.AtVersion(v))
						if err != nil {
							errs <- fmt.Errorf("reader during the race, version %d: %w", v, err)
							return
						}
						for _, err := range snap.Files(ctx) {
							if err != nil {
								errs <- fmt.Errorf("reader during the race, files at %d: %w", v, err)
								return
							}
						}
					}
				}()
			}
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := checkpoint.Options{Now: old, BatchRows: 1 + w, Sidecars: 1 + w%3}
					if _, err := checkpoint.Write(ctx, s, latest, o); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
					}
				}()
			}
			wg.Wait()
			close(stop)
			readers.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			fresh := openDir(t, dir)
			snap, err := delta.Open(ctx, fresh)
			if err != nil {
				t.Fatal(err)
			}
			if cp := snap.Segment().Checkpoint; cp == nil || cp.Version != latest {
				t.Fatalf("latest snapshot not read through the checkpoint at %d: %+v", latest, snap.Segment())
			}
			for v := int64(0); v <= latest; v++ {
				if d := diffObserved(observeAt(t, ctx, fresh, v), states[v]); d != "" {
					t.Errorf("version %d after the race: %s", v, d)
				}
			}
			if lc, ok := readHint(t, ctx, fresh); !ok || lc.Version != latest {
				t.Errorf("_last_checkpoint names %d (present %v), want %d", lc.Version, ok, latest)
			}
		})
	}
}

// TestReaderMeetsSecondCheckpointer: a reader is reading the classic checkpoint at v when
// another checkpointer, with a later clock (so it would drop tombstones the first kept), is
// asked for the checkpoint of v again. That checkpoint is never rewritten (Existing): the
// reader finishes on the file it started, with the state it describes.
func TestReaderMeetsSecondCheckpointer(t *testing.T) {
	ctx := context.Background()
	dir, clock := crashTable(t, false, false)
	s := openDir(t, dir)
	latest := observeAt(t, ctx, s, -1).st.Version
	if _, err := checkpoint.Write(ctx, s, latest, checkpoint.Options{Now: func() time.Time { return epoch }}); err != nil {
		t.Fatal(err)
	}
	want := observeAt(t, ctx, s, -1)
	fst := testutil.NewFaultStore(openDir(t, dir))
	var once sync.Once
	var second checkpoint.Result
	fst.Hook = func(_ int64, op testutil.Op, key string) error {
		if op == testutil.OpReadRange && key == delta.CheckpointKey(latest) {
			once.Do(func() {
				clock.Advance(72 * time.Hour)
				var err error
				if second, err = checkpoint.Write(ctx, s, latest, checkpoint.Options{Now: clock.Now}); err != nil {
					t.Errorf("second checkpointer: %v", err)
				}
			})
		}
		return nil
	}
	snap, err := delta.Open(ctx, fst)
	if err != nil {
		t.Fatalf("a reader meeting a second checkpointer: open: %v", err)
	}
	for _, err := range snap.FileActions(ctx) {
		if err != nil {
			t.Fatalf("a reader meeting a second checkpointer: files: %v", err)
		}
	}
	if !second.Existing {
		t.Fatalf("the second checkpointer rewrote the checkpoint of version %d: %+v", latest, second)
	}
	if d := diffObserved(observe(t, ctx, snap), want); d != "" {
		t.Fatalf("state: %s", d)
	}
}

// TestLastCheckpointNeverMovesBack: a checkpoint of an older version, written after a newer
// one, leaves _last_checkpoint on the newer one.
func TestLastCheckpointNeverMovesBack(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			ctx := context.Background()
			dir, clock := crashTable(t, v2, false)
			s := openDir(t, dir)
			o := checkpoint.Options{Now: clock.Now}
			if _, err := checkpoint.Write(ctx, s, 9, o); err != nil {
				t.Fatal(err)
			}
			if _, err := checkpoint.Write(ctx, s, 6, o); err != nil {
				t.Fatal(err)
			}
			if lc, ok := readHint(t, ctx, s); !ok || lc.Version != 9 {
				t.Fatalf("_last_checkpoint names %d (present %v) after a later checkpoint of 6; want 9", lc.Version, ok)
			}
			snap, err := delta.Open(ctx, s)
			if err != nil || snap.Segment().Checkpoint == nil || snap.Segment().Checkpoint.Version != 9 {
				t.Fatalf("open: %v, segment %+v", err, snap.Segment())
			}
		})
	}
}

// writeV2Goroutines counts the goroutines running inside checkpoint.writeV2.
func writeV2Goroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), "created by github.com/deltaraster/deltaraster/checkpoint.writeV2")
}

// bigV2Table is a V2 table with files enough for many batches: version 0 create, 1 the
// upgrade, 2 adds n files whose stats carry pad bytes more (so Parquet pages fill and row
// groups are cut while the list streams), a checkpoint of 2 (so a later checkpoint streams
// the file list from Parquet, batch by batch), 3 adds one more file.
func bigV2Table(t *testing.T, n, pad int) (delta.Store, *testClock) {
	t.Helper()
	ctx := context.Background()
	s := openDir(t, newDir(t))
	clock := newTestClock(epoch)
	opts := delta.TxnOptions{Now: clock.Now}
	if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: tableSchema(false)}, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.EnableV2(ctx, s, opts); err != nil {
		t.Fatal(err)
	}
	commit(t, s, opts, func(tx *delta.Txn) {
		for i := range n {
			a := newAdd(fmt.Sprintf("f-%05d.parquet", i), int64(1000+i), clock.Now(), nil)
			a.Stats = fmt.Sprintf(`{"numRecords":%d,"minValues":{"name":"%s%d"}}`, i, strings.Repeat("x", pad), i)
			tx.Add(a)
		}
	})
	if _, err := checkpoint.Write(ctx, s, -1, checkpoint.Options{Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	commit(t, s, opts, func(tx *delta.Txn) { tx.Add(newAdd("last.parquet", 1, clock.Now(), nil)) })
	return s, clock
}

// TestWriteV2SidecarCreateFails: the second of three sidecars cannot be created. The error
// surfaces and no goroutine of the writer outlives the call (the first sidecar's encoder
// must be stopped too).
func TestWriteV2SidecarCreateFails(t *testing.T) {
	ctx := context.Background()
	s, clock := bigV2Table(t, 300, 0)
	fst := testutil.NewFaultStore(s)
	var creates atomic.Int32
	fst.Hook = func(_ int64, op testutil.Op, key string) error {
		if op == testutil.OpCreate && strings.HasPrefix(key, delta.SidecarDir) && creates.Add(1) == 2 {
			return testutil.ErrInjected
		}
		return nil
	}
	before := writeV2Goroutines()
	_, err := checkpoint.Write(ctx, fst, -1, checkpoint.Options{Now: clock.Now, Sidecars: 3})
	if !errors.Is(err, testutil.ErrInjected) {
		t.Fatalf("error %v, want the injected fault", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for writeV2Goroutines() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := writeV2Goroutines() - before; n > 0 {
		t.Fatalf("%d goroutines of checkpoint.writeV2 still running after Write returned", n)
	}
}

// TestWriteV2SidecarWriteFailsMidStream: a sidecar's store writer fails while the file list
// is still streaming (stats large enough that pages fill and row groups are cut mid-stream).
// Write must return that failure, not the cancellation it causes in the stream, and leave no
// unreferenced sidecar behind.
func TestWriteV2SidecarWriteFailsMidStream(t *testing.T) {
	ctx := context.Background()
	s, clock := bigV2Table(t, 2000, 2000)
	fst := testutil.NewFaultStore(s)
	var mu sync.Mutex
	var streamed atomic.Int64
	failedAt := int64(-1) // files streamed when the fault fired
	writes := map[string]int{}
	fst.Hook = func(_ int64, op testutil.Op, key string) error {
		if op != testutil.OpWrite || !strings.HasPrefix(key, delta.SidecarDir) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		writes[key]++
		if writes[key] == 2 && failedAt < 0 {
			failedAt = streamed.Load()
			return testutil.ErrInjected // a sidecar's first write after the magic number
		}
		return nil
	}
	o := checkpoint.Options{Now: clock.Now, Sidecars: 2, BatchRows: 16, RowGroupBytes: 1,
		Progress: func(files int64) { streamed.Store(files) }}
	_, err := checkpoint.Write(ctx, fst, -1, o)
	if failedAt < 0 || failedAt >= 2000 {
		// Without this the test would pass for the wrong reason.
		t.Fatalf("test setup: the fault came after the whole list was streamed (%d files)", failedAt)
	}
	if !errors.Is(err, testutil.ErrInjected) {
		t.Errorf("error %v, want the injected fault", err)
	}
	if orphans := unreferencedSidecars(t, ctx, s); len(orphans) > 0 {
		t.Errorf("unreferenced sidecars left: %v", orphans)
	}
	if snap, err := delta.Open(ctx, s); err != nil || snap.Segment().Checkpoint.Version != 2 {
		t.Errorf("after the failed checkpoint: open %v, segment %+v", err, snap.Segment())
	}
}
