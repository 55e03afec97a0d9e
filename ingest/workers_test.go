package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
)

func TestReadPlan(t *testing.T) {
	const mib = 1 << 20
	u16x4 := func(w, h, bw, bh int) *rasterInfo {
		return &rasterInfo{bands: 4, dtype: godal.UInt16,
			levels: []levelInfo{{width: w, height: h, blockW: bw, blockH: bh}}}
	}
	for _, c := range []struct {
		name          string
		info          *rasterInfo
		tile, want    int
		cache         int64
		workers, cols int // want
		drop          bool
	}{
		{"tiled, tiles on blocks", u16x4(20000, 20000, 256, 256), 256, 2, 64 * mib, 2, 4, true},
		{"tiled, more workers", u16x4(20000, 20000, 256, 256), 256, 8, 64 * mib, 8, 4, true},
		{"tiled, small cache", u16x4(20000, 20000, 256, 256), 256, 8, 4 * mib, 1, 4, true},
		{"blocks twice the tile", u16x4(20000, 20000, 512, 512), 256, 2, 64 * mib, 2, 4, false},
		{"blocks 3x the tile", u16x4(20000, 20000, 384, 384), 128, 2, 64 * mib, 2, 6, false},
		{"tiles 2x the blocks", u16x4(20000, 20000, 256, 256), 512, 2, 64 * mib, 2, 4, true},
		{"wide strips: one worker", u16x4(20000, 20000, 20000, 1), 256, 2, 64 * mib, 1, 79, true},
		{"narrow strips: rows", u16x4(2000, 2000, 2000, 8), 256, 2, 64 * mib, 2, 8, true},
		{"strips of 3 rows", u16x4(2000, 2000, 2000, 3), 256, 2, 64 * mib, 2, 8, false},
		{"one tile", u16x4(200, 200, 256, 256), 256, 2, 64 * mib, 1, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newReadPlan(c.info, []int{0}, c.tile, c.want, c.cache)
			g := p.grids[0]
			if p.workers != c.workers || g.unitCols != c.cols || g.dropBlocks != c.drop {
				t.Fatalf("workers %d, unit %d tiles, drop %v; want %d, %d, %v", p.workers, g.unitCols,
					g.dropBlocks, c.workers, c.cols, c.drop)
			}
			if p.pool < 1 || int64(p.pool*p.workers)*tileBytes(c.info, c.tile) > max(tileBufferBytes, int64(p.workers)*tileBytes(c.info, c.tile)) {
				t.Fatalf("pool of %d tiles per worker", p.pool)
			}
			// Units cover every tile slot once, in row-major order.
			next := 0
			for u := range g.units() {
				row, c0, c1 := g.unit(u)
				for col := c0; col < c1; col++ {
					if row*g.cols+col != next {
						t.Fatalf("unit %d: tile %d,%d, want slot %d", u, col, row, next)
					}
					next++
				}
			}
			if next != g.cols*g.rows {
				t.Fatalf("units cover %d slots of %d", next, g.cols*g.rows)
			}
		})
	}
}

// fileRows is the content of a table's data files, in commit order: per file, its rows.
func fileRows(t *testing.T, dir string, files []string) [][]string {
	t.Helper()
	s := openStore(t, dir)
	_, adds := liveFiles(t, s)
	byPath := map[string]int{}
	for i, a := range adds {
		byPath[a.Path] = i
	}
	var out [][]string
	for _, f := range files {
		var rows []string
		for _, tl := range readFileTiles(t, s, adds[byPath[f]]) {
			rows = append(rows, fmt.Sprintf("%s %d %d,%d q%d %x %v", filepath.Base(tl.Source), tl.Level, tl.Col, tl.Row,
				tl.Quadbin, bytes.Join(tl.Bands, nil)[:64], tl.Stats))
		}
		out = append(out, rows)
	}
	return out
}

// TestWorkersSameFiles ingests the same sources with 1, 2 and 5 workers: the data files hold
// the same rows in the same order (which tiles land in which file does not depend on the
// workers), for tiled, striped and overview sources, with tiles on blocks or not.
func TestWorkersSameFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tiled := filepath.Join(dir, "tiled.tif")
	gdalRun(t, "gdal_translate", "-q", "-outsize", "1300", "900", "-co", "TILED=YES",
		"-co", "BLOCKXSIZE=128", "-co", "BLOCKYSIZE=128", td("u16.tif"), tiled)
	striped := filepath.Join(dir, "striped.tif")
	gdalRun(t, "gdal_translate", "-q", "-outsize", "1300", "900", td("rgb.tif"), striped)
	wide := filepath.Join(dir, "wide.tif") // blocks twice the tile size
	gdalRun(t, "gdal_translate", "-q", "-outsize", "1300", "900", "-co", "TILED=YES",
		"-co", "BLOCKXSIZE=256", "-co", "BLOCKYSIZE=256", td("u16.tif"), wide)
	for _, c := range []struct {
		name    string
		sources []string
	}{
		{"tiled", []string{tiled}},
		{"striped", []string{striped}},
		{"wide blocks", []string{wide}},
		{"overviews", []string{td("cog.tif")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want [][]string
			for _, workers := range []int{1, 2, 5} {
				tdir := filepath.Join(dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(c.name, " ", "-"), workers))
				o := quietOpts()
				o.TileSize = 128
				o.Workers = workers
				o.TargetFileBytes = 1 << 20 // several files
				o.RowGroupBytes = 256 << 10
				sum, err := Ingest(ctx, openStore(t, tdir), c.sources, o)
				if err != nil {
					t.Fatal(err)
				}
				got := fileRows(t, tdir, sum.Files)
				if workers == 1 {
					want = got
					if c.name != "overviews" && len(got) < 2 {
						t.Fatalf("want several files, got %d", len(got))
					}
					continue
				}
				if !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("%d workers: files differ from 1 worker's", workers)
				}
			}
		})
	}
}

// TestWorkersCancel: cancelling the context while workers read stops the ingest with the
// context's error and nothing committed.
func TestWorkersCancel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tiled.tif")
	gdalRun(t, "gdal_translate", "-q", "-outsize", "1300", "900", "-co", "TILED=YES",
		"-co", "BLOCKXSIZE=128", "-co", "BLOCKYSIZE=128", td("u16.tif"), src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := quietOpts()
	o.TileSize = 128
	o.Workers = 3
	o.Progress = func(p Progress) {
		if p.TilesDone == 5 {
			cancel()
		}
	}
	s := openStore(t, filepath.Join(dir, "table"))
	sum, err := Ingest(ctx, s, []string{src}, o)
	if !errors.Is(err, context.Canceled) || sum.Committed {
		t.Fatalf("want context.Canceled and no commit, got %v (%+v)", err, sum)
	}
}

// TestUncommittedListsEveryFile: when a source fails while a data file is being written in
// the background, the UncommittedError lists every data file in the table directory.
func TestUncommittedListsEveryFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "tiled.tif") // the layout of truncated.tif: 1 band Int16
	gdalRun(t, "gdal_translate", "-q", "-outsize", "1300", "900", "-co", "TILED=YES",
		"-co", "BLOCKXSIZE=128", "-co", "BLOCKYSIZE=128", td("cog.tif"), good)
	truncated := copyFile(t, td("truncated.tif"), dir, "truncated.tif")
	tdir := filepath.Join(dir, "table")
	o := quietOpts()
	o.TileSize = 128
	o.TargetFileBytes = 100 << 10 // about 3 tiles of 32 KiB
	_, err := Ingest(ctx, openStore(t, tdir), []string{good, truncated}, o)
	var ue *UncommittedError
	if !errors.As(err, &ue) {
		t.Fatalf("want an UncommittedError, got %v", err)
	}
	ents, err := os.ReadDir(tdir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".parquet") {
			onDisk = append(onDisk, e.Name())
		}
	}
	listed := slices.Clone(ue.Files)
	slices.Sort(listed)
	if len(onDisk) < 2 || !slices.Equal(onDisk, listed) {
		t.Fatalf("data files %v, listed %v", onDisk, listed)
	}
}
