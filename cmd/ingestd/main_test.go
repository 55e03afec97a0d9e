package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// childArgs makes the test binary ingestd itself: it runs with the arguments in this variable
// (one a line) and exits with ingestd's status.
const childArgs = "INGESTD_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a, ok := os.LookupEnv(childArgs); ok {
		os.Exit(run(context.Background(), strings.Split(a, "\n"), os.Stdout, os.Stderr))
	}
	// The tests run in a private network namespace with the servers of internal/testservers
	// (MinIO, RabbitMQ); the child processes are started there too.
	code := testservers.Main(m)
	testutil.Cleanup()
	if deltactlBin.path != "" {
		os.RemoveAll(filepath.Dir(deltactlBin.path))
	}
	os.Exit(code)
}

// raster returns the bytes of a raster testdata/make.sh writes.
func raster(t *testing.T, name string) []byte { return testutil.Raster(t, name) }

// drop writes b to dir/name through a hidden temporary name and a rename.
func drop(t *testing.T, dir, name string, b []byte) string { return testutil.Drop(t, dir, name, b) }

// ingestd runs ingestd in this process.
func ingestd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// proc is ingestd in a child process (this test binary, re-executed).
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(self, "-test.run=^$"), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\n"))
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.Write(sc.Bytes())
			p.logs.WriteByte('\n')
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitLog waits until the child's log holds s.
func (p *proc) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, func() bool { return strings.Contains(p.log(), s) }, func() string { return p.log() })
}

// stop sends sig and waits for the exit; it returns the exit status.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("ingestd did not exit 60 s after %v; log:\n%s", sig, p.log())
	}
	return p.cmd.ProcessState.ExitCode()
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool, why func() string) {
	t.Helper()
	testutil.WaitFor(t, limit, cond, why)
}

// openTable opens the table's store (closed when the test ends) and its latest version.
func openTable(t *testing.T, table string) (delta.Store, *delta.Snapshot, error) {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snap, err := delta.Open(ctx, st)
	return st, snap, err
}

// holdings reads what the table holds: for each source identity the data files holding it, and
// the total number of tiles; nil when there is no table yet.
func holdings(t *testing.T, table string) (map[string]int, int64) {
	t.Helper()
	ctx := context.Background()
	_, snap, err := openTable(t, table)
	if err != nil {
		return nil, 0
	}
	files := map[string]int{}
	var rows int64
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		pairs, ok := ingest.FileSources(a.Tags)
		if !ok {
			t.Fatalf("data file %s has no sources tag", a.Path)
		}
		for _, p := range pairs {
			files[p.ID]++
		}
		s, err := delta.ParseStats(a.Stats)
		if err != nil || s.NumRecords == nil {
			t.Fatalf("data file %s: stats %q: %v", a.Path, a.Stats, err)
		}
		rows += *s.NumRecords
	}
	return files, rows
}

// checkExactlyOnce checks that the table holds each source (copies of rgb.tif, 2 tiles each) and
// nothing else, each once, and that every version of it reads.
func checkExactlyOnce(t *testing.T, table string, sources []string) {
	t.Helper()
	checkSources(t, table, sources, int64(2*len(sources)))
}

// checkSources checks that the table holds each source and nothing else, tiles tiles in all (a
// source added twice would count its tiles twice; a source may span data files when a batch
// rolls files), and that every version of it reads.
func checkSources(t *testing.T, table string, sources []string, tiles int64) {
	t.Helper()
	files, rows := holdings(t, table)
	for _, s := range sources {
		if files[s] == 0 {
			t.Errorf("the table does not hold %s", s)
		}
		delete(files, s)
	}
	for id, n := range files {
		t.Errorf("the table holds %s (%d files), which it should not", id, n)
	}
	if rows != tiles {
		t.Errorf("the table holds %d tiles, want %d", rows, tiles)
	}
	st, snap, err := openTable(t, table)
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(0); v <= snap.Version(); v++ {
		checkVersionReads(t, st, v)
	}
}

// checkVersionReads opens version v of the table and lists its files; it reports whether
// that worked (the test fails otherwise).
func checkVersionReads(t *testing.T, st delta.Store, v int64) bool {
	t.Helper()
	ctx := context.Background()
	s, err := delta.Open(ctx, st, delta.AtVersion(v))
	if err == nil {
		for _, err = range s.Files(ctx) {
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		t.Errorf("version %d does not read: %v", v, err)
	}
	return err == nil
}
