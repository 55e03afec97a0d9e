package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// makeRaster writes a w x h GeoTIFF in EPSG:4326 whose top-left corner is lon, lat, with two
// overview levels and pixel values from seed.
func makeRaster(t *testing.T, path string, lon, lat float64, w, h, seed int) {
	t.Helper()
	godal.RegisterAll()
	ds, err := godal.Create(godal.GTiff, path, 1, godal.UInt16, w, h)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := godal.NewSpatialRefFromEPSG(4326)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	if err := ds.SetSpatialRef(sr); err != nil {
		t.Fatal(err)
	}
	if err := ds.SetGeoTransform([6]float64{lon, 0.001, 0, lat, 0, -0.001}); err != nil {
		t.Fatal(err)
	}
	px := make([]uint16, w*h)
	for i := range px {
		px[i] = uint16((i*7 + seed*13) % 1000)
		if (i/w+i%w+seed)%97 == 0 {
			px[i] = 9999 // nodata
		}
	}
	b := ds.Bands()[0]
	if err := b.SetNoData(9999); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(0, 0, px, w, h); err != nil {
		t.Fatal(err)
	}
	if err := ds.BuildOverviews(godal.Levels(2, 4)); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
}

// parsedStats decodes stats with numbers as float64 for comparison.
func parsedStats(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// unionStats merges ingest's stats of several files as the stats of one file holding all
// their rows must read.
func unionStats(a, b map[string]any) map[string]any {
	if a == nil {
		return b
	}
	var merge func(x, y any, how string) any
	merge = func(x, y any, how string) any {
		switch xv := x.(type) {
		case map[string]any:
			yv, _ := y.(map[string]any)
			out := map[string]any{}
			for k, v := range xv {
				if w, ok := yv[k]; ok {
					out[k] = merge(v, w, how)
				}
			}
			return out
		case float64:
			yv := y.(float64)
			switch how {
			case "min":
				return min(xv, yv)
			case "max":
				return max(xv, yv)
			}
			return xv + yv
		case string:
			yv := y.(string)
			if how == "min" {
				return min(xv, yv)
			}
			return max(xv, yv)
		}
		return x
	}
	return map[string]any{
		"numRecords": merge(a["numRecords"], b["numRecords"], "sum"),
		"minValues":  merge(a["minValues"], b["minValues"], "min"),
		"maxValues":  merge(a["maxValues"], b["maxValues"], "max"),
		"nullCount":  merge(a["nullCount"], b["nullCount"], "sum"),
	}
}

func geoOf(t *testing.T, s delta.Store, a *delta.Add) map[string]any {
	t.Helper()
	b, err := delta.ReadAll(context.Background(), s, a.Path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := f.Lookup("geo")
	if !ok {
		t.Fatalf("%s has no geo metadata", a.Path)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOptimizeIngestedTable optimizes a table written by ingest.Ingest and checks that the
// merged file carries exactly the stats, GeoParquet metadata and sources tag of the files it
// replaces, that Export gives the same raster, and that ingesting the same sources again
// finds them unchanged.
func TestOptimizeIngestedTable(t *testing.T) {
	for _, cluster := range []string{"", "quadbin"} {
		t.Run("cluster="+cluster, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			var srcs []string
			for i := 0; i < 2; i++ {
				p := filepath.Join(dir, fmt.Sprintf("r%d.tif", i))
				makeRaster(t, p, 10+float64(i), 45, 600, 400, i)
				srcs = append(srcs, p)
			}
			s := openStore(t, filepath.Join(dir, "table"))
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			opts := ingest.Options{TileSize: 128, TargetFileBytes: 64 << 10, RowGroupBytes: 32 << 10, Logger: quiet, TempDir: dir}
			if _, err := ingest.Ingest(ctx, s, srcs, opts); err != nil {
				t.Fatal(err)
			}
			before := liveFiles(t, s, -1)
			if len(before) < 4 {
				t.Fatalf("ingest wrote %d files; want several", len(before))
			}
			var wantStats map[string]any
			var wantSources []sourceTag
			var bbox []float64
			for _, a := range before {
				wantStats = unionStats(wantStats, parsedStats(t, a.Stats))
				var tags []sourceTag
				if err := json.Unmarshal([]byte(a.Tags[TagSources]), &tags); err != nil {
					t.Fatal(err)
				}
				for _, tg := range tags {
					if !slices.Contains(wantSources, tg) {
						wantSources = append(wantSources, tg)
					}
				}
				g := geoOf(t, s, a)["columns"].(map[string]any)["footprint"].(map[string]any)["bbox"].([]any)
				if bbox == nil {
					bbox = []float64{g[0].(float64), g[1].(float64), g[2].(float64), g[3].(float64)}
				}
				for i := range 4 {
					if i < 2 {
						bbox[i] = min(bbox[i], g[i].(float64))
					} else {
						bbox[i] = max(bbox[i], g[i].(float64))
					}
				}
			}
			slices.SortFunc(wantSources, func(a, b sourceTag) int { return cmpString(a.URI, b.URI) })
			exportBefore := filepath.Join(dir, "before.tif")
			if err := ingest.Export(ctx, s, ingest.ExportOptions{Source: srcs[1], Out: exportBefore, Logger: quiet}); err != nil {
				t.Fatal(err)
			}

			m, err := Optimize(ctx, s, OptimizeOptions{ClusterBy: cluster, TempDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			after := liveFiles(t, s, -1)
			if len(after) != 1 || m.FilesRemoved != int64(len(before)) {
				t.Fatalf("%d files after, metrics %+v", len(after), m)
			}
			a := after[0]
			got := parsedStats(t, a.Stats)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(wantStats)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("stats of the merged file:\n%s\nwant the union of the inputs':\n%s", gj, wj)
			}
			var tags []sourceTag
			if err := json.Unmarshal([]byte(a.Tags[TagSources]), &tags); err != nil || !slices.Equal(tags, wantSources) {
				t.Fatalf("sources tag %s, want %v", a.Tags[TagSources], wantSources)
			}
			geo := geoOf(t, s, a)
			col := geo["columns"].(map[string]any)["footprint"].(map[string]any)
			if fmt.Sprint(col["bbox"]) != fmt.Sprint(bbox) || geo["primary_column"] != "footprint" || col["covering"] == nil {
				t.Fatalf("geo metadata %v, want bbox %v", geo, bbox)
			}

			exportAfter := filepath.Join(dir, "after.tif")
			if err := ingest.Export(ctx, s, ingest.ExportOptions{Source: srcs[1], Out: exportAfter, Logger: quiet}); err != nil {
				t.Fatal(err)
			}
			b1, _ := os.ReadFile(exportBefore)
			b2, _ := os.ReadFile(exportAfter)
			if !bytes.Equal(b1, b2) {
				t.Fatal("the export after optimize differs from the one before")
			}
			sum, err := ingest.Ingest(ctx, s, srcs, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range sum.Sources {
				if r.Status != ingest.StatusUnchanged {
					t.Fatalf("re-ingest after optimize: %s is %s", r.URI, r.Status)
				}
			}
		})
	}
}
