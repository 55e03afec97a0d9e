package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func TestMain(m *testing.M) {
	code := testservers.Main(m)
	testutil.Cleanup()
	os.Exit(code)
}

// raster returns the bytes of a raster testdata/make.sh writes (see that script).
func raster(t *testing.T, name string) []byte { return testutil.Raster(t, name) }

// drop writes a raster of testdata into dir under name (through a temporary name and a
// rename, as a well-behaved producer does) and returns its path.
func drop(t *testing.T, dir, name string, b []byte) string { return testutil.Drop(t, dir, name, b) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLogger logs to the test's log when -v.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return quiet()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// holdings reads what the table holds: for each source identity, the data files holding it
// (by their deltaraster.sources tags), and the total number of rows (tiles).
func holdings(t *testing.T, table string) (files map[string]int, versions map[string]string, rows int64) {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := delta.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	files, versions = map[string]int{}, map[string]string{}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		pairs, ok := ingest.FileSources(a.Tags)
		if !ok {
			t.Fatalf("data file %s has no sources tag", a.Path)
		}
		for _, p := range pairs {
			files[p.ID]++
			versions[p.ID] = p.Version
		}
		s, err := delta.ParseStats(a.Stats)
		if err != nil || s.NumRecords == nil {
			t.Fatalf("data file %s: stats %q: %v", a.Path, a.Stats, err)
		}
		rows += *s.NumRecords
	}
	return files, versions, rows
}

// checkExactlyOnce checks that the table holds each of the sources (local paths of copies of
// rgb.tif, 2 tiles each) in one data file, and nothing else.
func checkExactlyOnce(t *testing.T, table string, sources []string) {
	t.Helper()
	files, _, rows := holdings(t, table)
	for _, s := range sources {
		id, err := ingest.SourceID(s)
		if err != nil {
			t.Fatal(err)
		}
		if files[id] != 1 {
			t.Errorf("%s is in %d data files, want 1", id, files[id])
		}
		delete(files, id)
	}
	for id, n := range files {
		t.Errorf("the table holds %s (%d files), which it should not", id, n)
	}
	if want := int64(2 * len(sources)); rows != want {
		t.Errorf("the table holds %d tiles, want %d (2 for each of %d sources)", rows, want, len(sources))
	}
}
