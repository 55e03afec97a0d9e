package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// testdataDir holds the rasters testdata/make.sh wrote for this test binary.
var testdataDir string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	dir, err := os.MkdirTemp("", "deltaraster-ingest-testdata-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("sh", filepath.Join("..", "testdata", "make.sh"), dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "testdata/make.sh:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	testdataDir = dir
	// The tests run in a private network namespace with the object-store servers of
	// internal/testservers (this binary runs again there, making its own testdata).
	code := testservers.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func td(name string) string { return filepath.Join(testdataDir, name) }

// quietOpts are Options for tests: GDAL warnings to the test log would be noise.
func quietOpts() Options {
	return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func openStore(t *testing.T, url string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyFile copies a test raster to dir/name and returns the new path.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gdalRun(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// liveFiles lists the live data files of a table.
func liveFiles(t *testing.T, s delta.Store) (*delta.Snapshot, []*delta.Add) {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var out []*delta.Add
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return snap, out
}

// readTiles reads every row of the live files with parquet-go (blobs copied).
func readTiles(t *testing.T, s delta.Store) []tile {
	t.Helper()
	_, files := liveFiles(t, s)
	var out []tile
	for _, a := range files {
		out = append(out, readFileTiles(t, s, a)...)
	}
	return out
}

// readFileTiles reads the rows of one data file, in file order.
func readFileTiles(t *testing.T, s delta.Store, a *delta.Add) []tile {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	l, err := layoutOf(snap.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCodec(l)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openDataFile(ctx, s, a)
	if err != nil {
		t.Fatal(err)
	}
	if !c.sameSchema(f.Schema()) {
		t.Fatalf("%s: schema %s, want %s", a.Path, f.Schema(), c.schema)
	}
	var out []tile
	rows := parquet.NewReader(f, c.schema)
	defer rows.Close()
	buf := make([]parquet.Row, 4)
	for {
		n, err := rows.ReadRows(buf)
		for _, r := range buf[:n] {
			var tl tile
			if err := c.decode(r, &tl); err != nil {
				t.Fatal(err)
			}
			for i := range tl.Bands {
				tl.Bands[i] = bytes.Clone(tl.Bands[i])
			}
			tl.Footprint = bytes.Clone(tl.Footprint)
			out = append(out, tl)
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// rasterLevel is the pixels and grid of one level of a raster file, read with GDAL.
type rasterLevel struct {
	w, h      int
	dtype     godal.DataType
	gt        [6]float64
	srs       string
	noData    float64
	hasNoData bool
	bands     [][]float64
}

func readLevel(t *testing.T, path string, level int) rasterLevel {
	t.Helper()
	initGDAL(DefaultCacheMaxBytes)
	ds, err := godal.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer ds.Close()
	st := ds.Structure()
	gt, err := ds.GeoTransform()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rl := rasterLevel{w: st.SizeX, h: st.SizeY, dtype: st.DataType, gt: gt, srs: ds.Projection()}
	for _, b := range ds.Bands() {
		if level > 0 {
			ovr := b.Overviews()
			if len(ovr) < level {
				t.Fatalf("%s has %d overviews, want level %d", path, len(ovr), level)
			}
			b = ovr[level-1]
		}
		bs := b.Structure()
		if level > 0 {
			rl.gt = overviewGeoTransform(gt, st.SizeX, st.SizeY, bs.SizeX, bs.SizeY)
			rl.w, rl.h = bs.SizeX, bs.SizeY
		}
		rl.noData, rl.hasNoData = b.NoData()
		buf := make([]float64, bs.SizeX*bs.SizeY)
		if err := b.Read(0, 0, buf, bs.SizeX, bs.SizeY); err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		rl.bands = append(rl.bands, buf)
	}
	return rl
}

// sameSRS compares two CRS definitions with OGR.
func sameSRS(t *testing.T, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	sa, err := godal.NewSpatialRefFromWKT(a)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := godal.NewSpatialRefFromWKT(b)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	return sa.IsSame(sb)
}

// assertSameRaster checks that got (a file) equals level of want (a file) pixel for pixel on
// every band, with the same grid, CRS, data type and nodata.
func assertSameRaster(t *testing.T, want string, level int, got string) {
	t.Helper()
	a, b := readLevel(t, want, level), readLevel(t, got, 0)
	if a.w != b.w || a.h != b.h || len(a.bands) != len(b.bands) || a.dtype != b.dtype {
		t.Fatalf("%s level %d is %dx%dx%d %s, export is %dx%dx%d %s", want, level, a.w, a.h, len(a.bands), a.dtype,
			b.w, b.h, len(b.bands), b.dtype)
	}
	for i := range a.gt {
		if math.Abs(a.gt[i]-b.gt[i]) > 1e-9*math.Max(1, math.Abs(a.gt[i])) {
			t.Fatalf("%s level %d geotransform %v, export %v", want, level, a.gt, b.gt)
		}
	}
	if !sameSRS(t, a.srs, b.srs) {
		t.Fatalf("%s CRS differs from the export's:\n%s\n%s", want, a.srs, b.srs)
	}
	if a.hasNoData != b.hasNoData || (a.hasNoData && !sameFloat(a.noData, b.noData)) {
		t.Fatalf("%s nodata %v/%v, export %v/%v", want, a.noData, a.hasNoData, b.noData, b.hasNoData)
	}
	for i := range a.bands {
		for j, v := range a.bands[i] {
			if !sameFloat(v, b.bands[i][j]) {
				t.Fatalf("%s level %d band %d pixel %d,%d: source %v, export %v", want, level, i+1, j%a.w, j/a.w, v, b.bands[i][j])
			}
		}
	}
}
