package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/deltaraster/deltaraster/delta"
)

// TestDataFiles ingests several sources into small files and row groups, then reads every
// data file with arrow-go (pqarrow) and parquet-go and checks the Parquet layout, the
// GeoParquet metadata and the Delta stats.
func TestDataFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := copyFile(t, td("rgb.tif"), dir, "a.tif")
	b := copyFile(t, td("rgb.tif"), dir, "b.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	o.TargetFileBytes = 400 << 10 // about 8 tiles of 3 x 16 KiB
	o.RowGroupBytes = 100 << 10
	sum, err := Ingest(ctx, s, []string{a, b}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) < 2 {
		t.Fatalf("want several files, got %v", sum.Files)
	}
	// parquet-go reads every row.
	tiles := readTiles(t, s)
	if int64(len(tiles)) != sum.Tiles || sum.Tiles != 2*6 {
		t.Fatalf("%d tiles read, %d written, want 12", len(tiles), sum.Tiles)
	}
	_, files := liveFiles(t, s)
	multiRG := false
	for _, add := range files {
		pf, err := file.NewParquetReader(delta.NewReaderAt(ctx, s, add.Path, add.Size))
		if err != nil {
			t.Fatal(err)
		}
		md := pf.MetaData()
		multiRG = multiRG || md.NumRowGroups() > 1
		for rg := 0; rg < md.NumRowGroups(); rg++ {
			for c := 0; c < md.Schema.NumColumns(); c++ {
				cc, err := md.RowGroup(rg).ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				if cc.Compression() != compress.Codecs.Zstd {
					t.Errorf("%s column %s compressed with %v", add.Path, md.Schema.Column(c).Path(), cc.Compression())
				}
				if p := md.Schema.Column(c).Path(); p == "b1" || p == colFootprint {
					for _, e := range cc.Encodings() {
						if e != pq.Encodings.Plain && e != pq.Encodings.RLE {
							t.Errorf("%s column %s encoded %v", add.Path, p, e)
						}
					}
					if st, _ := cc.StatsSet(); st {
						if s, err := cc.Statistics(); err == nil && s != nil && s.HasMinMax() {
							t.Errorf("%s column %s has min/max statistics", add.Path, p)
						}
					}
				}
			}
		}
		// arrow-go reads the whole file.
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 3}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkArrowTable(t, add, tbl)
		tbl.Release()
		// GeoParquet metadata.
		geo := md.KeyValueMetadata().FindValue("geo")
		if geo == nil {
			t.Fatalf("%s has no geo metadata", add.Path)
		}
		rows := readFileTiles(t, s, add)
		checkSorted(t, add, rows)
		checkGeo(t, *geo, rows)
		pf.Close()
		checkStats(t, add, rows)
	}
	if !multiRG {
		t.Error("no file has more than one row group")
	}
}

func checkSorted(t *testing.T, add *delta.Add, rows []tile) {
	t.Helper()
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Quadbin, b.Quadbin)) > 0 {
			t.Fatalf("%s: rows %d and %d not sorted by (level, quadbin)", add.Path, i-1, i)
		}
	}
}

// envelope is the bbox of a WKB polygon.
func envelope(t *testing.T, wkb []byte) [4]float64 {
	t.Helper()
	rings, err := parsePolygonWKB(wkb)
	if err != nil {
		t.Fatal(err)
	}
	e := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, r := range rings {
		for _, p := range r {
			e = [4]float64{min(e[0], p[0]), min(e[1], p[1]), max(e[2], p[0]), max(e[3], p[1])}
		}
	}
	return e
}

func checkArrowTable(t *testing.T, add *delta.Add, tbl arrow.Table) {
	t.Helper()
	var st struct {
		N int64 `json:"numRecords"`
	}
	if err := json.Unmarshal([]byte(add.Stats), &st); err != nil {
		t.Fatal(err)
	}
	if tbl.NumRows() != st.N {
		t.Fatalf("%s: arrow read %d rows, stats say %d", add.Path, tbl.NumRows(), st.N)
	}
	sc := tbl.Schema()
	want := map[string]arrow.Type{
		colSource: arrow.STRING, colLevel: arrow.INT32, colQuadbin: arrow.INT64, colGeoTransform: arrow.LIST,
		colNoData: arrow.FLOAT64, "b1": arrow.BINARY, "b1_min": arrow.FLOAT64, "b1_valid": arrow.INT64,
		colFootprint: arrow.BINARY, colBBox: arrow.STRUCT, colIngestedAt: arrow.TIMESTAMP,
	}
	for name, typ := range want {
		idx := sc.FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("%s: arrow schema has no column %s: %s", add.Path, name, sc)
		}
		if got := sc.Field(idx[0]).Type.ID(); got != typ {
			t.Errorf("%s: column %s is %s, want %s", add.Path, name, got, typ)
		}
	}
	// Every row's blob has width*height*1 bytes and its footprint is a polygon.
	b1 := tbl.Column(sc.FieldIndices("b1")[0]).Data().Chunks()
	fp := tbl.Column(sc.FieldIndices(colFootprint)[0]).Data().Chunks()
	for i, ch := range b1 {
		bin := ch.(*array.Binary)
		for j := 0; j < bin.Len(); j++ {
			if len(bin.Value(j)) != 128*128 {
				t.Fatalf("%s: b1 blob of %d bytes", add.Path, len(bin.Value(j)))
			}
			if _, err := parsePolygonWKB(fp[i].(*array.Binary).Value(j)); err != nil {
				t.Fatalf("%s: footprint: %v", add.Path, err)
			}
		}
	}
}

func checkGeo(t *testing.T, raw string, rows []tile) {
	t.Helper()
	var g struct {
		Version       string `json:"version"`
		PrimaryColumn string `json:"primary_column"`
		Columns       map[string]struct {
			Encoding      string              `json:"encoding"`
			GeometryTypes []string            `json:"geometry_types"`
			CRS           json.RawMessage     `json:"crs"`
			BBox          []float64           `json:"bbox"`
			Covering      map[string]struct { // "bbox"
				XMin []string `json:"xmin"`
				YMin []string `json:"ymin"`
				XMax []string `json:"xmax"`
				YMax []string `json:"ymax"`
			} `json:"covering"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		t.Fatalf("geo metadata %s: %v", raw, err)
	}
	if g.Version != "1.1.0" || g.PrimaryColumn != colFootprint {
		t.Fatalf("geo metadata %s", raw)
	}
	c, ok := g.Columns[colFootprint]
	if !ok || c.Encoding != "WKB" || len(c.GeometryTypes) != 1 || c.GeometryTypes[0] != "Polygon" {
		t.Fatalf("geo metadata column: %s", raw)
	}
	if c.CRS != nil {
		t.Fatalf("geo metadata has a crs (want it omitted: OGC:CRS84): %s", raw)
	}
	cov, ok := c.Covering["bbox"]
	pair := func(p []string, leaf string) bool { return len(p) == 2 && p[0] == colBBox && p[1] == leaf }
	if !ok || !pair(cov.XMin, "xmin") || !pair(cov.YMin, "ymin") || !pair(cov.XMax, "xmax") || !pair(cov.YMax, "ymax") {
		t.Fatalf("geo covering: %s", raw)
	}
	// Each row's covering bbox is the envelope of its footprint; the file bbox is their union.
	union := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for i, r := range rows {
		if e := envelope(t, r.Footprint); e != r.BBox {
			t.Fatalf("row %d: bbox %v, footprint envelope %v", i, r.BBox, e)
		}
		union = [4]float64{min(union[0], r.BBox[0]), min(union[1], r.BBox[1]), max(union[2], r.BBox[2]), max(union[3], r.BBox[3])}
	}
	if len(c.BBox) != 4 || [4]float64(c.BBox) != union {
		t.Fatalf("geo bbox %v, union of the rows' bboxes %v", c.BBox, union)
	}
}

// checkStats compares a file's Delta stats with its rows.
func checkStats(t *testing.T, add *delta.Add, rows []tile) {
	t.Helper()
	var st struct {
		N     int64          `json:"numRecords"`
		Min   map[string]any `json:"minValues"`
		Max   map[string]any `json:"maxValues"`
		Nulls map[string]any `json:"nullCount"`
	}
	if err := json.Unmarshal([]byte(add.Stats), &st); err != nil {
		t.Fatal(err)
	}
	if st.N != int64(len(rows)) {
		t.Fatalf("%s: numRecords %d, %d rows", add.Path, st.N, len(rows))
	}
	lo, hi := rows[0], rows[0]
	for _, r := range rows {
		lo.Quadbin, hi.Quadbin = min(lo.Quadbin, r.Quadbin), max(hi.Quadbin, r.Quadbin)
		lo.Col, hi.Col = min(lo.Col, r.Col), max(hi.Col, r.Col)
		lo.Source, hi.Source = min(lo.Source, r.Source), max(hi.Source, r.Source)
		lo.BBox[0], hi.BBox[2] = min(lo.BBox[0], r.BBox[0]), max(hi.BBox[2], r.BBox[2])
		lo.Stats[0].Min = min(lo.Stats[0].Min, r.Stats[0].Min)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"min quadbin", st.Min[colQuadbin], float64(lo.Quadbin)},
		{"max quadbin", st.Max[colQuadbin], float64(hi.Quadbin)},
		{"min tile_col", st.Min[colTileCol], float64(lo.Col)},
		{"max tile_col", st.Max[colTileCol], float64(hi.Col)},
		{"min source", st.Min[colSource], lo.Source},
		{"max source", st.Max[colSource], hi.Source},
		{"min bbox.xmin", st.Min[colBBox].(map[string]any)["xmin"], lo.BBox[0]},
		{"max bbox.xmax", st.Max[colBBox].(map[string]any)["xmax"], hi.BBox[2]},
		{"min b1_min", st.Min["b1_min"], lo.Stats[0].Min},
		{"nulls nodata", st.Nulls[colNoData], float64(len(rows))},
		{"nulls level", st.Nulls[colLevel], 0.0},
	}
	for _, c := range checks {
		if c.got != c.exp {
			t.Errorf("%s: stats %s = %v, want %v", add.Path, c.name, c.got, c.exp)
		}
	}
	for _, k := range []string{"b1", colFootprint, colGeoTransform} {
		if _, ok := st.Min[k]; ok {
			t.Errorf("%s: stats hold min of %s", add.Path, k)
		}
	}
}
