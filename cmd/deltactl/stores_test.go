package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// childArgs, when set, makes the test binary run deltactl with these arguments (one a line)
// and exit: the concurrency tests start real processes this way.
const childArgs = "DELTACTL_TEST_CHILD_ARGS"

func runChild() {
	args := strings.Split(os.Getenv(childArgs), "\n")
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// servers lists the object-store servers every remote test runs against.
var servers = []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite}

// eachServer runs fn as a parallel subtest per server.
func eachServer(t *testing.T, fn func(t *testing.T, s *testservers.Server)) {
	for _, start := range servers {
		s := start(t)
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, s)
		})
	}
}

// upload puts local files into a store: objects maps keys under base to local paths.
func upload(t *testing.T, base string, objects map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for key, path := range objects {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, key, b); err != nil {
			t.Fatalf("put %s/%s: %v", base, key, err)
		}
	}
}

// download copies an object to a local file and returns its path.
func download(t *testing.T, base, key string) string {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := delta.ReadAll(ctx, st, key)
	if err != nil {
		t.Fatalf("read %s/%s: %v", base, key, err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(key))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// scenes makes n local scenes of rgb.tif's band layout side by side (3 km apart) and returns
// their paths; the first is rgb.tif itself.
func scenes(t *testing.T, n int) []string {
	t.Helper()
	a := testRaster(t, "rgb.tif")
	out := []string{a}
	dir := t.TempDir()
	for i := 1; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("scene-%02d.tif", i))
		x := 500000 + 3000*i
		testutil.GDALTool(t, "gdal_translate", "-q", "-a_ullr", fmt.Sprint(x), "4650000", fmt.Sprint(x+3000), "4648000", a, p)
		out = append(out, p)
	}
	return out
}

// TestVerbsOnStores runs every verb on each object store, table and sources both remote:
// create, ingest, info, files, history, export (to a local file and to the bucket),
// checkpoint (classic and V2), cleanup-metadata, optimize, vacuum lite and full; the exports
// equal the sources pixel for pixel before and after the maintenance.
func TestVerbsOnStores(t *testing.T) {
	local := scenes(t, 2)
	cog := filepath.Join(t.TempDir(), "cog.tif")
	testutil.GDALTool(t, "gdal_translate", "-q", "-a_ullr", "500000", "4648000", "503000", "4646000", "-of", "COG",
		"-co", "BLOCKSIZE=128", "-co", "OVERVIEWS=AUTO", "-co", "OVERVIEW_COUNT=2", "-co", "RESAMPLING=NEAREST", local[0], cog)
	local = append(local, cog)

	eachServer(t, func(t *testing.T, s *testservers.Server) {
		base := s.Scheme + "://" + s.Bucket(t)
		upload(t, base, map[string]string{"scenes/a.tif": local[0], "scenes/b.tif": local[1], "scenes/c.tif": local[2]})
		src := []string{base + "/scenes/a.tif", base + "/scenes/b.tif", base + "/scenes/c.tif"}
		table := base + "/tables/tiles"

		created := decodeObject(t, mustRun(t, "create", base+"/tables/events", "--schema", "ts:timestamp,kind:string", "--json"))
		if num(t, created, "version") != 0 {
			t.Fatalf("create: %v", created)
		}

		sum := decodeObject(t, mustRun(t, "ingest", table, src[0], src[1], "--json"))
		if num(t, sum, "version") != 0 || sum["committed"] != true || num(t, sum, "tiles") != 4 {
			t.Fatalf("ingest: %v", sum)
		}
		sum = decodeObject(t, mustRun(t, "ingest", table, src[2], src[0], "--json"))
		if num(t, sum, "version") != 1 || sum["committed"] != true {
			t.Fatalf("second ingest: %v", sum)
		}
		for _, s := range sum["sources"].([]any) {
			s := s.(map[string]any)
			// uri is the source's identity (on Azure it names the account); given, the URL as given.
			given, _ := s["given"].(string)
			if given == "" {
				given = s["uri"].(string)
			}
			if want := map[string]string{src[0]: "unchanged", src[2]: "added"}[given]; s["status"] != want {
				t.Errorf("second ingest: source %v, want %s", s, want)
			}
		}
		info := decodeObject(t, mustRun(t, "info", table, "--json"))
		records, files := num(t, info, "numRecords"), num(t, info, "numFiles")
		if num(t, info, "version") != 1 || files < 2 || records < 6 {
			t.Fatalf("info: %v", info)
		}
		if lines := decodeLines(t, mustRun(t, "files", table, "--json")); int64(len(lines)) != files {
			t.Errorf("files lists %d files, info says %d", len(lines), files)
		}
		if hist := decodeLines(t, mustRun(t, "history", table, "--json")); len(hist) != 2 {
			t.Errorf("history: %v", hist)
		}

		exportAll := func(stage string) {
			t.Helper()
			out := filepath.Join(t.TempDir(), "a.tif")
			mustRun(t, "export", table, "--source", src[0], "--out", out)
			testutil.AssertSamePixels(t, local[0], out)
			key := "exports/" + stage + "/c.tif"
			exp := decodeObject(t, mustRun(t, "export", table, "--source", src[2], "--out", base+"/"+key, "--format", "COG", "--json"))
			got := download(t, base, key)
			testutil.AssertSamePixels(t, local[2], got)
			if fi, _ := os.Stat(got); num(t, exp, "bytes") != fi.Size() {
				t.Errorf("export to %s/%s: bytes %v, the object has %d", base, key, exp["bytes"], fi.Size())
			}
		}
		exportAll("ingested")

		cp := decodeObject(t, mustRun(t, "checkpoint", table, "--json"))
		if num(t, cp, "version") != 1 || cp["format"] != "classic" {
			t.Errorf("checkpoint: %v", cp)
		}
		// A third ingest (b again, changed: replaced), then a V2 checkpoint.
		upload(t, base, map[string]string{"scenes/b.tif": local[0]})
		sum = decodeObject(t, mustRun(t, "ingest", table, src[1], "--json"))
		if num(t, sum, "version") != 2 || sum["sources"].([]any)[0].(map[string]any)["status"] != "replaced" {
			t.Fatalf("ingest of a changed source: %v", sum)
		}
		cp = decodeObject(t, mustRun(t, "checkpoint", table, "--v2", "--json"))
		if cp["format"] != "v2" {
			t.Errorf("checkpoint --v2: %v", cp)
		}
		cv := num(t, cp, "version")
		// The cutoff is truncated to the start of its day (as Spark's is): everything here was
		// written today, so nothing is old enough, on any store.
		cm := decodeObject(t, mustRun(t, "cleanup-metadata", table, "--retention", "1ns", "--json"))
		if len(cm["deleted"].([]any)) != 0 {
			t.Errorf("cleanup-metadata deleted today's log files: %v", cm)
		}
		info = decodeObject(t, mustRun(t, "info", table, "--json"))
		if num(t, info, "lastCheckpointVersion") != cv || num(t, info, "numRecords") != records {
			t.Errorf("info after checkpoints and cleanup: %v", info)
		}

		opt := decodeObject(t, mustRun(t, "optimize", table, "--cluster-by", "quadbin", "--json"))
		if num(t, opt, "filesRemoved") < 2 || num(t, opt, "filesAdded") < 1 {
			t.Fatalf("optimize: %v", opt)
		}
		removed := num(t, opt, "filesRemoved") + 1 // and the file the replace removed
		lite := decodeObject(t, mustRun(t, "vacuum", table, "--retention", "1ns", "--force-retention", "--json"))
		if num(t, lite, "deleted") != removed {
			t.Errorf("vacuum lite deleted %v files, want the %d removed ones: %v", lite["deleted"], removed, lite)
		}
		// An orphan (a data file no commit names): only full mode finds it.
		upload(t, table, map[string]string{"part-orphan.parquet": local[0]})
		full := decodeObject(t, mustRun(t, "vacuum", table, "--full", "--retention", "1ns", "--force-retention", "--json"))
		if num(t, full, "deleted") != 1 {
			t.Errorf("vacuum --full: %v", full)
		}
		info = decodeObject(t, mustRun(t, "info", table, "--json"))
		if num(t, info, "numRecords") != records {
			t.Errorf("info after maintenance: %v", info)
		}
		exportAll("maintained")
	})
}

// TestConcurrencyOnStores runs writers as separate processes on each store: 4 processes x 3
// sources into one new table (12 sources exactly once, versions contiguous); 2 processes with
// different app ids on the same sources (exactly once).
func TestConcurrencyOnStores(t *testing.T) {
	local := scenes(t, 12)
	eachServer(t, func(t *testing.T, s *testservers.Server) {
		base := s.Scheme + "://" + s.Bucket(t)
		objs := map[string]string{}
		var src []string
		for i, p := range local {
			key := fmt.Sprintf("scenes/s%02d.tif", i)
			objs[key] = p
			src = append(src, base+"/"+key)
		}
		upload(t, base, objs)

		t.Run("disjoint", func(t *testing.T) {
			table := base + "/tables/disjoint"
			runProcs(t, 4, func(i int) []string {
				return append([]string{"ingest", table, "--json"}, src[3*i:3*i+3]...)
			})
			checkExactlyOnce(t, table, src)
		})
		t.Run("same sources, different app ids", func(t *testing.T) {
			table := base + "/tables/shared"
			runProcs(t, 2, func(i int) []string {
				return append([]string{"ingest", table, "--app-id", fmt.Sprintf("app-%d", i), "--json"}, src[:6]...)
			})
			checkExactlyOnce(t, table, src[:6])
		})
	})
}

// runProcs starts n deltactl processes at once and fails the test unless all exit 0.
func runProcs(t *testing.T, n int, args func(i int) []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i := range n {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args(i), "\n"))
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d (%s): %v\n%s", i, strings.Join(args(i), " "), err, outs[i])
		}
	}
}

// checkExactlyOnce checks that the table holds each source's tiles once (2 per scene), that no
// other source is there, and that its versions are contiguous from 0.
func checkExactlyOnce(t *testing.T, table string, src []string) {
	t.Helper()
	info := decodeObject(t, mustRun(t, "info", table, "--json"))
	if got, want := num(t, info, "numRecords"), int64(2*len(src)); got != want {
		t.Errorf("%s holds %d tiles, want %d (2 for each of %d sources)", table, got, want, len(src))
	}
	hist := decodeLines(t, mustRun(t, "history", table, "--json"))
	for i, h := range hist {
		if want := int64(len(hist) - 1 - i); num(t, h, "version") != want {
			t.Fatalf("history is not contiguous: entry %d is version %v, want %d", i, h["version"], want)
		}
	}
	for _, s := range src {
		out := filepath.Join(t.TempDir(), "x.tif")
		mustRun(t, "export", table, "--source", s, "--out", out)
	}
}
