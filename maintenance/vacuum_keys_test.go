package maintenance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// commitAdds commits one add per path (size 4, no stats), as another engine may spell them.
func commitAdds(t *testing.T, s delta.Store, adds ...*delta.Add) {
	t.Helper()
	txn, err := delta.Begin(context.Background(), s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range adds {
		if a.Size == 0 {
			a.Size = 4
		}
		a.DataChange, a.PartitionValues = true, delta.PartitionValues{}
		txn.Add(a)
	}
	if _, err := txn.Commit(context.Background(), "WRITE", nil); err != nil {
		t.Fatal(err)
	}
}

// inAMonth is a vacuum clock 30 days ahead, so that every file is older than the retention.
func inAMonth() time.Time { return time.Now().Add(30 * 24 * time.Hour) }

func storeHas(t *testing.T, s delta.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, delta.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestVacuumKeySpellings: a live file whose log path is spelled in a way that is not its store
// key (doubled or dot segments, percent-encoding, an unencoded escape) is kept by a full vacuum,
// on a local store (where the file system cleans the key) and on a mem store (where the object
// is stored under the key exactly as written), with every spill bound; an orphan beside it goes.
func TestVacuumKeySpellings(t *testing.T) {
	cases := []struct {
		name    string
		logPath string // in the add action
		stored  string // key the object is written under
	}{
		{"doubled slash", "a//b.parquet", "a//b.parquet"},
		{"dot segment", "./x.parquet", "./x.parquet"},
		{"inner dot segment", "sub/./c.parquet", "sub/./c.parquet"},
		{"percent-encoded space", "a%20b.parquet", "a b.parquet"},
		{"encoded percent", "c%2520d.parquet", "c%20d.parquet"},
		{"unencoded escape", "e%20f.parquet", "e%20f.parquet"}, // a writer that did not encode
	}
	for _, kind := range []string{"local", "mem"} {
		for _, spill := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/spill=%d", kind, spill), func(t *testing.T) {
				ctx := context.Background()
				var s delta.Store
				if kind == "local" {
					s = openStore(t, filepath.Join(t.TempDir(), "table"))
				} else {
					s = memStore(t)
				}
				createTable(t, s, nil, delta.TxnOptions{})
				var adds []*delta.Add
				for _, c := range cases {
					if err := s.Put(ctx, c.stored, []byte("PAR1")); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
					adds = append(adds, &delta.Add{Path: c.logPath})
				}
				commitAdds(t, s, adds...)
				for _, k := range []string{"orphan.parquet", "zz/orphan.parquet"} {
					if err := s.Put(ctx, k, []byte("PAR1")); err != nil {
						t.Fatal(err)
					}
				}
				m, err := Vacuum(ctx, s, VacuumOptions{Now: inAMonth, SpillEntries: spill, TempDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cases {
					key := c.stored
					if kind == "local" {
						key = path.Clean(key) // where the file system put it
					}
					if !storeHas(t, s, key) {
						t.Errorf("%s: live file %q (log path %q) deleted", c.name, c.stored, c.logPath)
					}
				}
				for _, k := range []string{"orphan.parquet", "zz/orphan.parquet"} {
					if storeHas(t, s, k) {
						t.Errorf("orphan %s kept", k)
					}
				}
				if m.Deleted != 2 || m.LiveFiles != int64(len(cases)) {
					t.Errorf("metrics %+v", m)
				}
			})
		}
	}
}

// TestVacuumDeletionVectorPaths: the file of a deletion vector with an absolute path under the
// root is kept; one that cannot be placed under the root fails the plan, which deletes nothing.
func TestVacuumDeletionVectorPaths(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "table")
	s := openStore(t, dir)
	createTable(t, s, nil, delta.TxnOptions{})
	for _, k := range []string{"p1.parquet", "p2.parquet", "dv/deletion_vector_1.bin", "orphan.parquet"} {
		if err := s.Put(ctx, k, []byte("PAR1")); err != nil {
			t.Fatal(err)
		}
	}
	under := "file://" + filepath.ToSlash(dir) + "/dv/./deletion_vector_1.bin"
	commitAdds(t, s, &delta.Add{Path: "p1.parquet", DeletionVector: &delta.DeletionVector{StorageType: "p", PathOrInlineDv: under, SizeInBytes: 4, Cardinality: 1}})
	m, err := Vacuum(ctx, s, VacuumOptions{Now: inAMonth, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidates != 2 { // orphan.parquet and p2.parquet
		t.Fatalf("metrics %+v", m)
	}
	elsewhere := "file://" + filepath.ToSlash(filepath.Dir(dir)) + "/other/deletion_vector_2.bin"
	commitAdds(t, s, &delta.Add{Path: "p2.parquet", DeletionVector: &delta.DeletionVector{StorageType: "p", PathOrInlineDv: elsewhere, SizeInBytes: 4, Cardinality: 1}})
	for _, mode := range []VacuumMode{VacuumFull, VacuumLite} {
		if _, err := Vacuum(ctx, s, VacuumOptions{Now: inAMonth, Mode: mode}); !errors.Is(err, ErrUnresolvedPath) {
			t.Fatalf("%s: a deletion vector outside the root: err %v", mode, err)
		}
	}
	for _, k := range []string{"p1.parquet", "p2.parquet", "dv/deletion_vector_1.bin", "orphan.parquet"} {
		if !storeHas(t, s, k) {
			t.Errorf("%s deleted by a failed plan", k)
		}
	}
}

// TestVacuumZeroRetention: a retention of zero, forced, is zero (not the table's week):
// every file no version needs now goes, however young.
func TestVacuumZeroRetention(t *testing.T) {
	ctx := context.Background()
	vt := newVacuumTable(t)
	if _, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(time.Duration(0))})); !errors.Is(err, ErrRetentionTooShort) {
		t.Fatalf("zero retention without force: %v", err)
	}
	m, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Retention: new(time.Duration(0)), ForceRetention: true}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Retention != 0 || !m.Threshold.Equal(vt.t0) || m.Deleted != 6 || m.TooYoung != 0 {
		t.Fatalf("metrics %+v", m)
	}
	vt.checkRemaining(t, "a", "b", "orphan", "pending", "cdc", "cdc-young")
	if err := sameTiles(readTable(t, vt.store, 3), vt.versions[3]); err != nil {
		t.Fatal(err)
	}
	// Unset (nil) is the table's retention.
	vt = newVacuumTable(t)
	if m, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{})); err != nil || m.Retention != DefaultRetention {
		t.Fatalf("unset retention: %+v, %v", m, err)
	}
}

// TestVacuumSpillEqual: plans made with tiny spill bounds (every key its own run, runs merged
// when they pile up) list the same files and count the same as the in-memory plan, in both
// modes.
func TestVacuumSpillEqual(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []VacuumMode{VacuumFull, VacuumLite} {
		vt := newVacuumTable(t)
		var want []string
		var wantM VacuumMetrics
		for i, spill := range []int{0, 1, 2, 3} {
			tmp := t.TempDir()
			p, err := PlanVacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: mode, DryRun: true, SpillEntries: spill, TempDir: tmp,
				Retention: new(time.Hour), ForceRetention: true}))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for f, err := range p.Files() {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, f.Key)
			}
			m := p.Metrics()
			if spill == 1 && m.NeededRuns == 0 {
				t.Fatalf("%s: spill bound 1 wrote no run: %+v", mode, m)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Fatalf("%s: %d files left in the temporary directory while the plan is open", mode, len(ents))
			}
			p.Close()
			slices.Sort(got)
			if i == 0 {
				want, wantM = got, m
				if len(want) == 0 {
					t.Fatalf("%s: nothing to delete", mode)
				}
				continue
			}
			if !slices.Equal(got, want) || m.NeededFiles != wantM.NeededFiles || m.Candidates != wantM.Candidates ||
				m.Listed != wantM.Listed || m.TooYoung != wantM.TooYoung || m.Hidden != wantM.Hidden {
				t.Fatalf("%s, spill %d: %v %+v; in memory %v %+v", mode, spill, got, m, want, wantM)
			}
		}
	}
}

// TestSortedRuns: entries come back sorted by normal form, duplicates included, whatever the
// spill bound (with more runs than maxRuns, so they are merged on the way), any number of
// times; the spilled runs leave no file in the temporary directory, even while open.
func TestSortedRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []string
	for range 1000 {
		keys = append(keys, fmt.Sprintf("d%d/part-%05d.parquet", rng.IntN(7), rng.IntN(400)))
	}
	keys = append(keys, "", "a", "a/", "a.b", "a/b", "\xff", "é")
	want := slices.Clone(keys)
	slices.Sort(want)
	for _, limit := range []int{1, 3, 64, 5000} {
		dir := t.TempDir()
		r := newSortedRuns(dir, limit)
		for i, k := range keys {
			e := spillEntry{Key: k, Size: int64(i)}
			if i%3 == 0 && k != "" {
				e = spillEntry{Key: "raw:" + k, Norm: k, Size: int64(i)}
			}
			if err := r.Add(e); err != nil {
				t.Fatal(err)
			}
		}
		if limit < len(keys)/maxRuns && r.Runs() >= maxRuns {
			t.Fatalf("limit %d: %d runs, not merged", limit, r.Runs())
		}
		for pass := range 2 {
			var got []string
			for e, err := range r.All() {
				if err != nil {
					t.Fatal(err)
				}
				if e.Norm != "" && e.Key != "raw:"+e.Norm {
					t.Fatalf("entry %+v", e)
				}
				got = append(got, e.norm())
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d, pass %d: %d keys, not the sorted %d", limit, pass, len(got), len(want))
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("limit %d: %d files in the temporary directory", limit, len(ents))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVacuumTempInTMPDIR: the spilled lists of a vacuum in TMPDIR (TempDir unset) leave no file
// there, while they are in use and after.
func TestVacuumTempInTMPDIR(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	empty := func(when string) {
		t.Helper()
		ents, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Fatalf("%s: %s left in TMPDIR", when, ents[0].Name())
		}
	}
	l := newSpillList("", 2)
	r := newSortedRuns("", 2)
	for i := range 10 {
		e := spillEntry{Key: fmt.Sprintf("k%d", 9-i)}
		if err := l.Add(e); err != nil {
			t.Fatal(err)
		}
		if err := r.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if l.f == nil || r.Runs() == 0 {
		t.Fatal("nothing spilled")
	}
	empty("in use")
	n := 0
	for _, err := range l.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	for _, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 20 {
		t.Fatalf("read back %d entries, want 20", n)
	}
	l.Close()
	r.Close()
	empty("after")

	vt := newVacuumTable(t)
	if _, err := Vacuum(context.Background(), vt.store, vt.opts(VacuumOptions{SpillEntries: 1})); err != nil {
		t.Fatal(err)
	}
	empty("after a vacuum")
}

// TestVacuumOwnTempFiles: full vacuum removes the temporary files a crashed writer of our own
// local store left in the data area, once older than the retention (counted, and listed by a
// dry run), and never the log's, those in hidden directories, young ones, or other dot files.
func TestVacuumOwnTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "table")
	s := openStore(t, dir)
	createTable(t, s, nil, delta.TxnOptions{})
	now := time.Now()
	old, young := now.Add(-30*24*time.Hour), now.Add(-time.Hour)
	files := map[string]struct {
		at   time.Time
		gone bool
	}{
		".deltaraster-part-1.parquet.0123456789abcdef.tmp":         {old, true},
		"level=0/.deltaraster-part-2.parquet.0123456789abcdef.tmp": {old, true},
		".deltaraster-part-3.parquet.fedcba9876543210.tmp":         {young, false},
		"_delta_log/.deltaraster-00000000000000000001.json.01.tmp": {old, false},
		"_tmp/.deltaraster-part-4.parquet.01.tmp":                  {old, false},
		".hidden/.deltaraster-part-5.parquet.01.tmp":               {old, false},
		".part-0.parquet.crc":                                      {old, false},
		".spark-staging-1/part-0.parquet":                          {old, false},
		".deltaraster-notatemp":                                    {old, false},
	}
	for k, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half a file"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.at, f.at); err != nil {
			t.Fatal(err)
		}
	}
	p, err := PlanVacuum(ctx, s, VacuumOptions{DryRun: true})
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
	p.Close()
	slices.Sort(listed)
	if want := []string{".deltaraster-part-1.parquet.0123456789abcdef.tmp", "level=0/.deltaraster-part-2.parquet.0123456789abcdef.tmp"}; !slices.Equal(listed, want) {
		t.Fatalf("dry run lists %q, want %q", listed, want)
	}
	if m := p.Metrics(); m.TempFiles != 2 {
		t.Fatalf("dry run metrics %+v", m)
	}
	m, err := Vacuum(ctx, s, VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.TempFiles != 2 || m.Deleted != 2 || m.TooYoung != 1 {
		t.Fatalf("metrics %+v", m)
	}
	for k, f := range files {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(k)))
		if gone := errors.Is(err, os.ErrNotExist); gone != f.gone {
			t.Errorf("%s: gone=%v, want %v", k, gone, f.gone)
		}
	}
	// The log still reads.
	if _, err := delta.Open(ctx, s); err != nil {
		t.Fatal(err)
	}
}
