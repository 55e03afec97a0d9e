package delta_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// The error-injection sweeps: every store operation of an operation fails in turn (i = 0, 1,
// 2, ... until a run no longer reaches operation i), once with only that operation failing and
// once as if the process died there (every later operation fails too). After each run: the
// failure surfaced as an error (or the operation tolerated it and its result is whole), the
// table reads with a clean store and holds everything committed before, and a retry by the
// caller with the clean store ends in the expected state, with nothing committed twice.

// maxSweepOps bounds a sweep: an operation that never stops making store calls fails the test.
const maxSweepOps = 5000

// sweepRun describes the run that had operation i fail, for messages.
type sweepRun struct {
	i     int64
	crash bool
	lose  bool
	hit   bool
	op    testutil.Op
	key   string
}

// mode names the fault mode: single or crash, with "answer lost" when the failing write lands.
func (r sweepRun) mode() string {
	m := "single"
	if r.crash {
		m = "crash"
	}
	if r.lose {
		m += ", answer lost"
	}
	return m
}

func (r sweepRun) String() string {
	if !r.hit {
		return fmt.Sprintf("run %d (no fault reached)", r.i)
	}
	return fmt.Sprintf("run %d (%s fault at %s %s)", r.i, r.mode(), r.op, r.key)
}

// isInjected reports whether err carries the injected fault: wrapped, or in the message of an
// error that reports it with %v beside a sentinel of its own (a commit whose outcome is unknown).
func isInjected(err error) bool {
	return errors.Is(err, testutil.ErrInjected) || strings.Contains(err.Error(), testutil.ErrInjected.Error())
}

// sweep runs op against a FaultStore over prepare's fresh store with operation i failing, for
// i = 0, 1, 2, ..., in both fault modes, and calls check after each run with the clean store.
// With writes, it sweeps twice more with a failing mutation landing before its error (a put
// whose answer was lost: the outcome the caller cannot know).
//
// op calls arm when the operations to sweep begin (what it does before is not swept).
func sweep(t *testing.T, listFailAfter int, writes bool, prepare func(t *testing.T) delta.Store,
	op func(ctx context.Context, s *testutil.FaultStore, arm func()) error,
	check func(t *testing.T, r sweepRun, clean delta.Store, err error)) {
	t.Helper()
	modes := []sweepRun{{}, {crash: true}}
	if writes {
		modes = append(modes, sweepRun{lose: true}, sweepRun{crash: true, lose: true})
	}
	for _, mode := range modes {
		t.Run(mode.mode(), func(t *testing.T) { sweepMode(t, mode, listFailAfter, prepare, op, check) })
	}
}

// sweepMode is one mode of sweep.
func sweepMode(t *testing.T, mode sweepRun, listFailAfter int, prepare func(t *testing.T) delta.Store,
	op func(ctx context.Context, s *testutil.FaultStore, arm func()) error,
	check func(t *testing.T, r sweepRun, clean delta.Store, err error)) {
	t.Helper()
	ctx := context.Background()
	runs := int64(0)
	for i := int64(0); ; i++ {
		if i > maxSweepOps {
			t.Fatalf("still reaching operation %d: the operation does not end", i)
		}
		clean := prepare(t)
		fs := testutil.NewFaultStore(clean)
		fs.WriteBuffer(64 << 10)
		fs.ListFailAfter(listFailAfter)
		fs.LoseAnswer(mode.lose)
		err := op(ctx, fs, func() { fs.Reset(); fs.FailAt(i, mode.crash) })
		r := sweepRun{i: i, crash: mode.crash, lose: mode.lose}
		r.hit, r.op, r.key = fs.Hit()
		if !r.hit && err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		if r.hit && err != nil && !isInjected(err) {
			t.Errorf("%v: the error does not report the fault: %v", r, err)
		}
		check(t, r, clean, err)
		if t.Failed() {
			t.FailNow()
		}
		if !r.hit {
			break
		}
		runs++
	}
	t.Logf("%d runs with a fault", runs)
	if runs == 0 {
		t.Fatal("the operation made no store call")
	}
}

// reportsLanded reports whether the error of an operation whose commit landed says so: the
// commit stands and only the work after it failed (delta.ErrAfterCommit), or the outcome
// is unknown (delta.ErrCommitUnknown). A plain error for a commit that landed tells the
// caller nothing was written: a caller that then deletes the files it wrote breaks the table.
func reportsLanded(err error) bool {
	return errors.Is(err, delta.ErrAfterCommit) || errors.Is(err, delta.ErrCommitUnknown)
}

// tableState is what a clean reader sees of a table.
type tableState struct {
	version int64
	files   map[string]bool
	appVer  int64
}

// readState opens the table with the clean store and lists it; any error fails the test.
func readState(t *testing.T, r sweepRun, s delta.Store, appID string) tableState {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatalf("%v: the table does not open with a clean store: %v", r, err)
	}
	st := tableState{version: snap.Version(), files: map[string]bool{}}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatalf("%v: the files do not list with a clean store: %v", r, err)
		}
		if st.files[a.Path] {
			t.Fatalf("%v: file %s listed twice", r, a.Path)
		}
		st.files[a.Path] = true
	}
	if st.appVer, err = snap.AppTransactionVersion(ctx, appID); err != nil {
		t.Fatalf("%v: app transactions do not read with a clean store: %v", r, err)
	}
	return st
}

func injectSpec() delta.TableSpec {
	return delta.TableSpec{
		Name: "inject", Description: "error injection",
		Schema:           delta.StructType{Fields: []delta.StructField{delta.NewField("id", "long"), delta.NewField("part", "string")}},
		PartitionColumns: []string{"part"},
	}
}

func injectAdd(name string) *delta.Add {
	part := "p" + name[:1]
	return &delta.Add{Path: "part=" + part + "/" + name + ".parquet", PartitionValues: delta.PartitionValues{"part": &part},
		Size: 100, ModificationTime: 1_700_000_000_000, DataChange: true, Stats: `{"numRecords":1}`}
}

func injectRemove(a *delta.Add) *delta.Remove {
	size, ext := a.Size, true
	return &delta.Remove{Path: a.Path, DataChange: true, ExtendedFileMetadata: &ext, PartitionValues: a.PartitionValues, Size: &size}
}

// hookOptions checkpoints every third version, so that the swept commit (version 6) writes a
// .crc and a classic checkpoint after it lands.
func hookOptions() delta.TxnOptions {
	return delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{Interval: 3})}
}

// buildInjectTable writes, with this package's own writer: version 0 (create), versions 1-5
// adding files a0..e2 (three each) and removing one older file each from version 2 on, a
// classic checkpoint at version 3 (a segment of checkpoint + two commits), .crc files. It
// returns the live files.
func buildInjectTable(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := delta.CreateTable(ctx, s, injectSpec(), hookOptions()); err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for v, c := range "abcde" {
		txn, err := delta.Begin(ctx, s, hookOptions())
		if err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			a := injectAdd(fmt.Sprintf("%c%d", c, j))
			txn.Add(a)
			live[a.Path] = true
		}
		if v > 0 {
			old := injectAdd(fmt.Sprintf("%c%d", "abcde"[v-1], 0))
			txn.Remove(injectRemove(old))
			delete(live, old.Path)
		}
		if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := delta.Open(ctx, s); err != nil {
		t.Fatal(err)
	}
	return live
}

// fixture is a table made once and copied for each run that writes to it.
func fixture(t *testing.T) (string, map[string]bool) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "table")
	live := buildInjectTable(t, dir)
	ctx := context.Background()
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Segment().Checkpoint == nil || snap.Version() != 5 {
		t.Fatalf("fixture at version %d, checkpoint %v: want version 5 read from a checkpoint", snap.Version(), snap.Segment().Checkpoint)
	}
	return dir, live
}

func localStore(t *testing.T, dir string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// commitsOf counts the commits after version from that set app transaction appID.
func commitsOf(t *testing.T, r sweepRun, s delta.Store, from, to int64, appID string) int {
	t.Helper()
	n := 0
	for v := from + 1; v <= to; v++ {
		err := delta.ReadCommitActions(context.Background(), s, v, func(a delta.Action) error {
			if a.Txn != nil && a.Txn.AppID == appID {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v: read commit %d: %v", r, v, err)
		}
	}
	return n
}

// TestInjectCommit sweeps Begin + Commit (with the post-commit .crc and checkpoint) of a
// transaction that adds two files, removes one and sets an app transaction. The caller's retry
// is the exactly-once one: read the app transaction's version, commit again only when absent.
func TestInjectCommit(t *testing.T) {
	dir, before := fixture(t)
	const appID = "inject-commit"
	adds := []*delta.Add{injectAdd("x0"), injectAdd("x1")}
	gone := injectAdd("e1")
	after := maps.Clone(before)
	delete(after, gone.Path)
	for _, a := range adds {
		after[a.Path] = true
	}
	commit := func(ctx context.Context, s delta.Store) error {
		txn, err := delta.Begin(ctx, s, hookOptions())
		if err != nil {
			return err
		}
		for _, a := range adds {
			c := *a
			txn.Add(&c)
		}
		txn.Remove(injectRemove(gone))
		txn.SetAppTransaction(appID, 1)
		_, err = txn.Commit(ctx, "WRITE", nil)
		return err
	}
	sweep(t, 0, true, func(t *testing.T) delta.Store { return localStore(t, testutil.CopyTable(t, dir)) },
		func(ctx context.Context, s *testutil.FaultStore, arm func()) error { arm(); return commit(ctx, s) },
		func(t *testing.T, r sweepRun, clean delta.Store, err error) {
			st := readState(t, r, clean, appID)
			switch {
			case st.version == 5 && maps.Equal(st.files, before) && st.appVer == -1:
				if err == nil {
					t.Fatalf("%v: Commit returned no error and committed nothing", r)
				}
			case st.version == 6 && maps.Equal(st.files, after) && st.appVer == 1:
				if err != nil && !reportsLanded(err) {
					t.Fatalf("%v: the commit landed, and Commit returned %v", r, err)
				}
			default:
				t.Fatalf("%v (err %v): version %d, app version %d, files %v: neither the table before nor after the commit",
					r, err, st.version, st.appVer, slices.Sorted(maps.Keys(st.files)))
			}
			if st.appVer != 1 {
				if err := commit(context.Background(), clean); err != nil {
					t.Fatalf("%v: the retry failed: %v", r, err)
				}
			}
			st = readState(t, r, clean, appID)
			if st.version != 6 || !maps.Equal(st.files, after) || st.appVer != 1 {
				t.Fatalf("%v: after the retry: version %d, app version %d, files %v", r, st.version, st.appVer, slices.Sorted(maps.Keys(st.files)))
			}
			if n := commitsOf(t, r, clean, 5, st.version, appID); n != 1 {
				t.Fatalf("%v: the transaction is in %d commits, want 1", r, n)
			}
		})
}

// TestInjectCreateTable sweeps CreateTable (with the .crc of version 0). A retry that finds
// the table made by the failed call takes it (ErrTableExists, and the table is this spec's).
func TestInjectCreateTable(t *testing.T) {
	spec := injectSpec()
	sweep(t, 0, true, func(t *testing.T) delta.Store { return localStore(t, filepath.Join(t.TempDir(), "table")) },
		func(ctx context.Context, s *testutil.FaultStore, arm func()) error {
			arm()
			_, err := delta.CreateTable(ctx, s, spec, hookOptions())
			return err
		},
		func(t *testing.T, r sweepRun, clean delta.Store, err error) {
			ctx := context.Background()
			_, oerr := delta.Open(ctx, clean)
			existed := oerr == nil
			switch {
			case errors.Is(oerr, delta.ErrNotATable):
				if err == nil {
					t.Fatalf("%v: CreateTable returned no error and there is no table", r)
				}
			case oerr != nil:
				t.Fatalf("%v: the table does not open with a clean store: %v", r, oerr)
			case err != nil && !reportsLanded(err) && !errors.Is(err, delta.ErrTableExists):
				t.Fatalf("%v: the table was created, and CreateTable returned %v", r, err)
			}
			_, cerr := delta.CreateTable(ctx, clean, spec, hookOptions())
			switch {
			case existed && !errors.Is(cerr, delta.ErrTableExists):
				t.Fatalf("%v: the retry over an existing table: %v, want ErrTableExists", r, cerr)
			case !existed && cerr != nil:
				t.Fatalf("%v: the retry failed: %v", r, cerr)
			}
			snap, err := delta.Open(ctx, clean)
			if err != nil {
				t.Fatalf("%v: %v", r, err)
			}
			m := snap.Metadata()
			if snap.Version() != 0 || m.Name != spec.Name || m.SchemaString != spec.Schema.String() || !slices.Equal(m.PartitionColumns, spec.PartitionColumns) {
				t.Fatalf("%v: after the retry: version %d, metadata %+v", r, snap.Version(), m)
			}
			st := readState(t, r, clean, "none")
			if len(st.files) != 0 {
				t.Fatalf("%v: a new table with files %v", r, st.files)
			}
		})
}

// readCases are the tables the read sweeps run on: the fixture (classic checkpoint written
// here, commits after it, .crc, _last_checkpoint), delta-rs's V2 checkpoint table (JSON
// manifest with Parquet sidecars), and a Spark classic checkpoint with a commit after it and
// neither .crc nor _last_checkpoint (protocol and metadata come from the log itself).
func readCases(t *testing.T) []struct {
	name string
	dir  string
} {
	dir, _ := fixture(t)
	return []struct {
		name string
		dir  string
	}{
		{"classic", dir},
		{"v2-sidecars", testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", "checkpoint-v2-table"))},
		{"no-crc-no-hint", testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", "with_checkpoint_no_last_checkpoint"))},
	}
}

// TestInjectOpen sweeps Open, with failing listings that yield nothing or two objects first.
// An Open that tolerates a failure (a hint it can do without) must still return the snapshot a
// clean Open returns.
func TestInjectOpen(t *testing.T) {
	for _, c := range readCases(t) {
		for _, after := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/list-after=%d", c.name, after), func(t *testing.T) {
				clean := localStore(t, c.dir)
				want, err := delta.Open(context.Background(), clean)
				if err != nil {
					t.Fatal(err)
				}
				sweep(t, after, false, func(*testing.T) delta.Store { return clean },
					func(ctx context.Context, s *testutil.FaultStore, arm func()) error {
						arm()
						got, err := delta.Open(ctx, s)
						if err != nil {
							return err
						}
						if got.Version() != want.Version() || got.Metadata().ID != want.Metadata().ID ||
							got.Metadata().SchemaString != want.Metadata().SchemaString ||
							!slices.Equal(delta.ReaderFeaturesOf(got.Protocol(), got.Metadata()), delta.ReaderFeaturesOf(want.Protocol(), want.Metadata())) {
							return fmt.Errorf("open returned version %d, metadata %s: a wrong snapshot (want version %d, %s)",
								got.Version(), got.Metadata().ID, want.Version(), want.Metadata().ID)
						}
						return nil
					},
					func(t *testing.T, r sweepRun, clean delta.Store, err error) {
						if err != nil && strings.Contains(err.Error(), "a wrong snapshot") {
							t.Fatalf("%v: %v", r, err)
						}
						readState(t, r, clean, "none")
					})
			})
		}
	}
}

// TestInjectFiles sweeps Snapshot.Files on a snapshot opened without faults: every run ends
// with an error or with the whole file list, never a part of it without an error.
func TestInjectFiles(t *testing.T) {
	for _, c := range readCases(t) {
		t.Run(c.name, func(t *testing.T) {
			clean := localStore(t, c.dir)
			want := readState(t, sweepRun{}, clean, "none").files
			if len(want) == 0 {
				t.Fatal("no files")
			}
			sweep(t, 0, false, func(*testing.T) delta.Store { return clean },
				func(ctx context.Context, s *testutil.FaultStore, arm func()) error {
					snap, err := delta.Open(ctx, s, delta.WithBatchRows(2))
					if err != nil {
						return err
					}
					arm()
					got := map[string]bool{}
					for a, err := range snap.Files(ctx) {
						if err != nil {
							return err
						}
						got[a.Path] = true
					}
					if !maps.Equal(got, want) {
						return fmt.Errorf("a short result: %d files and no error, want %d", len(got), len(want))
					}
					return nil
				},
				func(t *testing.T, r sweepRun, clean delta.Store, err error) {
					if err != nil && strings.Contains(err.Error(), "a short result") {
						t.Fatalf("%v: %v", r, err)
					}
					if got := readState(t, r, clean, "none").files; !maps.Equal(got, want) {
						t.Fatalf("%v: %d files after the run, want %d", r, len(got), len(want))
					}
				})
		})
	}
}
