package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestExportNoTilesMessages: a source not in the table, a relative spelling of one that is, a
// level it does not have, a bbox that misses it and an output directory that does not exist
// each get their own message.
func TestExportNoTilesMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	// Two sources of one layout: cog.tif (levels 0, 1 and 2) and a copy of it.
	rgb, f32 := td("cog.tif"), td("f32nan.tif")
	cp := filepath.Join(dir, "cog-copy.tif")
	b, err := os.ReadFile(rgb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Ingest(ctx, s, []string{rgb, cp}, o); err != nil {
		t.Fatal(err)
	}
	// The nearest first.
	nearTo := func(src string) string {
		a, b := rgb, cp
		if da, db := editDistance(src, a), editDistance(src, b); db < da || db == da && b < a {
			a, b = b, a
		}
		return `; the nearest of its sources: "` + a + `", "` + b + `"`
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tif")
	far := [4]float64{-10, -10, -9, -9}
	prefix := func(src string, level int) string {
		return "export " + src + " level " + strconv.Itoa(level) + " from " + s.URL() + ": "
	}
	for _, c := range []struct {
		name string
		opts ExportOptions
		kind error
		want string
	}{
		{"not in the table", ExportOptions{Source: f32}, ErrSourceNotFound,
			prefix(f32, 0) + "the table holds no source " + f32 + nearTo(f32)},
		{"relative", ExportOptions{Source: "cog.tif"}, ErrSourceNotFound,
			prefix("cog.tif", 0) + "the table holds no source cog.tif (a relative path, read as " + filepath.Join(cwd, "cog.tif") + ")" + nearTo("cog.tif")},
		{"level", ExportOptions{Source: td("cog.tif"), Level: 7}, ErrLevelNotFound,
			prefix(td("cog.tif"), 7) + "the table holds the source at level 0, 1 and 2, not at level 7"},
		{"bbox", ExportOptions{Source: rgb, BBox: &far}, ErrBBoxEmpty, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Out = out
			err := Export(ctx, s, c.opts)
			if !errors.Is(err, c.kind) || !errors.Is(err, ErrNoTiles) {
				t.Fatalf("err %v, want %v (and %v)", err, c.kind, ErrNoTiles)
			}
			if c.want != "" && err.Error() != c.want {
				t.Fatalf("message\n%s\nwant\n%s", err, c.want)
			}
		})
	}
	// The bbox message names the bbox and what the level's tiles cover.
	err = Export(ctx, s, ExportOptions{Source: rgb, BBox: &far, Out: out})
	var ext [4]float64
	n := 0
	for _, tl := range readTiles(t, s) {
		if exportID(tl.Source) != rgb || tl.Level != 0 {
			continue
		}
		if n == 0 {
			ext = tl.BBox
		}
		n++
		ext = [4]float64{min(ext[0], tl.BBox[0]), min(ext[1], tl.BBox[1]), max(ext[2], tl.BBox[2]), max(ext[3], tl.BBox[3])}
	}
	want := prefix(rgb, 0) + "none of the " + strconv.Itoa(n) + " tiles at level 0 intersects the bbox -10,-10,-9,-9; they cover " + formatBox(ext) + " (longitude, latitude)"
	if err == nil || err.Error() != want {
		t.Fatalf("bbox message\n%v\nwant\n%s", err, want)
	}

	missing := filepath.Join(dir, "no", "such", "dir", "out.tif")
	err = Export(ctx, s, ExportOptions{Source: rgb, Out: missing})
	if want := "export to " + missing + ": directory " + filepath.Dir(missing) + " does not exist"; err == nil || err.Error() != want {
		t.Fatalf("missing output directory: %v, want %s", err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Export(ctx, s, ExportOptions{Source: rgb, Out: filepath.Join(dir, "file", "out.tif")})
	if want := "export to " + filepath.Join(dir, "file", "out.tif") + ": " + filepath.Join(dir, "file") + " is not a directory"; err == nil || err.Error() != want {
		t.Fatalf("output directory a file: %v, want %s", err, want)
	}
}

func TestNearestSources(t *testing.T) {
	n := nearest{want: "rgb.tif", wantID: "/home/u/rgb.tif", k: 2}
	for _, v := range []string{"/data/dem.tif", "/data/rgb.tif", "/data/rgb.tif", "s3://b/rgb.tif", "/data/rgb2.tif", "/x"} {
		n.add(v, v)
	}
	if len(n.best) != 2 || n.best[0].value != "/data/rgb.tif" || n.best[1].value != "s3://b/rgb.tif" {
		t.Fatalf("nearest %+v", n.best)
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"rgb.tif", "/data/rgb.tif", 6}, {"flaw", "lawn", 2}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}
