package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// TestCrashLoop runs deltactl ingest, optimize, checkpoint and vacuum --full (retention 0) on
// one local table, in a random order, 40 times, each in its own process killed with SIGKILL at
// a random moment (or left to finish). After every run: every version of the log opens and
// lists its files; the latest version's data files are all there, at their size, and read
// with arrow-go; every tile (source, level, column, row) is in one row only; every source whose
// ingest exited 0 is there with its 2 tiles. At the end the operations run to completion once
// more: all 16 scenes, once each, and vacuum leaves nothing but the live files.
func TestCrashLoop(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("DELTACTL_CRASH_SEED"); v != "" { // to replay a run
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("DELTACTL_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (DELTACTL_CRASH_SEED replays the same choices; the kills land where the timing puts them)", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	rgb, err := os.ReadFile(testRaster(t, "rgb.tif"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var scenes []string
	for i := range 16 {
		p := filepath.Join(dir, fmt.Sprintf("s%02d.tif", i))
		if err := os.WriteFile(p, rgb, 0o644); err != nil {
			t.Fatal(err)
		}
		scenes = append(scenes, p)
	}
	table := filepath.Join(t.TempDir(), "tiles")
	done := map[string]bool{} // scenes whose ingest exited 0
	exists := false
	kills, finished := map[string]int{}, map[string]int{}
	// took is how long each command took when it last finished: a run is killed at a uniform
	// moment of 1.2 times that, so most runs die somewhere inside, on a slow machine as on a
	// fast one. The first run of each command is left to finish, to measure it.
	took := map[string]time.Duration{}
	run := func(args []string, killAfter time.Duration) (killed bool) {
		t.Helper()
		cmd := childCommand(t, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			kills[args[0]]++
			return true
		}
		if err != nil {
			t.Fatalf("deltactl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		finished[args[0]]++
		took[args[0]] = time.Since(start)
		return false
	}
	for i := range 40 {
		op := rng.IntN(4)
		if !exists {
			op = 0 // the maintenance commands need a table
		}
		var args []string
		var batch []string
		switch op {
		case 0: // three scenes, some perhaps already in the table
			for _, k := range rng.Perm(len(scenes))[:3] {
				batch = append(batch, scenes[k])
			}
			args = append([]string{"ingest", table}, batch...)
		case 1:
			args = []string{"optimize", table}
		case 2:
			args = []string{"checkpoint", table}
		case 3:
			args = []string{"vacuum", table, "--full", "--retention", "0", "--force-retention"}
		}
		killAfter := time.Hour
		if d, ok := took[args[0]]; ok {
			killAfter = time.Duration(rng.Int64N(int64(d)*6/5 + 1))
		}
		killed := run(args, killAfter)
		if !killed && op == 0 {
			for _, s := range batch {
				done[s] = true
			}
		}
		exists = checkCrashTable(t, table, done, fmt.Sprintf("after run %d (%s, killed %v)", i, args[0], killed))
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("killed: %v; finished: %v", kills, finished)
	if n := kills["ingest"] + kills["optimize"] + kills["checkpoint"] + kills["vacuum"]; n < 10 {
		t.Errorf("only %d runs killed: the loop does not test what it is for", n)
	}

	// Everything once more, to completion.
	run(append([]string{"ingest", table}, scenes...), time.Hour)
	for _, s := range scenes {
		done[s] = true
	}
	run([]string{"optimize", table}, time.Hour)
	run([]string{"checkpoint", table}, time.Hour)
	run([]string{"vacuum", table, "--full", "--retention", "0", "--force-retention"}, time.Hour)
	checkCrashTable(t, table, done, "at the end")
	live := map[string]bool{}
	_, snap := openCrashTable(t, table)
	for a, err := range snap.Files(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		live[a.Path] = true
	}
	entries, err := os.ReadDir(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() && !live[e.Name()] {
			t.Errorf("after vacuum --full, %s is in the table's directory and not live", e.Name())
		}
	}
}

func openCrashTable(t *testing.T, table string) (delta.Store, *delta.Snapshot) {
	t.Helper()
	st, err := delta.OpenStore(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snap, err := delta.Open(context.Background(), st)
	if err != nil {
		t.Fatalf("open %s: %v", table, err)
	}
	return st, snap
}

// checkCrashTable checks the invariants of TestCrashLoop (when); it reports whether the table
// exists (a commit is in its log).
func checkCrashTable(t *testing.T, table string, done map[string]bool, when string) bool {
	t.Helper()
	ctx := context.Background()
	logs, _ := filepath.Glob(filepath.Join(table, "_delta_log", "*.json"))
	if len(logs) == 0 {
		if len(done) > 0 {
			t.Errorf("%s: no commit, but ingests of %d scenes exited 0", when, len(done))
		}
		return false
	}
	st, snap := openCrashTable(t, table)
	for v := int64(0); v <= snap.Version(); v++ {
		s, err := delta.Open(ctx, st, delta.AtVersion(v))
		if err == nil {
			for _, err = range s.Files(ctx) {
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Errorf("%s: version %d does not read: %v", when, v, err)
		}
	}
	tiles := map[string]int{}   // source/level/col/row -> rows
	sources := map[string]int{} // source -> rows
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		fi, err := os.Stat(filepath.Join(table, a.Path))
		if err != nil || fi.Size() != a.Size {
			t.Errorf("%s: live data file %s: %v (size in the log %d)", when, a.Path, err, a.Size)
			continue
		}
		for _, k := range readTileKeys(t, st, a) {
			tiles[k]++
			sources[k[:strings.Index(k, "|")]]++
		}
	}
	for k, n := range tiles {
		if n != 1 {
			t.Errorf("%s: tile %s is in %d rows", when, k, n)
		}
	}
	for s := range done {
		id, err := ingest.SourceID(s)
		if err != nil {
			t.Fatal(err)
		}
		if sources[id] != 2 {
			t.Errorf("%s: %s was ingested (exit 0) and the table holds %d tiles of it, want 2", when, s, sources[id])
		}
	}
	for s, n := range sources {
		if n != 2 {
			t.Errorf("%s: the table holds %d tiles of %s, want 2", when, n, s)
		}
	}
	return true
}

// readTileKeys reads a data file with arrow-go and returns its tiles' keys,
// "source|level|col|row".
func readTileKeys(t *testing.T, st delta.Store, a *delta.Add) []string {
	t.Helper()
	ctx := context.Background()
	pf, err := file.NewParquetReader(delta.NewReaderAt(ctx, st, a.Path, a.Size))
	if err != nil {
		t.Fatalf("read %s: %v", a.Path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", a.Path, err)
	}
	defer tbl.Release()
	col := func(name string) arrow.Array {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) != 1 || tbl.Column(idx[0]).Data().Len() != int(tbl.NumRows()) || len(tbl.Column(idx[0]).Data().Chunks()) != 1 {
			t.Fatalf("%s: column %s not found as one chunk", a.Path, name)
		}
		return tbl.Column(idx[0]).Data().Chunk(0)
	}
	src := col("source").(*array.String)
	lv, c, r := col("level").(*array.Int32), col("tile_col").(*array.Int32), col("tile_row").(*array.Int32)
	var keys []string
	for i := range int(tbl.NumRows()) {
		keys = append(keys, src.Value(i)+"|"+strconv.Itoa(int(lv.Value(i)))+"|"+
			strconv.Itoa(int(c.Value(i)))+"|"+strconv.Itoa(int(r.Value(i))))
	}
	return keys
}
