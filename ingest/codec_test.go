package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
)

func TestCodecRoundTrip(t *testing.T) {
	c, err := newCodec(layout{Bands: []string{"red", "nir"}, DType: "Float32"})
	if err != nil {
		t.Fatal(err)
	}
	in := tile{
		Source: "s3://b/k.tif", SourceVersion: `"etag"`, Level: 2, Col: 3, Row: 4,
		RasterWidth: 300, RasterHeight: 200, Quadbin: 5209574053332910079, CRS: "EPSG:4326",
		GeoTransform: [6]float64{1, 2, 3, 4, 5, 6}, Width: 128, Height: 128, DType: "Float32",
		NoData: -9999, HasNoData: true,
		Bands:     [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}},
		Stats:     []bandStats{{Min: 1, Max: 2, Mean: 1.5, Valid: 10}, {Min: nan, Max: nan, Mean: nan}},
		Footprint: polygonWKB([][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 0}}),
		BBox:      [4]float64{0, 0, 1, 1}, IngestedAt: 1700000000123456,
	}
	row := c.encode(nil, &in)
	if len(row) != len(c.leaves)+5 { // the geotransform list has 6 values in one column
		t.Fatalf("%d values for %d columns", len(row), len(c.leaves))
	}
	var out tile
	if err := c.decode(row, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out.Stats[1].Min) || out.Stats[1].Valid != 0 {
		t.Fatalf("null stats decoded as %+v", out.Stats[1])
	}
	out.Stats[1], in.Stats[1] = bandStats{}, bandStats{}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	in.HasNoData, in.NoData = false, 0
	if err := c.decode(c.encode(row, &in), &out); err != nil || out.HasNoData {
		t.Fatalf("null nodata: %v %+v", err, out)
	}
	rings, err := parsePolygonWKB(in.Footprint)
	if err != nil || len(rings) != 1 || len(rings[0]) != 4 || rings[0][2] != [2]float64{1, 1} {
		t.Fatalf("wkb: %v %v", rings, err)
	}
}

// TestUntaggedFiles: files without the sources tag (as another engine may rewrite them) are
// found through their stats and source columns.
func TestUntaggedFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := copyFile(t, td("rgb.tif"), dir, "a.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	if _, err := Ingest(ctx, s, []string{src}, o); err != nil {
		t.Fatal(err)
	}
	// Rewrite every file under a new name with no tags.
	_, files := liveFiles(t, s)
	txn, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range files {
		b, err := delta.ReadAll(ctx, s, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		np := "untagged-" + a.Path
		if err := s.Put(ctx, np, bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
		txn.Remove(&delta.Remove{Path: a.Path, DataChange: false})
		txn.Add(&delta.Add{Path: np, PartitionValues: delta.PartitionValues{}, Size: a.Size, ModificationTime: a.ModificationTime, Stats: a.Stats})
	}
	if _, err := txn.Commit(ctx, "OPTIMIZE", nil); err != nil {
		t.Fatal(err)
	}
	sum, err := Ingest(ctx, s, []string{src}, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Committed || sum.Sources[0].Status != StatusUnchanged {
		t.Fatalf("unchanged source through untagged files: %+v", sum)
	}
	gdalRun(t, "gdal_translate", "-q", "-b", "2", "-b", "1", "-b", "3", td("rgb.tif"), src)
	sum, err = Ingest(ctx, s, []string{src}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Committed || sum.Sources[0].Status != StatusReplaced || len(sum.RemovedFiles) != len(files) {
		t.Fatalf("changed source through untagged files: %+v", sum)
	}
	n, versions := countTiles(readTiles(t, s))
	if len(n) != 6 || len(versions[src]) != 1 {
		t.Fatalf("tiles %v versions %v", n, versions)
	}
	out := filepath.Join(dir, "out.tif")
	if err := Export(ctx, s, ExportOptions{Source: src, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, src, 0, out)
}

func TestGDALErrorHandler(t *testing.T) {
	var buf bytes.Buffer
	eh := errorHandler(slog.New(slog.NewTextHandler(&buf, nil)), "src.tif")
	if err := eh(godal.CE_Warning, 1, "careful"); err != nil {
		t.Fatalf("a warning is an error: %v", err)
	}
	if !strings.Contains(buf.String(), "careful") || !strings.Contains(buf.String(), "src.tif") {
		t.Fatalf("warning not logged: %q", buf.String())
	}
	if err := eh(godal.CE_Debug, 1, "debug"); err != nil {
		t.Fatal(err)
	}
	if err := eh(godal.CE_Failure, 1, "broken"); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a failure is not an error: %v", err)
	}
}
