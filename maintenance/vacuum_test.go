package maintenance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// vacuumTable is a local table with a history a vacuum must respect. With T0 the time the
// vacuum runs (the real now, so file times are real) and the default 7-day retention:
//
//	v0 T0-30d  create
//	v1 T0-30d  add a, b, c
//	v2 T0-20d  remove a, add d          (a's tombstone expired)
//	v3 T0-3d   remove b, add e          (b's tombstone within the retention)
//
// plus an orphan of a failed writer (old), a file of a writer that has not committed yet
// (1 hour old), and hidden files (_tmp/x, .hidden, sub/_SUCCESS, all old).
type vacuumTable struct {
	dir      string
	store    delta.Store
	t0       time.Time
	files    map[string]string // name -> store key
	versions map[int64]map[tileID]uint64
	commitTS map[int64]time.Time
}

var (
	vacuumTmplMu sync.Mutex
	vacuumTmpl   *vacuumTable
)

// newVacuumTable returns a fresh copy of the table (built once per test binary; copies keep
// the files' modification times).
func newVacuumTable(t *testing.T) *vacuumTable {
	t.Helper()
	vacuumTmplMu.Lock()
	defer vacuumTmplMu.Unlock()
	if vacuumTmpl == nil {
		dir, err := os.MkdirTemp("", "deltaraster-vacuum-tmpl-*")
		if err != nil {
			t.Fatal(err)
		}
		vacuumTmpl = buildVacuumTable(t, filepath.Join(dir, "table"))
	}
	vt := *vacuumTmpl
	vt.dir = testutil.CopyTable(t, vacuumTmpl.dir)
	vt.store = openStore(t, vt.dir)
	return &vt
}

func buildVacuumTable(t *testing.T, dir string) *vacuumTable {
	t.Helper()
	ctx := context.Background()
	vt := &vacuumTable{dir: dir, t0: time.Now().Truncate(time.Second),
		files: map[string]string{}, versions: map[int64]map[tileID]uint64{}, commitTS: map[int64]time.Time{}}
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vt.store = s
	clock := newClock(vt.t0.Add(-30 * 24 * time.Hour))
	txo := delta.TxnOptions{Now: clock.Now}
	createTable(t, vt.store, nil, txo)
	vt.commitTS[0] = clock.Now()
	all := map[tileID]uint64{}
	write := func(name string, lon float64) *delta.Add {
		tiles := sceneTiles("s3://v/"+name, lon, 10, 0.25, 1, clock.Now())
		a, err := writeTileFile(ctx, vt.store, "", tiles, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		vt.files[name] = a.Path
		vt.age(t, a.Path, clock.Now())
		return a
	}
	commit := func(adds []*delta.Add, removes ...*delta.Add) {
		txn, err := delta.Begin(ctx, vt.store, txo)
		if err != nil {
			t.Fatal(err)
		}
		txn.Add(adds...)
		for _, r := range removes {
			size := r.Size
			txn.Remove(&delta.Remove{Path: r.Path, DataChange: true, Size: &size})
		}
		v, err := txn.Commit(ctx, "WRITE", nil)
		if err != nil {
			t.Fatal(err)
		}
		vt.commitTS[v] = clock.Now()
		vt.versions[v] = readTable(t, vt.store, v)
		for id, d := range vt.versions[v] {
			all[id] = d
		}
	}
	a, b, c := write("a", 1), write("b", 2), write("c", 3)
	commit([]*delta.Add{a, b, c})
	clock.Set(vt.t0.Add(-20 * 24 * time.Hour))
	commit([]*delta.Add{write("d", 4)}, a)
	clock.Set(vt.t0.Add(-3 * 24 * time.Hour))
	commit([]*delta.Add{write("e", 5)}, b)
	// Orphans: a failed writer's file (old), a running writer's (young); change data files
	// (never referenced by a snapshot) of an old commit and of a recent one.
	for name, age := range map[string]time.Duration{"orphan": 20 * 24 * time.Hour, "pending": time.Hour,
		"cdc": 20 * 24 * time.Hour, "cdc-young": time.Hour} {
		key := "part-" + name + ".zstd.parquet"
		if strings.HasPrefix(name, "cdc") {
			key = "_change_data/" + key
		}
		if err := vt.store.Put(ctx, key, []byte("PAR1")); err != nil {
			t.Fatal(err)
		}
		vt.files[name] = key
		vt.age(t, key, vt.t0.Add(-age))
	}
	for _, key := range []string{"_tmp/x.parquet", ".hidden", "sub/_SUCCESS", "_delta_log/junk.parquet"} {
		if err := vt.store.Put(ctx, key, []byte("x")); err != nil {
			t.Fatal(err)
		}
		vt.files[key] = key
		vt.age(t, key, vt.t0.Add(-40*24*time.Hour))
	}
	return vt
}

func (vt *vacuumTable) age(t *testing.T, key string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(vt.dir, filepath.FromSlash(key)), at, at); err != nil {
		t.Fatal(err)
	}
}

func (vt *vacuumTable) exists(name string) bool {
	_, err := os.Stat(filepath.Join(vt.dir, filepath.FromSlash(vt.files[name])))
	return err == nil
}

// checkRemaining checks which of the named files exist.
func (vt *vacuumTable) checkRemaining(t *testing.T, gone ...string) {
	t.Helper()
	for name := range vt.files {
		if want := !slices.Contains(gone, name); vt.exists(name) != want {
			t.Errorf("%s exists=%v, want %v", name, !want, want)
		}
	}
}

// checkVersions checks that every version inside the retention (committed after the
// threshold, or current at it) reads completely.
func (vt *vacuumTable) checkVersions(t *testing.T, threshold time.Time) {
	t.Helper()
	var inside []int64
	for v := int64(1); v <= 3; v++ {
		next, ok := vt.commitTS[v+1]
		if !vt.commitTS[v].Before(threshold) || !ok || next.After(threshold) {
			inside = append(inside, v)
		}
	}
	for _, v := range inside {
		got, err := tryReadTable(vt.store, v)
		if err != nil {
			t.Fatalf("version %d (inside the retention): %v", v, err)
		}
		if err := sameTiles(got, vt.versions[v]); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	if len(inside) == 0 {
		t.Fatal("no version inside the retention")
	}
}

func (vt *vacuumTable) opts(o VacuumOptions) VacuumOptions {
	t0 := vt.t0
	o.Now = func() time.Time { return t0 }
	return o
}

func TestVacuumFull(t *testing.T) {
	ctx := context.Background()
	vt := newVacuumTable(t)
	before := liveSnapshotVersion(t, vt.store)

	// Dry run: lists, deletes nothing, commits nothing.
	p, err := PlanVacuum(ctx, vt.store, vt.opts(VacuumOptions{DryRun: true}))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for f, err := range p.Files() {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, f.Key)
	}
	slices.Sort(listed)
	if want := []string{vt.files["a"], vt.files["orphan"], vt.files["cdc"]}; !slices.Equal(listed, sortedCopy(want)) {
		t.Fatalf("dry run lists %v, want %v", listed, want)
	}
	dm, err := p.Execute(ctx)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	if dm.Deleted != 0 || dm.StartVersion != -1 || liveSnapshotVersion(t, vt.store) != before {
		t.Fatalf("dry run did something: %+v", dm)
	}
	vt.checkRemaining(t)

	m, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", m)
	if m.Deleted != 3 || m.Retention != DefaultRetention || m.TooYoung != 2 || m.Hidden < 4 || m.LiveFiles != 3 || m.TombstonesKept != 1 {
		t.Fatalf("metrics %+v", m)
	}
	vt.checkRemaining(t, "a", "orphan", "cdc")
	vt.checkVersions(t, m.Threshold)
	// VACUUM START and END were committed.
	hist, err := delta.History(ctx, vt.store, 2)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := hist[0].CommitInfo.String("operation")
	start, _ := hist[1].CommitInfo.String("operation")
	if start != "VACUUM START" || end != "VACUUM END" || m.StartVersion != hist[1].Version || m.EndVersion != hist[0].Version {
		t.Fatalf("last commits %q, %q; metrics %+v", start, end, m)
	}
	checkMetrics(t, hist[1].CommitInfo, map[string]int64{"numFilesToDelete": m.Candidates, "sizeOfDataToDelete": m.CandidateBytes})
	checkMetrics(t, hist[0].CommitInfo, map[string]int64{"numDeletedFiles": m.Deleted, "numVacuumedDirectories": 0})

	// With a forced 1-day retention b goes too; version 3 still reads.
	if _, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(24 * time.Hour)})); !errors.Is(err, ErrRetentionTooShort) {
		t.Fatalf("short retention: %v", err)
	}
	m, err = Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(24 * time.Hour), ForceRetention: true}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Deleted != 1 {
		t.Fatalf("forced retention: %+v", m)
	}
	vt.checkRemaining(t, "a", "orphan", "cdc", "b")
	if err := sameTiles(readTable(t, vt.store, 3), vt.versions[3]); err != nil {
		t.Fatal(err)
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestVacuumTableRetention(t *testing.T) {
	ctx := context.Background()
	vt := newVacuumTable(t)
	txn, err := delta.Begin(ctx, vt.store, delta.TxnOptions{Now: func() time.Time { return vt.t0.Add(-2 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	md := txn.Snapshot().Metadata()
	md.Configuration["delta.deletedFileRetentionDuration"] = "interval 2 days"
	txn.SetMetadata(md)
	if _, err := txn.Commit(ctx, "SET TBLPROPERTIES", nil); err != nil {
		t.Fatal(err)
	}
	m, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Retention != 48*time.Hour || m.Deleted != 4 {
		t.Fatalf("metrics %+v", m)
	}
	vt.checkRemaining(t, "a", "b", "orphan", "cdc")
	// Asking for more than the table's retention is fine; for less, refused, but for a dry
	// run, which deletes nothing and shows what the shorter retention would delete.
	if _, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(time.Hour)})); !errors.Is(err, ErrRetentionTooShort) {
		t.Fatalf("err %v", err)
	}
	dry, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(time.Hour), DryRun: true}))
	if err != nil || dry.Retention != time.Hour || dry.Deleted != 0 {
		t.Fatalf("dry run with a short retention: %+v, %v", dry, err)
	}
	vt.checkRemaining(t, "a", "b", "orphan", "cdc")
}

func TestVacuumLite(t *testing.T) {
	ctx := context.Background()
	vt := newVacuumTable(t)
	// A checkpoint at T0 drops a's expired tombstone: lite mode must find a's remove in the
	// commits.
	if _, err := checkpoint.Write(ctx, vt.store, 3, checkpoint.Options{Now: func() time.Time { return vt.t0 }}); err != nil {
		t.Fatal(err)
	}
	snap, err := delta.Open(ctx, vt.store)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range snap.Tombstones(ctx) {
		n++
	}
	if n != 1 {
		t.Fatalf("%d tombstones after the checkpoint, want 1 (b)", n)
	}
	m, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: VacuumLite}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Deleted != 1 || m.Listed != 0 {
		t.Fatalf("metrics %+v", m)
	}
	vt.checkRemaining(t, "a") // the orphans stay: lite mode lists nothing
	vt.checkVersions(t, m.Threshold)
	// A second lite vacuum reads only the commits since the first one's threshold, and finds
	// nothing more.
	m, err = Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: VacuumLite}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidates != 0 || m.CommitsScanned > 4 {
		t.Fatalf("second lite vacuum: %+v", m)
	}
	// A remove of a log file or of a hidden file is never followed.
	txn, err := delta.Begin(ctx, vt.store, delta.TxnOptions{Now: func() time.Time { return vt.t0.Add(-10 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	old := vt.t0.Add(-10 * 24 * time.Hour).UnixMilli()
	for _, p := range []string{"_delta_log/00000000000000000000.json", "_tmp/x.parquet", ".hidden"} {
		txn.Remove(&delta.Remove{Path: p, DataChange: true, DeletionTimestamp: &old})
	}
	if _, err := txn.Commit(ctx, "DELETE", nil); err != nil {
		t.Fatal(err)
	}
	m, err = Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: VacuumLite, ForceRetention: true, Retention: new(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Refused != 3 {
		t.Fatalf("metrics %+v", m)
	}
	vt.checkRemaining(t, "a", "b")
	if _, err := os.Stat(filepath.Join(vt.dir, "_delta_log", "00000000000000000000.json")); err != nil {
		t.Fatal(err)
	}
}

// TestVacuumOutsideRoot: a log whose paths point outside the root makes the vacuum fail
// before it deletes anything, in both modes.
func TestVacuumOutsideRoot(t *testing.T) {
	for _, path := range []string{"../victim.parquet", "%2E%2E/victim.parquet", "file:///VICTIM"} {
		for _, action := range []string{"add", "remove"} {
			for _, mode := range []VacuumMode{VacuumFull, VacuumLite} {
				t.Run(action+"/"+mode.String()+"/"+path, func(t *testing.T) {
					ctx := context.Background()
					vt := newVacuumTable(t)
					victim := filepath.Join(filepath.Dir(vt.dir), "victim.parquet")
					if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
						t.Fatal(err)
					}
					old := vt.t0.Add(-40 * 24 * time.Hour)
					os.Chtimes(victim, old, old)
					p := path
					if p == "file:///VICTIM" {
						p = "file://" + victim
					}
					ms := old.UnixMilli()
					line := `{"add":{"path":"` + p + `","partitionValues":{},"size":7,"modificationTime":1,"dataChange":true}}`
					if action == "remove" {
						line = `{"remove":{"path":"` + p + `","deletionTimestamp":` + itoa(ms) + `,"dataChange":true,"size":7}}`
					}
					v := liveSnapshotVersion(t, vt.store) + 1
					if err := vt.store.PutIfAbsent(ctx, delta.CommitKey(v), []byte(`{"commitInfo":{"timestamp":`+itoa(ms)+`,"operation":"WRITE"}}`+"\n"+line+"\n")); err != nil {
						t.Fatal(err)
					}
					_, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: mode, ForceRetention: true, Retention: new(time.Hour)}))
					if err == nil && action == "add" {
						t.Fatal("vacuum of a log with a path outside the root succeeded")
					}
					if _, serr := os.Stat(victim); serr != nil {
						t.Fatalf("the file outside the root is gone (vacuum err %v)", err)
					}
					if err != nil {
						vt.checkRemaining(t)
					}
				})
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestVacuumListingError: a listing that fails, after some objects or at once, or is
// cancelled, deletes nothing and commits nothing.
func TestVacuumListingError(t *testing.T) {
	for _, after := range []int{0, 3, 8} {
		ctx := context.Background()
		vt := newVacuumTable(t)
		fs := testutil.NewFaultStore(vt.store)
		fs.ListFailAfter(after)
		v := liveSnapshotVersion(t, vt.store)
		// Fail the listing of the table (prefix ""), not those of the log.
		fs.Hook = func(_ int64, op testutil.Op, key string) error {
			if op == testutil.OpList && key == "" {
				return testutil.ErrInjected
			}
			return nil
		}
		_, err := Vacuum(ctx, fs, vt.opts(VacuumOptions{}))
		if !errors.Is(err, testutil.ErrInjected) {
			t.Fatalf("after %d: err %v", after, err)
		}
		if fs.Count(testutil.OpDelete) != 0 || liveSnapshotVersion(t, vt.store) != v {
			t.Fatalf("after %d: %d deletes, version %d", after, fs.Count(testutil.OpDelete), liveSnapshotVersion(t, vt.store))
		}
		vt.checkRemaining(t)
	}
	// Cancelled while listing.
	vt := newVacuumTable(t)
	fs := testutil.NewFaultStore(vt.store)
	ctx, cancel := context.WithCancel(context.Background())
	fs.Hook = func(_ int64, op testutil.Op, key string) error {
		if op == testutil.OpList && key == "" {
			cancel()
		}
		return nil
	}
	if _, err := Vacuum(ctx, fs, vt.opts(VacuumOptions{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err %v", err)
	}
	if fs.Count(testutil.OpDelete) != 0 {
		t.Fatal("a cancelled listing deleted files")
	}
	vt.checkRemaining(t)
}

func TestVacuumParallelDeletes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "t"))
	createTable(t, s, nil, delta.TxnOptions{})
	old := time.Now().Add(-30 * 24 * time.Hour)
	var keys []string
	for i := 0; i < 300; i++ {
		k := "orphans/part-" + itoa(int64(i)) + ".parquet"
		if err := s.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	dir := s.URL()
	for _, k := range keys {
		os.Chtimes(filepath.Join(dir, filepath.FromSlash(k)), old, old)
	}
	fs := testutil.NewFaultStore(s)
	var inFlight, peak int64
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	fs.Hook = func(_ int64, op testutil.Op, _ string) error {
		if op != testutil.OpDelete {
			return nil
		}
		<-mu
		inFlight++
		peak = max(peak, inFlight)
		mu <- struct{}{}
		time.Sleep(time.Millisecond)
		<-mu
		inFlight--
		mu <- struct{}{}
		return nil
	}
	m, err := Vacuum(ctx, fs, VacuumOptions{Parallelism: 4, SpillEntries: 50, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Deleted != 300 || peak > 4 || peak < 2 {
		t.Fatalf("deleted %d, peak %d deletes in flight (bound 4)", m.Deleted, peak)
	}
}

func TestIsHidden(t *testing.T) {
	for key, want := range map[string]bool{
		"part-0.parquet": false, "_delta_log/0.json": true, ".tmp": true, "a/_SUCCESS": true,
		"_change_data/x.parquet": false, "a/_change_data/x": true, "zone=a/part.parquet": false, "_zone=a/part.parquet": false,
		"_other=a/part.parquet": true, "a/.b/c": true, "deletion_vector_x.bin": false,
	} {
		if got := isHidden(key, []string{"zone", "_zone"}); got != want {
			t.Errorf("isHidden(%q) = %v", key, got)
		}
	}
}

func TestDVFileKey(t *testing.T) {
	// The example of the Delta protocol.
	k, ok, err := dvFileKey("s3://mytable", &delta.DeletionVector{StorageType: "u", PathOrInlineDv: "ab^-aqEH.-t@S}K{vb[*k^"})
	if err != nil || !ok || k != "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin" {
		t.Fatalf("got %q %v %v", k, ok, err)
	}
	k, ok, err = dvFileKey("/data/t", &delta.DeletionVector{StorageType: "p", PathOrInlineDv: "file:///data/t/dv/x.bin"})
	if err != nil || !ok || k != "dv/x.bin" {
		t.Fatalf("got %q %v %v", k, ok, err)
	}
	// Spark writes S3 paths with Hadoop's scheme s3a.
	k, ok, err = dvFileKey("s3://bucket/t?region=x", &delta.DeletionVector{StorageType: "p", PathOrInlineDv: "s3a://bucket/t/dv//x.bin"})
	if err != nil || !ok || k != "dv/x.bin" {
		t.Fatalf("got %q %v %v", k, ok, err)
	}
	if _, ok, err := dvFileKey("/data/t", &delta.DeletionVector{StorageType: "p", PathOrInlineDv: "file:///data/other/x.bin"}); ok || !errors.Is(err, ErrUnresolvedPath) {
		t.Fatalf("a path outside the root: ok %v, err %v", ok, err)
	}
	if _, ok, _ := dvFileKey("/data/t", &delta.DeletionVector{StorageType: "i", PathOrInlineDv: "xyz"}); ok {
		t.Fatal("an inline vector has a file")
	}
}
