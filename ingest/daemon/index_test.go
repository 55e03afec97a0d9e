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
	if n, err := x.Update(ctx); err != nil || n != 0 {
		t.Errorf("update with no new commit: %d, %v", n, err)
	}
}
