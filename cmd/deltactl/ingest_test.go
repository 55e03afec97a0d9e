package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// The rasters testdata/make.sh writes, made once per test binary (removed by TestMain).
var rasters struct {
	once sync.Once
	dir  string
	err  error
}

// testRaster returns the path of a raster testdata/make.sh wrote (see that script for what
// each one is), copied into a fresh directory of the test so that each test owns its sources.
func testRaster(t *testing.T, name string) string {
	t.Helper()
	script := filepath.Join(testutil.ModuleRoot(t), "testdata", "make.sh")
	rasters.once.Do(func() {
		dir, err := os.MkdirTemp("", "deltactl-testdata-")
		if err != nil {
			rasters.err = err
			return
		}
		rasters.dir = dir
		cmd := exec.Command("sh", script, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			rasters.err = fmt.Errorf("testdata/make.sh: %v\n%s", err, out)
		}
	})
	if rasters.err != nil {
		t.Fatal(rasters.err)
	}
	b, err := os.ReadFile(filepath.Join(rasters.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func removeTestRasters() {
	if rasters.dir != "" {
		os.RemoveAll(rasters.dir)
	}
}

func num(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("%s = %v (%T), want a number in %v", key, m[key], m[key], m)
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func commitExists(dir string, v int64) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(delta.CommitKey(v))))
	return err == nil
}

// TestIngestExport ingests two scenes of one band layout, ingests them again (nothing
// committed), replaces one that changed, and exports them back.
func TestIngestExport(t *testing.T) {
	a := testRaster(t, "rgb.tif")
	// b: the same pixels one scene to the east.
	b := filepath.Join(t.TempDir(), "rgb-east.tif")
	testutil.GDALTool(t, "gdal_translate", "-q", "-a_ullr", "503000", "4650000", "506000", "4648000", a, b)
	table := filepath.Join(t.TempDir(), "tiles")

	r := deltactl(t, "ingest", table, a, b, "--json")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("ingest: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sum := decodeObject(t, r.stdout)
	if num(t, sum, "version") != 0 || sum["committed"] != true || sum["tableCreated"] != true || sum["url"] != table {
		t.Fatalf("first ingest: %v", sum)
	}
	sources := sum["sources"].([]any)
	var tiles int64
	for i, want := range []string{a, b} {
		s := sources[i].(map[string]any)
		if s["uri"] != want || s["status"] != "added" || num(t, s, "tiles") == 0 || num(t, s, "levels") != 1 || s["sourceVersion"] == "" {
			t.Errorf("source %d: %v", i, s)
		}
		tiles += num(t, s, "tiles")
	}
	// 300x200 pixels in 256-pixel tiles: 2 tiles a source.
	if len(sources) != 2 || num(t, sum, "tiles") != tiles || tiles != 4 {
		t.Errorf("tiles %v, sources' tiles %d, want 4", sum["tiles"], tiles)
	}
	files := sum["files"].([]any)
	var size int64
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(table, f.(string)))
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	if len(files) == 0 || num(t, sum, "bytes") != size || sum["appId"] != "deltaraster-ingest" || num(t, sum, "appVersion") != 0 {
		t.Errorf("files %v, bytes %v (on disk %d), app %v %v", files, sum["bytes"], size, sum["appId"], sum["appVersion"])
	}
	// txnOptions: the commit's .crc is written.
	if _, err := os.Stat(filepath.Join(table, "_delta_log", "00000000000000000000.crc")); err != nil {
		t.Errorf("no .crc after the ingest commit: %v", err)
	}
	info := decodeObject(t, mustRun(t, "info", table, "--json"))
	if num(t, info, "numFiles") != int64(len(files)) || num(t, info, "sizeInBytes") != size || num(t, info, "numRecords") != 4 {
		t.Errorf("info after ingest: %v", info)
	}

	// The same sources again: nothing is committed.
	again := decodeObject(t, mustRun(t, "ingest", table, a, b, "--json"))
	if num(t, again, "version") != 0 || again["committed"] != false || num(t, again, "tiles") != 0 ||
		len(again["files"].([]any)) != 0 || len(again["removedFiles"].([]any)) != 0 {
		t.Errorf("re-ingest: %v", again)
	}
	for _, s := range again["sources"].([]any) {
		if s := s.(map[string]any); s["status"] != "unchanged" {
			t.Errorf("re-ingest: source %v", s)
		}
	}
	out := mustRun(t, "ingest", table, b, a)
	wantOut := fmt.Sprintf("unchanged %s: already in the table at this version\nunchanged %s: already in the table at this version\nnothing to commit: every source is already in %s at version 0\n", b, a, table)
	if out != wantOut {
		t.Errorf("re-ingest output:\n%s\nwant:\n%s", out, wantOut)
	}
	if commitExists(table, 1) {
		t.Fatal("re-ingesting unchanged sources committed a version")
	}

	// b changes (its mtime does): its tiles are replaced, a's are copied out of the shared file.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(b, later, later); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "ingest", table, a, b)
	for _, want := range []string{
		"unchanged " + a + ": already in the table at this version\n",
		"replaced  " + b + ": 2 tiles, 1 level\n",
		"committed version 1 of " + table + ": 1 replaced, 1 unchanged; 2 tiles in 1 file, ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ingest of a changed source: output\n%s\ndoes not contain %q", out, want)
		}
	}
	hist := decodeLines(t, mustRun(t, "history", table, "--json"))
	if len(hist) != 2 || num(t, hist[0], "version") != 1 {
		t.Fatalf("history after the replace: %v", hist)
	}
	if info := decodeObject(t, mustRun(t, "info", table, "--json")); num(t, info, "numRecords") != 4 {
		t.Errorf("after the replace: %v records, want 4", info["numRecords"])
	}

	// Export a as a COG: GTiff with the COG layout, the source's size and pixels.
	dir := t.TempDir()
	cog := filepath.Join(dir, "a.tif")
	exp := decodeObject(t, mustRun(t, "export", table, "--source", a, "--out", cog, "--format", "COG", "--json"))
	fi, err := os.Stat(cog)
	if err != nil {
		t.Fatal(err)
	}
	if exp["source"] != a || exp["out"] != cog || exp["format"] != "COG" || num(t, exp, "level") != 0 ||
		exp["bbox"] != nil || num(t, exp, "bytes") != fi.Size() || exp["url"] != table {
		t.Errorf("export --json: %v", exp)
	}
	got := testutil.AssertSamePixels(t, a, cog)
	if got.Driver != "GTiff" || got.Metadata["IMAGE_STRUCTURE"]["LAYOUT"] != "COG" {
		t.Errorf("export --format COG is %s with IMAGE_STRUCTURE %v, want the COG layout", got.Driver, got.Metadata["IMAGE_STRUCTURE"])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("export left files beside its output: %v", entries)
	}

	// b, the replaced source, as a GeoTIFF named by a file:// URL (format names are not case
	// sensitive).
	gt := filepath.Join(dir, "b.tif")
	out = mustRun(t, "export", "file://"+table, "--source", b, "--out", "file://"+gt, "--format", "gtiff")
	if !strings.HasPrefix(out, "exported "+b+" level 0 from file://"+table+" to file://"+gt+" (GTiff, ") {
		t.Errorf("export output: %q", out)
	}
	if got := testutil.AssertSamePixels(t, b, gt); got.Metadata["IMAGE_STRUCTURE"]["LAYOUT"] == "COG" {
		t.Error("--format GTiff wrote a COG")
	}

	// A bbox around the north-west corner of a: its first tile only.
	part := filepath.Join(dir, "part.tif")
	exp = decodeObject(t, mustRun(t, "export", table, "--source", a, "--out", part, "--bbox", "2.999,41.999,3.0005,42.0015", "--json"))
	if bb := exp["bbox"].([]any); len(bb) != 4 || bb[0] != json.Number("2.999") {
		t.Errorf("export --bbox --json: bbox %v", exp["bbox"])
	}
	if info := testutil.GDALInfo(t, part); !slices.Equal(info.Size, []int{256, 200}) {
		t.Errorf("export --bbox: size %v, want the first tile [256 200]", info.Size)
	}

	// Failures name what failed.
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"source not in the table", []string{"export", table, "--source", "/no/such.tif", "--out", part}, []string{"/no/such.tif", "the table holds no source"}},
		{"level not in the table", []string{"export", table, "--source", a, "--out", part, "--level", "3"}, []string{a, "level 3", "the table holds the source at level"}},
		{"band layout", []string{"ingest", table, testRaster(t, "u16.tif")}, []string{"u16.tif", "band layout", "4 band(s) of UInt16"}},
		{"bands not the table's", []string{"ingest", table, a, "--bands", "red,green,blue"}, []string{"band layout", "red,green,blue"}},
		{"no CRS", []string{"ingest", table, testRaster(t, "nocrs.tif")}, []string{"nocrs.tif", "coordinate reference system"}},
		{"not a raster", []string{"ingest", table, a, testRaster(t, "notraster.tif")}, []string{"notraster.tif"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deltactl(t, tc.args...)
			if r.code != exitFailure || r.stdout != "" {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
		})
	}
	if commitExists(table, 2) {
		t.Error("a failed ingest committed")
	}
}

// TestIngestEmptyTiles ingests a source with an all-nodata tile and its overview-less levels
// in 128-pixel tiles, and exports it back: the skipped tile comes back as nodata.
func TestIngestEmptyTiles(t *testing.T) {
	src := testRaster(t, "u16.tif")
	table := filepath.Join(t.TempDir(), "tiles")
	sum := decodeObject(t, mustRun(t, "ingest", table, src, "--tile-size", "128", "--levels", "0",
		"--bands", "nir,red,green,mask", "--target-file-size", "64KiB", "--cache-max", "16MiB", "--json"))
	// 300x200 in 128-pixel tiles: 3x2 slots, the third column all nodata.
	if num(t, sum, "tiles") != 4 || num(t, sum, "emptyTiles") != 2 {
		t.Fatalf("summary %v", sum)
	}
	if files := sum["files"].([]any); len(files) < 2 {
		t.Errorf("--target-file-size 64KiB wrote %d file(s) for 4 tiles of 128 KiB", len(files))
	}
	info := decodeObject(t, mustRun(t, "info", table, "--json"))
	if cfg := info["metadata"].(map[string]any)["configuration"].(map[string]any); !strings.Contains(fmt.Sprint(cfg), "nir") {
		t.Errorf("--bands not in the table configuration: %v", cfg)
	}
	out := filepath.Join(t.TempDir(), "u16.tif")
	mustRun(t, "export", table, "--source", src, "--out", out)
	testutil.AssertSamePixels(t, src, out)

	// --keep-empty, in a second table: the empty slots are rows too.
	keep := decodeObject(t, mustRun(t, "ingest", filepath.Join(t.TempDir(), "tiles"), src, "--tile-size", "128", "--keep-empty", "--json"))
	if num(t, keep, "tiles") != 6 || num(t, keep, "emptyTiles") != 0 {
		t.Errorf("--keep-empty: %v", keep)
	}
}

// TestIngestExportUsage checks the invocations refused before any work (exit status 2), and a
// missing source (exit status 1, nothing written).
func TestIngestExportUsage(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "tiles")
	src := filepath.Join(dir, "a.tif")
	out := filepath.Join(dir, "out.tif")
	exp := []string{"export", table, "--source", src, "--out", out}
	tests := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"ingest without source", []string{"ingest", table}, []string{"at least one source, got 1"}},
		{"ingest without anything", []string{"ingest"}, []string{"got 0"}},
		{"ingest empty source", []string{"ingest", table, ""}, []string{"empty source"}},
		{"tile size too small", []string{"ingest", table, src, "--tile-size", "100"}, []string{"--tile-size", "128 to 2048"}},
		{"tile size too large", []string{"ingest", table, src, "--tile-size", "4096"}, []string{"--tile-size"}},
		{"negative level", []string{"ingest", table, src, "--levels", "0,-1"}, []string{"--levels", "-1"}},
		{"level not a number", []string{"ingest", table, src, "--levels", "a"}, []string{"--levels"}},
		{"empty levels", []string{"ingest", table, src, "--levels", ""}, []string{"--levels"}},
		{"bad size", []string{"ingest", table, src, "--cache-max", "64XB"}, []string{"--cache-max", "64MiB"}},
		{"zero size", []string{"ingest", table, src, "--target-file-size", "0"}, []string{"--target-file-size"}},
		{"negative max pixels", []string{"ingest", table, src, "--max-pixels", "-5"}, []string{"--max-pixels"}},
		{"export without source", []string{"export", table, "--out", out}, []string{`"source" not set`}},
		{"export without out", []string{"export", table, "--source", src}, []string{`"out" not set`}},
		{"export without table", []string{"export", "--source", src, "--out", out}, []string{"one table URL, got 0"}},
		{"empty source", []string{"export", table, "--source", "", "--out", out}, []string{"--source is empty"}},
		{"bad format", append(exp, "--format", "PNG"), []string{`"PNG" for --format`, "GTiff or COG"}},
		{"negative level", append(exp, "--level", "-1"), []string{"--level"}},
		{"bbox of 3 numbers", append(exp, "--bbox", "1,2,3"), []string{"--bbox", "4 comma-separated numbers"}},
		{"bbox of 5 numbers", append(exp, "--bbox", "1,2,3,4,5"), []string{"--bbox", "got 5"}},
		{"bbox not numbers", append(exp, "--bbox", "1,2,x,4"), []string{"--bbox", `"x" is not a number`}},
		{"bbox NaN", append(exp, "--bbox", "1,2,NaN,4"), []string{"--bbox", "not a number"}},
		{"bbox empty", append(exp, "--bbox", ""), []string{"--bbox"}},
		{"bbox xmin > xmax", append(exp, "--bbox", "10,0,5,1"), []string{"--bbox", "xmin 10 is not less than xmax 5"}},
		{"bbox ymin = ymax", append(exp, "--bbox", "0,1,5,1"), []string{"--bbox", "ymin 1 is not less than ymax 1"}},
		{"bbox projected", append(exp, "--bbox", "500000,4648000,503000,4650000"), []string{"--bbox", "degrees"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := deltactl(t, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range append(tt.stderr, "Run 'deltactl "+tt.args[0]+" --help' for usage.") {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout on a usage error: %q", r.stdout)
			}
		})
	}
	if _, err := os.Stat(table); !os.IsNotExist(err) {
		t.Errorf("a usage error wrote the table: %v", err)
	}

	// A source that does not exist: a failure that names it; nothing is written, even though
	// the other source is fine.
	good := testRaster(t, "rgb.tif")
	missing := filepath.Join(dir, "missing.tif")
	r := deltactl(t, "ingest", table, good, missing)
	if r.code != exitFailure || !strings.Contains(r.stderr, "source "+missing+":") || r.stdout != "" {
		t.Fatalf("missing source: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "--help") {
		t.Errorf("a failure printed usage advice: %q", r.stderr)
	}
	if _, err := os.Stat(table); !os.IsNotExist(err) {
		t.Errorf("an ingest with a missing source wrote the table: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1000", 1000}, {"12B", 12}, {"64MiB", 64 << 20}, {"64mib", 64 << 20}, {"64M", 64 << 20},
		{"1.5GiB", 3 << 29}, {"2KB", 2000}, {"1 GB", 1e9}, {"1k", 1024}, {"3TiB", 3 << 40},
	} {
		got, err := parseByteSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5", "0.1B", "12XB", "1e30GiB", "NaN", "ten"} {
		if got, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) = %d, want an error", bad, got)
		}
	}
	// The largest binary unit that divides the size; else a tenth of the largest unit it
	// reaches; else bytes.
	for n, want := range map[int64]string{0: "0B", 1000: "1000B", 1536: "1.5KiB", 2048: "2KiB", 64 << 20: "64MiB",
		1 << 30: "1GiB", 3 << 29: "1536MiB", 1<<20 + 1: "1.0MiB", 3<<29 + 1: "1.5GiB", 910766: "889.4KiB"} {
		if got := byteSize(n).String(); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestIngestProgress draws the progress line as a terminal would get it, fed the reports of
// an Ingest: the bytes move with every tile before the first data file is finished, and the
// bar ends with a one-line summary.
func TestIngestProgress(t *testing.T) {
	var buf bytes.Buffer
	bar := &ingestBar{bar: &progress{w: &buf, on: true, start: time.Now()}}
	step := func(p ingest.Progress) string {
		t.Helper()
		bar.bar.last = time.Time{} // redraws are at most ten a second: each step is drawn
		buf.Reset()
		bar.report(p)
		return buf.String()
	}
	if got, want := step(ingest.Progress{Source: "/data/a.tif", Level: 1, TilesDone: 3, TilesTotal: 12, TileBytes: 3 * 64 << 10}),
		"\r\033[Kingest /data/a.tif: level 1, tile 3/12; 192 KiB of tiles, 0 bytes encoded; 0 files (0 bytes) written"; got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
	// No data file is finished yet: the bytes of the tiles move.
	if got := step(ingest.Progress{Source: "/data/a.tif", Level: 1, TilesDone: 4, TilesTotal: 12, TileBytes: 4 * 64 << 10}); !strings.Contains(got, "tile 4/12; 256 KiB of tiles, 0 bytes encoded; 0 files (0 bytes) written") {
		t.Errorf("progress line after a 4th tile %q", got)
	}
	// A data file being encoded: its bytes move, the source's line stays.
	if got := step(ingest.Progress{TileBytes: 4 * 64 << 10, TileBytesEncoded: 100 << 10}); !strings.Contains(got, "/data/a.tif: level 1, tile 4/12; 256 KiB of tiles, 100 KiB encoded; 0 files (0 bytes) written") {
		t.Errorf("progress line while a file is encoded %q", got)
	}
	if got := step(ingest.Progress{FilesWritten: 1, BytesWritten: 60 << 10, TileBytes: 5 * 64 << 10, TileBytesEncoded: 5 * 64 << 10}); !strings.Contains(got, "/data/a.tif: level 1, tile 4/12; 320 KiB of tiles, 320 KiB encoded; 1 file (60 KiB) written") {
		t.Errorf("progress line after a file %q", got)
	}
	// Within a tenth of a second of the last redraw, nothing is drawn.
	buf.Reset()
	bar.report(ingest.Progress{Source: "/data/a.tif", Level: 1, TilesDone: 5, TilesTotal: 12, TileBytes: 5 * 64 << 10})
	if buf.Len() != 0 {
		t.Errorf("redrawn within a tenth of a second: %q", buf.String())
	}
	buf.Reset()
	bar.finish(ingest.Summary{Tiles: 10, EmptyTiles: 2, Files: []string{"a", "b"}, Bytes: 300 << 10})
	got := buf.String()
	if want := "\r\033[Kingest: 12 tiles read from 1 source; 320 KiB of tiles encoded into 2 files (300 KiB); done in "; !strings.HasPrefix(got, want) ||
		!strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("summary %q, want %q and a duration on one line", got, want)
	}
	// After the summary, nothing more is drawn.
	buf.Reset()
	bar.report(ingest.Progress{Source: "/data/b.tif"})
	bar.bar.done()
	if buf.Len() != 0 {
		t.Errorf("drawn after the summary: %q", buf.String())
	}
}

// TestProgressOff: off a terminal, and with --json on one, nothing is drawn.
func TestProgressOff(t *testing.T) {
	var buf bytes.Buffer
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, tt := range []struct {
		name   string
		w      io.Writer
		asJSON bool
		on     bool
	}{
		{"buffer", &buf, false, false},
		{"character device", devNull, false, true}, // a terminal is one
		{"character device with --json", devNull, true, false},
	} {
		if got := newProgress(tt.w, tt.asJSON).on; got != tt.on {
			t.Errorf("%s: progress on %v, want %v", tt.name, got, tt.on)
		}
	}
	off := &ingestBar{bar: newProgress(&buf, false)}
	off.report(ingest.Progress{Source: "/data/a.tif", TilesDone: 1, TilesTotal: 2, TileBytes: 100})
	off.finish(ingest.Summary{Tiles: 1})
	ex := &exportBar{bar: newProgress(&buf, false), opts: &ingest.ExportOptions{Source: "a", Format: "COG"}}
	ex.report(ingest.ExportProgress{Stage: ingest.ExportTranslate, Tiles: 1})
	ex.finish()
	if buf.Len() != 0 {
		t.Errorf("progress drawn off a terminal: %q", buf.String())
	}
}
