package main

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestCrashLoop: two ingestd replicas (app ids a and b) watch one directory and write one
// table while scenes keep arriving, two of three renamed into place, one of three written in
// place piece by piece (a file still growing must never be ingested). 30 times one replica,
// picked at random, is killed with SIGKILL at a random moment of its work (up to 400 ms after it
// took its first work) and started again; every 5 kills
// the table is checked while the replicas run: every version opens and lists its files, no
// scene was ever added twice or at a size other than its whole size, and the live files hold
// each scene once. Then the replicas stop on SIGTERM (exit 0), ingestd --once takes what is
// left, and every scene is in the table exactly once. Last, deltactl vacuum --full --retention
// 0h --force-retention deletes the orphans (data files of batches that never committed, and
// temporary files of writes the kills cut short) and nothing else.
func TestCrashLoop(t *testing.T) {
	const kills, checkEvery = 30, 5
	start0 := time.Now()
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	args := func(app string) []string {
		return []string{"--table", table, "--watch", in, "--app-id", app, "--poll", "150ms", "--batch-max-wait", "100ms",
			"--batch-max-sources", "4", "--retry-backoff", "50ms", "--checkpoint-interval", "5", "--metrics-addr", ""}
	}

	// The producer: a scene every 40 to 120 ms until stopped.
	var (
		mu   sync.Mutex
		srcs []string
	)
	stop, produced := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(40+rand.IntN(80)) * time.Millisecond):
			}
			name := fmt.Sprintf("s%03d.tif", i)
			var p string
			var err error
			if i%3 == 2 {
				p, err = writeInPlace(filepath.Join(in, name), rgb, 4, 5*time.Millisecond)
			} else {
				p, err = testutil.DropFile(in, name, rgb)
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			srcs = append(srcs, p)
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-produced
	}()

	replicas := []*proc{start(t, args("a")...), start(t, args("b")...)}
	killed, commitsSeen := 0, 0
	for k := 1; k <= kills; k++ {
		// The victim is killed at a random moment of its work, not while it starts (slow on
		// a loaded machine): up to 400 ms after it took its first work.
		i := rand.IntN(2)
		p := replicas[i]
		p.waitLog(t, "ingestd: new work", 60*time.Second)
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		} else {
			t.Errorf("replica %d ended before its kill; log:\n%s", i, p.log())
		}
		commitsSeen += strings.Count(p.log(), "ingestd: committed")
		replicas[i] = start(t, args(string(rune('a'+i)))...)
		if k%checkEvery == 0 {
			held := checkCrashInvariants(t, table, int64(len(rgb)))
			mu.Lock()
			t.Logf("after %d kills: %d scenes dropped, %d held", k, len(srcs), held)
			mu.Unlock()
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	close(stop)
	<-produced
	for i, p := range replicas {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("replica %d: exit %d after SIGTERM; log:\n%s", i, code, p.log())
		}
		commitsSeen += strings.Count(p.log(), "ingestd: committed")
	}
	held := checkCrashInvariants(t, table, int64(len(rgb)))
	code, _, stderr := ingestd(t, append(args("final"), "--once")...)
	if code != exitOK {
		t.Fatalf("--once after the kills: exit %d\n%s", code, stderr)
	}
	checkCrashInvariants(t, table, int64(len(rgb)))
	checkExactlyOnce(t, table, srcs)
	t.Logf("%d kills, %d scenes, %d held before --once (%d commits logged by the replicas), %.1f s",
		killed, len(srcs), held, commitsSeen, time.Since(start0).Seconds())

	// Orphans: what the table directory holds beyond the live files and the log.
	live := liveFiles(t, table)
	before := tableFiles(t, table)
	var orphans []string
	for k := range before {
		if !live[k] {
			orphans = append(orphans, k)
		}
	}
	for k := range live {
		if _, ok := before[k]; !ok {
			t.Errorf("live file %s is missing", k)
		}
	}
	t.Logf("%d live files, %d orphans before vacuum: %v", len(live), len(orphans), orphans)
	if len(orphans) == 0 {
		// A kill between a batch's data files and its commit leaves them behind, but whether
		// one of the 30 kills lands there is chance (batches of these small scenes take tens
		// of milliseconds): plant one, a copy of a live file under a name no commit holds,
		// so that vacuum always has an orphan to remove next to the live files.
		for k := range live {
			b, err := os.ReadFile(filepath.Join(table, filepath.FromSlash(k)))
			if err != nil {
				t.Fatal(err)
			}
			orphan := "part-00000-planted-orphan.zstd.parquet"
			if err := os.WriteFile(filepath.Join(table, orphan), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("no orphans after %d kills; planted %s", killed, orphan)
			break
		}
		before = tableFiles(t, table)
	}
	out := deltactl(t, "vacuum", table, "--full", "--retention", "0h", "--force-retention")
	t.Logf("deltactl vacuum: %s", strings.TrimSpace(out))
	after := tableFiles(t, table)
	for k := range after {
		if !live[k] {
			t.Errorf("vacuum left %s, not a live file", k)
		}
	}
	for k, size := range before {
		if live[k] && after[k] != size {
			t.Errorf("live file %s: %d bytes after vacuum, %d before", k, after[k], size)
		}
	}
	checkExactlyOnce(t, table, srcs)
}

// writeInPlace writes b to path in pieces, pause apart, without a temporary name: a producer
// that does not write atomically.
func writeInPlace(path string, b []byte, pieces int, pause time.Duration) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	step := len(b)/pieces + 1
	for i := 0; i < len(b); i += step {
		if _, err := f.Write(b[i:min(i+step, len(b))]); err != nil {
			f.Close()
			return "", err
		}
		time.Sleep(pause)
	}
	return path, f.Close()
}

// checkCrashInvariants checks a table that writers may be changing: every version opens and
// lists its files; across the whole log each source is added by one commit only, at its whole
// size (size, the bytes of every scene: a local source's version is its size and mtime), with
// one data file; the latest version holds 2 tiles per source. It returns the number of sources
// the latest version holds (0 when there is no table yet).
func checkCrashInvariants(t *testing.T, table string, size int64) int {
	t.Helper()
	ctx := context.Background()
	st, snap, err := openTable(t, table)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(table, "_delta_log")); serr != nil {
			return 0
		}
		t.Fatalf("open the table: %v", err)
	}
	addedAt := map[string]int64{}
	for v := int64(0); v <= snap.Version(); v++ {
		if !checkVersionReads(t, st, v) {
			continue
		}
		err := delta.ReadCommitActions(ctx, st, v, func(a delta.Action) error {
			if a.Add == nil {
				return nil
			}
			pairs, ok := ingest.FileSources(a.Add.Tags)
			if !ok {
				return fmt.Errorf("data file %s has no sources tag", a.Add.Path)
			}
			for _, p := range pairs {
				if w, dup := addedAt[p.ID]; dup && w != v {
					t.Errorf("%s added by commits %d and %d", p.ID, w, v)
				}
				addedAt[p.ID] = v
				if n, _, _ := strings.Cut(p.Version, "-"); n != strconv.FormatInt(size, 10) {
					t.Errorf("commit %d added %s at version %s: not its whole size, %d bytes", v, p.ID, p.Version, size)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("commit %d: %v", v, err)
		}
	}
	files, rows := holdings(t, table)
	for id, n := range files {
		if n != 1 {
			t.Errorf("%s is in %d live data files, want 1", id, n)
		}
	}
	if rows != int64(2*len(files)) {
		t.Errorf("the table holds %d tiles for %d sources, want 2 each", rows, len(files))
	}
	return len(files)
}

// liveFiles returns the paths of the latest version's data files.
func liveFiles(t *testing.T, table string) map[string]bool {
	t.Helper()
	_, snap, err := openTable(t, table)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for a, err := range snap.Files(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		live[a.Path] = true
	}
	return live
}

// tableFiles lists the files under the table's root with their sizes, but for the log and the
// daemon's _deltaraster directory: data files, and temporary files the local store left.
func tableFiles(t *testing.T, table string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(table, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(table, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "_delta_log" || rel == "_deltaraster" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var deltactlBin struct {
	once sync.Once
	path string
	err  error
}

// deltactl runs the deltactl command (built once per test binary from this module) and returns
// its standard output; the test fails when it exits other than 0.
func deltactl(t *testing.T, args ...string) string {
	t.Helper()
	deltactlBin.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "ingestd-test-deltactl-")
		if err != nil {
			deltactlBin.err = err
			return
		}
		deltactlBin.path = filepath.Join(dir, "deltactl")
		cmd := exec.Command(goTool, "build", "-o", deltactlBin.path, "./cmd/deltactl")
		cmd.Dir = testutil.ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			deltactlBin.err = fmt.Errorf("go build ./cmd/deltactl: %v\n%s", err, out)
		}
	})
	if deltactlBin.err != nil {
		t.Fatal(deltactlBin.err)
	}
	out, err := exec.Command(deltactlBin.path, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("deltactl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}
