package ingest

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
)

func TestKeepEmptyAndLevels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// u16.tif at tile size 256: tile 1,0 (x >= 256) is all nodata.
	s := openStore(t, filepath.Join(dir, "skip"))
	sum, err := Ingest(ctx, s, []string{td("u16.tif")}, quietOpts())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tiles != 1 || sum.EmptyTiles != 1 {
		t.Fatalf("skipping: %+v", sum)
	}
	s = openStore(t, filepath.Join(dir, "keep"))
	o := quietOpts()
	o.KeepEmpty = true
	sum, err = Ingest(ctx, s, []string{td("u16.tif")}, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tiles != 2 || sum.EmptyTiles != 0 {
		t.Fatalf("keeping: %+v", sum)
	}
	for _, tl := range readTiles(t, s) {
		st := tl.Stats[0]
		if tl.Col == 1 && (st.Valid != 0 || !math.IsNaN(st.Min) || !math.IsNaN(st.Mean)) {
			t.Fatalf("empty tile stats %+v, want 0 valid and null min/mean", st)
		}
		if tl.Col == 0 && (st.Valid != 256*200 || st.Min != 0 || st.Max != 51199) {
			t.Fatalf("tile 0,0 band 1 stats %+v", st)
		}
		if !tl.HasNoData || tl.NoData != 65535 || tl.DType != "UInt16" {
			t.Fatalf("nodata %v %v dtype %s", tl.NoData, tl.HasNoData, tl.DType)
		}
	}
	out := filepath.Join(dir, "keep.tif")
	if err := Export(ctx, s, ExportOptions{Source: td("u16.tif"), Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, td("u16.tif"), 0, out)

	// Only the overview levels 1 and 2 of the COG; level 0 is not there to export.
	s = openStore(t, filepath.Join(dir, "levels"))
	o = quietOpts()
	o.TileSize = 128
	o.Levels = []int{1, 2, 7}
	sum, err = Ingest(ctx, s, []string{td("cog.tif")}, o)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[int32]bool{}
	for _, tl := range readTiles(t, s) {
		levels[tl.Level] = true
	}
	if len(levels) != 2 || !levels[1] || !levels[2] || sum.Sources[0].Levels != 2 {
		t.Fatalf("levels %v, summary %+v", levels, sum)
	}
	err = Export(ctx, s, ExportOptions{Source: td("cog.tif"), Out: filepath.Join(dir, "none.tif")})
	if !errors.Is(err, ErrNoTiles) {
		t.Fatalf("export of a missing level: %v", err)
	}
}

// TestFloatStats: NaN is nodata for floats without a nodata value.
func TestFloatStats(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "table"))
	if _, err := Ingest(context.Background(), s, []string{td("f32nan.tif")}, quietOpts()); err != nil {
		t.Fatal(err)
	}
	ref := readLevel(t, td("f32nan.tif"), 0)
	for _, tl := range readTiles(t, s) {
		if tl.HasNoData {
			t.Fatal("nodata set for a source without one")
		}
		var n int64
		sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for y := int(tl.Row) * 256; y < min(ref.h, int(tl.Row+1)*256); y++ {
			for x := int(tl.Col) * 256; x < min(ref.w, int(tl.Col+1)*256); x++ {
				v := ref.bands[0][y*ref.w+x]
				if math.IsNaN(v) {
					continue
				}
				n, sum, lo, hi = n+1, sum+v, min(lo, v), max(hi, v)
			}
		}
		st := tl.Stats[0]
		if st.Valid != n || st.Min != lo || st.Max != hi || math.Abs(st.Mean-sum/float64(n)) > 1e-9 {
			t.Fatalf("tile %d,%d stats %+v, want valid %d min %v max %v mean %v", tl.Col, tl.Row, st, n, lo, hi, sum/float64(n))
		}
	}
}

// TestExportCOGAndBBox: a COG export (built as GTiff, translated with the COG driver) and a
// bbox export, each compared with the source window it covers.
func TestExportCOGAndBBox(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	cog := filepath.Join(dir, "out.cog.tif")
	if err := Export(ctx, s, ExportOptions{Source: td("rgb.tif"), Out: cog, Format: "COG"}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, td("rgb.tif"), 0, cog)
	ds, err := godal.Open(cog)
	if err != nil {
		t.Fatal(err)
	}
	layout := ds.Metadata("LAYOUT", godal.Domain("IMAGE_STRUCTURE"))
	ds.Close()
	if layout != "COG" {
		t.Fatalf("LAYOUT=%q, want COG", layout)
	}

	// The bbox of tile 1,0 only (shrunk so it does not touch its neighbours).
	var bb [4]float64
	for _, tl := range readTiles(t, s) {
		if tl.Col == 1 && tl.Row == 0 {
			c := [2]float64{(tl.BBox[0] + tl.BBox[2]) / 2, (tl.BBox[1] + tl.BBox[3]) / 2}
			bb = [4]float64{c[0] - 1e-5, c[1] - 1e-5, c[0] + 1e-5, c[1] + 1e-5}
		}
	}
	out := filepath.Join(dir, "bbox.tif")
	if err := Export(ctx, s, ExportOptions{Source: td("rgb.tif"), Out: out, BBox: &bb}); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "window.tif")
	gdalRun(t, "gdal_translate", "-q", "-srcwin", "128", "0", "128", "128", td("rgb.tif"), want)
	assertSameRaster(t, want, 0, out)

	err = Export(ctx, s, ExportOptions{Source: "nope.tif", Out: filepath.Join(dir, "x.tif")})
	if !errors.Is(err, ErrNoTiles) || !strings.Contains(err.Error(), "nope.tif") {
		t.Fatalf("export of an unknown source: %v", err)
	}
}

func TestOptionsAndBandNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "table"))
	for _, o := range []Options{{TileSize: 64}, {TileSize: 4096}, {Levels: []int{-1}}, {Workers: -1}, {Bands: []string{"Red"}}, {Bands: []string{"r", "r"}}, {Bands: []string{"source"}}, {Bands: []string{"a", "a_min"}}} {
		if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
	if _, err := Ingest(ctx, s, nil, quietOpts()); err == nil {
		t.Fatal("no sources accepted")
	}
	o := quietOpts()
	o.Bands = []string{"red", "green"}
	if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, o); !errors.Is(err, ErrBandLayout) {
		t.Fatalf("2 names for 3 bands: %v", err)
	}
	o.Bands = []string{"red", "green", "blue"}
	if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	st, err := snap.Metadata().Schema()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range st.Fields {
		names = append(names, f.Name)
	}
	for _, want := range []string{"red", "red_min", "red_max", "red_mean", "red_valid", "blue", colFootprint, colBBox, colRasterWidth} {
		if !slices.Contains(names, want) {
			t.Fatalf("schema %v has no %s", names, want)
		}
	}
	o.Bands = []string{"r", "g", "b"}
	if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, o); !errors.Is(err, ErrBandLayout) {
		t.Fatalf("other names for an existing table: %v", err)
	}
	out := filepath.Join(dir, "out.tif")
	if err := Export(ctx, s, ExportOptions{Source: td("rgb.tif"), Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, td("rgb.tif"), 0, out)
}
