package daemon

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// TestIndexUpdate: an index kept current from the new commits alone (adds, a replacement that
// removes a file holding two sources and rewrites the other) equals one built afresh, and
// answers Holds as the table does.
func TestIndexUpdate(t *testing.T) {
	ctx := context.Background()
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, err := LoadIndex(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if x.Version() != -1 || x.Len() != 0 {
		t.Fatalf("index of no table: version %d, %d pairs", x.Version(), x.Len())
	}
	opts := ingest.Options{TempDir: t.TempDir(), Workers: 1, Logger: quiet()}
	var srcs []string
	for i := range 4 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	mustIngest := func(sources ...string) {
		t.Helper()
		if _, err := ingest.Ingest(ctx, st, sources, opts); err != nil {
			t.Fatal(err)
		}
	}
	mustIngest(srcs[0])
	mustIngest(srcs[1], srcs[2]) // one data file holding both
	if n, err := x.Update(ctx); err != nil || n != 2 {
		t.Fatalf("update: %d commits, %v; want 2", n, err)
	}
	version := func(p string) string {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return ingest.ObjectVersion(delta.ObjectInfo{Size: fi.Size(), ModTime: fi.ModTime()}, true)
	}
	id := func(p string) string {
		s, err := ingest.SourceID(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old1 := version(srcs[1])
	for _, p := range srcs[:3] {
		if !x.Holds(id(p), version(p)) {
			t.Errorf("index does not hold %s", p)
		}
	}
	if x.Holds(id(srcs[3]), version(srcs[3])) {
		t.Errorf("index holds %s, never ingested", srcs[3])
	}
	// s1 changes: its file (shared with s2) is removed, s2's rows rewritten into a new file.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(srcs[1], future, future); err != nil {
		t.Fatal(err)
	}
	mustIngest(srcs[1], srcs[3])
	if n, err := x.Update(ctx); err != nil || n != 1 {
		t.Fatalf("update: %d commits, %v; want 1", n, err)
	}
	if x.Holds(id(srcs[1]), old1) {
		t.Errorf("index still holds the replaced version of %s", srcs[1])
	}
	for _, p := range srcs {
		if !x.Holds(id(p), version(p)) {
			t.Errorf("index does not hold %s at %s", p, version(p))
		}
	}
	fresh, err := LoadIndex(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Version() != x.Version() || !maps.Equal(fresh.held, x.held) {
		t.Errorf("updated index (v%d, %d pairs) differs from a fresh one (v%d, %d pairs)", x.Version(), x.Len(), fresh.Version(), fresh.Len())
	}
	for _, ix := range []*Index{x, fresh} {
		for _, p := range srcs {
			if _, absent := ix.Absent([]string{id(p)}); absent {
				t.Errorf("index (v%d) says %s is absent", ix.Version(), p)
			}
		}
		other := filepath.Join(filepath.Dir(srcs[0]), "never.tif")
		if v, absent := ix.Absent([]string{other}); !absent || v != ix.Version() {
			t.Errorf("index (v%d) does not say %s is absent (%v at v%d)", ix.Version(), other, absent, v)
		}
	}
	if n, err := x.Update(ctx); err != nil || n != 0 {
		t.Errorf("update with no new commit: %d, %v", n, err)
	}
}

// TestIndexUntagged: files without the deltaraster.sources tag (another engine's rewrite) keep
// Absent from answering yes for sources their statistics may hold, and for any source while a
// file without statistics of the source column is live; removing them (removes without tags)
// lifts that. A file is matched as log replay matches it: path and deletion vector.
func TestIndexUntagged(t *testing.T) {
	ctx := context.Background()
	src := drop(t, t.TempDir(), "s.tif", raster(t, "rgb.tif"))
	table := filepath.Join(t.TempDir(), "tiles")
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := ingest.Ingest(ctx, st, []string{src}, ingest.Options{TempDir: t.TempDir(), Workers: 1, Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	x, err := LoadIndex(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(adds []*delta.Add, removes []*delta.Remove) {
		t.Helper()
		txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		txn.Add(adds...)
		txn.Remove(removes...)
		if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Update(ctx); err != nil {
			t.Fatal(err)
		}
	}
	absent := func(id string) bool {
		_, ok := x.Absent([]string{id})
		return ok
	}
	in, out := "/scenes/m/in.tif", "/scenes/z/out.tif"
	if !absent(in) || !absent(out) || absent(src) {
		t.Fatalf("before: absent(%s)=%v absent(%s)=%v absent(%s)=%v", in, absent(in), out, absent(out), src, absent(src))
	}
	ranged := &delta.Add{Path: "part-a%20b.parquet", Size: 10, DataChange: true,
		Stats: `{"numRecords":3,"minValues":{"source":"/scenes/a.tif"},"maxValues":{"source":"/scenes/p.tif"}}`}
	bare := &delta.Add{Path: "part-c.parquet", Size: 10, DataChange: true}
	empty := &delta.Add{Path: "part-d.parquet", Size: 10, DataChange: true, Stats: `{"numRecords":0}`}
	commit([]*delta.Add{ranged, empty}, nil)
	if absent(in) || !absent(out) {
		t.Errorf("untagged file over /scenes/a.tif../scenes/p.tif: absent(%s)=%v, absent(%s)=%v; want false, true", in, absent(in), out, absent(out))
	}
	commit([]*delta.Add{bare}, nil)
	if absent(out) {
		t.Errorf("a live file without source statistics: %s said absent", out)
	}
	commit(nil, []*delta.Remove{{Path: "part-c.parquet", DataChange: true}})
	if !absent(out) || absent(in) {
		t.Errorf("after removing the file without statistics: absent(%s)=%v, absent(%s)=%v; want true, false", out, absent(out), in, absent(in))
	}
	commit(nil, []*delta.Remove{{Path: "part-a%20b.parquet", DataChange: true}})
	if !absent(in) || !absent(out) {
		t.Errorf("after removing the untagged files: absent(%s)=%v, absent(%s)=%v; want true", in, absent(in), out, absent(out))
	}
	fresh, err := LoadIndex(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh.untagged) != 0 || len(x.untagged) != 0 || fresh.unranged != 0 || x.unranged != 0 {
		t.Errorf("untagged files left: updated %d (%d unranged), fresh %d (%d unranged)", len(x.untagged), x.unranged, len(fresh.untagged), fresh.unranged)
	}
}
