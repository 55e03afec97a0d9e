package ingest

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/internal/gdal"
	"github.com/deltaraster/deltaraster/quadbin"
)

// cornersLonLat transforms the four corners of a raster to lon/lat with GDAL.
func cornersLonLat(t *testing.T, path string) [][2]float64 {
	t.Helper()
	ds, err := godal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	gt, _ := ds.GeoTransform()
	st := ds.Structure()
	wgs, _ := godal.NewSpatialRefFromEPSG(4326)
	defer wgs.Close()
	tr, err := godal.NewTransform(ds.SpatialRef(), wgs)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var xs, ys []float64
	for _, p := range [][2]float64{{0, 0}, {float64(st.SizeX), 0}, {float64(st.SizeX), float64(st.SizeY)}, {0, float64(st.SizeY)}} {
		x, y := pixelToGeo(gt, p[0], p[1])
		xs, ys = append(xs, x), append(ys, y)
	}
	if err := tr.TransformEx(xs, ys, nil, nil); err != nil {
		t.Fatal(err)
	}
	var out [][2]float64
	for i := range xs {
		out = append(out, [2]float64{xs[i], ys[i]})
	}
	return out
}

// TestFootprints checks, per source, the crs column, that every raster corner lies inside the
// union of its level-0 tiles' bboxes (any CRS, rotated grids too), that footprints are lon/lat
// (polar source near Greenland), and that each quadbin cell holds its tile's centre.
func TestFootprints(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		crs  string
		lat  [2]float64 // expected latitude range of the whole raster
		lon  [2]float64
	}{
		{"rgb.tif", "EPSG:32631", [2]float64{41, 43}, [2]float64{2.9, 3.1}},
		{"f32nan.tif", "EPSG:4326", [2]float64{48, 50}, [2]float64{10, 13}},
		{"rotated.tif", "PROJCRS[", [2]float64{46, 48}, [2]float64{6, 8}},
		{"polar.tif", "EPSG:3413", [2]float64{72, 77}, [2]float64{-60, -40}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "table"))
			o := quietOpts()
			o.TileSize = 128
			if _, err := Ingest(ctx, s, []string{td(c.name)}, o); err != nil {
				t.Fatal(err)
			}
			tiles := readTiles(t, s)
			union := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
			for _, tl := range tiles {
				if !strings.HasPrefix(tl.CRS, c.crs) {
					t.Fatalf("crs %.40q, want prefix %q", tl.CRS, c.crs)
				}
				b := tl.BBox
				union = [4]float64{min(union[0], b[0]), min(union[1], b[1]), max(union[2], b[2]), max(union[3], b[3])}
				if b[1] < c.lat[0] || b[3] > c.lat[1] || b[0] < c.lon[0] || b[2] > c.lon[1] {
					t.Fatalf("tile %d,%d bbox %v outside lon %v lat %v", tl.Col, tl.Row, b, c.lon, c.lat)
				}
				// The quadbin cell holds the tile (centre), at about the tile's size.
				z := quadbin.Resolution(uint64(tl.Quadbin))
				west, south, east, north := quadbin.Bounds(uint64(tl.Quadbin))
				if b[2] < west || b[0] > east || b[3] < south || b[1] > north {
					t.Fatalf("tile bbox %v does not meet its quadbin cell %v", b, [4]float64{west, south, east, north})
				}
				if east-west < b[2]-b[0] || east-west > 4*(b[2]-b[0]) {
					t.Fatalf("quadbin resolution %d: cell %g degrees wide for a tile of %g", z, east-west, b[2]-b[0])
				}
			}
			const eps = 1e-9
			for _, p := range cornersLonLat(t, td(c.name)) {
				if p[0] < union[0]-eps || p[0] > union[2]+eps || p[1] < union[1]-eps || p[1] > union[3]+eps {
					t.Fatalf("raster corner %v outside the tiles' bboxes %v", p, union)
				}
			}
		})
	}
}

// TestCRSRoundTrip: the crs column of a source without an EPSG code is WKT2 that GDAL reads
// back as the same CRS.
func TestCRSRoundTrip(t *testing.T) {
	ds, err := godal.Open(td("rotated.tif"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	w2, err := gdal.WKT2(ds.Projection())
	if err != nil {
		t.Fatal(err)
	}
	if !sameSRS(t, ds.Projection(), w2) {
		t.Fatalf("WKT2 %s is not the source CRS", w2)
	}
}

func TestCacheMax(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "table"))
	o := quietOpts()
	o.CacheMaxBytes = 5 << 20
	if _, err := Ingest(context.Background(), s, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	if got := gdal.CacheMax(); got != 5<<20 {
		t.Fatalf("GDAL cache max %d after Ingest, want %d", got, 5<<20)
	}
	if used := gdal.CacheUsed(); used > 5<<20 {
		t.Fatalf("GDAL cache holds %d bytes, above its limit", used)
	}
	o.CacheMaxBytes = 0 // default
	if _, err := Ingest(context.Background(), s, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	if got := gdal.CacheMax(); got != DefaultCacheMaxBytes {
		t.Fatalf("GDAL cache max %d, want the default %d", got, DefaultCacheMaxBytes)
	}
}
