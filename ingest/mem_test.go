package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// putObject copies a local file into a store.
func putObject(t *testing.T, bucket, key, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, bucket)
	if err := s.Put(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
}

// TestMemBucketSource reads sources through the Go VSI handler from a mem:// bucket into a
// mem:// table, exports them and compares them with the local originals; then overwrites an
// object and checks the next ingest sees the new bytes at once.
func TestMemBucketSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	putObject(t, "mem://ingest-src", "rasters/cog.tif", td("cog.tif"))
	putObject(t, "mem://ingest-src", "rasters/rgb.tif", td("rgb.tif"))
	cogURI, rgbURI := "mem://ingest-src/rasters/cog.tif", "mem://ingest-src/rasters/rgb.tif"
	misses := vsiMisses.Load()
	defer func() {
		if n := vsiMisses.Load() - misses; n != 0 {
			t.Errorf("GDAL asked the VSI handler for %d paths besides the sources (sidecar probes)", n)
		}
	}()

	cogTable := openStore(t, "mem://ingest-table-cog")
	o := quietOpts()
	o.TileSize = 128
	sum, err := Ingest(ctx, cogTable, []string{cogURI}, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sources[0].Levels != 3 {
		t.Fatalf("summary %+v", sum)
	}
	for level := 0; level < 3; level++ {
		out := filepath.Join(dir, fmt.Sprintf("cog%d.tif", level))
		if err := Export(ctx, cogTable, ExportOptions{Source: cogURI, Out: out, Level: level}); err != nil {
			t.Fatal(err)
		}
		assertSameRaster(t, td("cog.tif"), level, out)
	}

	rgbTable := openStore(t, "mem://ingest-table-rgb")
	if _, err := Ingest(ctx, rgbTable, []string{rgbURI}, o); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rgb.tif")
	if err := Export(ctx, rgbTable, ExportOptions{Source: rgbURI, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, td("rgb.tif"), 0, out)

	// Overwrite the object: a new ETag, new bytes, seen by the very next ingest.
	swapped := filepath.Join(dir, "swapped.tif")
	gdalRun(t, "gdal_translate", "-q", "-b", "2", "-b", "3", "-b", "1", td("rgb.tif"), swapped)
	putObject(t, "mem://ingest-src", "rasters/rgb.tif", swapped)
	sum, err = Ingest(ctx, rgbTable, []string{rgbURI}, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sources[0].Status != StatusReplaced || !sum.Committed {
		t.Fatalf("after overwrite: %+v", sum)
	}
	if err := Export(ctx, rgbTable, ExportOptions{Source: rgbURI, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, swapped, 0, out)
	n, _ := countTiles(readTiles(t, rgbTable))
	for k, c := range n {
		if c != 1 {
			t.Fatalf("tile %v appears %d times", k, c)
		}
	}
}

// TestSourceChangedWhileRead: a source rewritten while it is being tiled fails the batch.
func TestSourceChangedWhileRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := copyFile(t, td("rgb.tif"), dir, "a.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	o.Progress = func(p Progress) {
		if p.TilesDone == 1 {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(src, later, later); err != nil {
				t.Error(err)
			}
		}
	}
	sum, err := Ingest(ctx, s, []string{src}, o)
	var se *SourceError
	if !errors.Is(err, ErrSourceChanged) || !errors.As(err, &se) || se.Source != src || sum.Committed {
		t.Fatalf("want ErrSourceChanged naming %s, got %v (%+v)", src, err, sum)
	}
}
