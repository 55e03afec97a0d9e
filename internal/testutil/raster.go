package testutil

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// GDALTool runs a GDAL command-line tool (args[0] is its name) and returns its standard output;
// the test fails with its standard error when it fails.
func GDALTool(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// RasterInfo is what gdalinfo -json -checksum tells of a raster.
type RasterInfo struct {
	Driver    string                       `json:"driverShortName"`
	Size      []int                        `json:"size"`
	Metadata  map[string]map[string]string `json:"metadata"`
	Transform []float64                    `json:"geoTransform"`
	Bands     []struct {
		Type      string   `json:"type"`
		Checksum  int      `json:"checksum"`
		NoData    *float64 `json:"noDataValue"`
		Overviews []any    `json:"overviews"`
	} `json:"bands"`
}

// GDALInfo runs gdalinfo -json -checksum on a raster file.
func GDALInfo(t testing.TB, path string) RasterInfo {
	t.Helper()
	var info RasterInfo
	if err := json.Unmarshal(GDALTool(t, "gdalinfo", "-json", "-checksum", path), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// AssertSamePixels checks that an export has the source's size, grid, band types, nodata and
// pixels (each band's checksum), and returns what gdalinfo tells of the export.
func AssertSamePixels(t testing.TB, source, export string) RasterInfo {
	t.Helper()
	want, got := GDALInfo(t, source), GDALInfo(t, export)
	if !slices.Equal(got.Size, want.Size) || !slices.Equal(got.Transform, want.Transform) || len(got.Bands) != len(want.Bands) {
		t.Fatalf("export %s is %v %v with %d bands, source %v %v with %d", export, got.Size, got.Transform, len(got.Bands),
			want.Size, want.Transform, len(want.Bands))
	}
	for i := range want.Bands {
		w, g := want.Bands[i], got.Bands[i]
		if g.Type != w.Type || g.Checksum != w.Checksum || nodata(g.NoData) != nodata(w.NoData) {
			t.Errorf("band %d of the export: %s checksum %d nodata %s; source: %s checksum %d nodata %s",
				i+1, g.Type, g.Checksum, nodata(g.NoData), w.Type, w.Checksum, nodata(w.NoData))
		}
	}
	return got
}

func nodata(v *float64) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprint(*v)
}
