package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func testOptions(t *testing.T, table string) Options {
	return Options{
		Table: table,
		Poll:  50 * time.Millisecond, BatchMaxWait: 100 * time.Millisecond, RetryBackoff: 10 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		Ingest:          ingest.Options{AppID: "test-daemon", TempDir: t.TempDir(), Workers: 1},
		Logger:          testLogger(t),
		Metrics:         NewMetrics(prometheus.NewRegistry()),
	}
}

func openWatch(t *testing.T, url string, wo WatchOptions) *Watch {
	t.Helper()
	w, err := OpenWatch(context.Background(), url, wo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// runOnce runs a daemon with Once on the prefix watch.
func runOnce(t *testing.T, o Options, watch string, wo WatchOptions) *Daemon {
	t.Helper()
	wo.Unsettled = true
	return runSourceOnce(t, o, openWatch(t, watch, wo))
}

// runSourceOnce runs a daemon on src with Once until it ends; it fails the test on an error.
func runSourceOnce(t *testing.T, o Options, src Source) *Daemon {
	t.Helper()
	o.Once = true
	ctx := context.Background()
	d, err := New(ctx, src, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("run --once: %v", err)
	}
	return d
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("not a counter, gauge or histogram: %v", &m)
	return 0
}

func commits(t *testing.T, table string) int64 {
	t.Helper()
	st, err := delta.OpenStore(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := delta.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version() + 1
}

// TestOnce: --once ingests what is in a directory: the first source alone creates the table
// (so a source of another band layout cannot be blamed for it), the rest in one batch (one
// commit); a second run adds
// nothing; a file whose version changed replaces its tiles; batches are cut at
// BatchMaxSources.
func TestOnce(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	var srcs []string
	for i := range 5 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	o := testOptions(t, table)
	runOnce(t, o, in, WatchOptions{})
	checkExactlyOnce(t, table, srcs)
	if n := commits(t, table); n != 2 {
		t.Errorf("%d commits after the first run, want 2 (the creation, one batch)", n)
	}
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultAdded)); got != 5 {
		t.Errorf("sources_total{added} = %v, want 5", got)
	}
	if got := counter(t, o.Metrics.LastVersion); got != 1 {
		t.Errorf("last_version = %v, want 1", got)
	}

	// Again: the index knows every source, nothing is ingested.
	o2 := testOptions(t, table)
	runOnce(t, o2, in, WatchOptions{})
	if n := commits(t, table); n != 2 {
		t.Errorf("%d commits after the second run, want 2", n)
	}
	if got := counter(t, o2.Metrics.BatchSeconds); got != 0 {
		t.Errorf("%v batches on a table holding everything, want 0", got)
	}

	// s0 changes (a new mtime): replaced; 3 more files with BatchMaxSources 2: 2 batches.
	_, before, _ := holdings(t, table)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(srcs[0], future, future); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	o3 := testOptions(t, table)
	o3.BatchMaxSources = 2
	runOnce(t, o3, in, WatchOptions{})
	checkExactlyOnce(t, table, srcs)
	_, after, _ := holdings(t, table)
	id0, _ := ingest.SourceID(srcs[0])
	if before[id0] == after[id0] {
		t.Errorf("s0 still at version %s after it changed", after[id0])
	}
	if got := counter(t, o3.Metrics.Sources.WithLabelValues(ResultReplaced)); got != 1 {
		t.Errorf("sources_total{replaced} = %v, want 1", got)
	}
	if n := commits(t, table); n != 4 {
		t.Errorf("%d commits, want 4 (the 2 before, then 4 sources in batches of 2)", n)
	}
}

// TestPoison: a text file and a truncated GeoTIFF among 20 scenes are tried MaxAttempts times
// and dead-lettered, one JSON line each, while the 18 good scenes commit.
func TestPoison(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	// 20 scenes, the text file and the truncated raster among them (6th and 14th by name, so
	// in the middle of batches of 16).
	var srcs []string
	var text, trunc string
	for i := range 20 {
		switch i {
		case 5:
			text = drop(t, in, fmt.Sprintf("s%02d-text.tif", i), raster(t, "notraster.tif"))
		case 13:
			trunc = drop(t, in, fmt.Sprintf("s%02d-truncated.tif", i), raster(t, "truncated.tif"))
		default:
			srcs = append(srcs, drop(t, in, fmt.Sprintf("s%02d.tif", i), rgb))
		}
	}
	o := testOptions(t, table)
	o.MaxAttempts = 2
	runOnce(t, o, in, WatchOptions{})
	checkExactlyOnce(t, table, srcs)
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultAdded)); got != 18 {
		t.Errorf("sources_total{added} = %v, want 18", got)
	}
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultDeadLetter)); got != 2 {
		t.Errorf("sources_total{dead_letter} = %v, want 2", got)
	}
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultFailed)); got != 4 {
		t.Errorf("sources_total{failed} = %v, want 4 (2 attempts of 2 sources)", got)
	}
	ents, err := os.ReadDir(filepath.Join(table, filepath.FromSlash(DefaultDeadLetterPrefix)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DeadLetter{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(table, filepath.FromSlash(DefaultDeadLetterPrefix), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\n") != 1 || !strings.HasSuffix(string(b), "\n") {
			t.Errorf("dead letter %s is not one line: %q", e.Name(), b)
		}
		var dl DeadLetter
		if err := json.Unmarshal(b, &dl); err != nil {
			t.Fatalf("dead letter %s: %v", e.Name(), err)
		}
		got[dl.Source] = dl
	}
	for _, p := range []string{text, trunc} {
		dl, ok := got[p]
		if !ok || dl.Attempts != 2 || dl.Error == "" || dl.Version == "" || time.Since(dl.Time) > time.Minute || dl.AppID != "test-daemon" {
			t.Errorf("dead letter of %s: %+v (found %v)", p, dl, ok)
		}
	}
	if len(got) != 2 {
		t.Errorf("%d dead letters, want 2: %v", len(got), got)
	}
	// Not tried again at these versions, also by a new process: TestDeadLettersAtStart.
}

// TestWatchRunning: a running daemon ingests files as they arrive, waits for a file still being
// written, and stops on cancellation with everything committed.
func TestWatchRunning(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	o := testOptions(t, table)
	o.Poll = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, openWatch(t, in, WatchOptions{}), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	var srcs []string
	for i := range 3 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	// A file written slowly, in place: its size moves between listings, so it is left alone
	// until it stops; had it been read half-written it would have failed (and been retried).
	slow := filepath.Join(in, "slow.tif")
	f, err := os.Create(slow)
	if err != nil {
		t.Fatal(err)
	}
	// 20 pieces 50 ms apart, about 5 listings while it grows.
	step := len(rgb)/20 + 1
	for i := 0; i < len(rgb); i += step {
		if _, err := f.Write(rgb[i:min(i+step, len(rgb))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.Close()
	srcs = append(srcs, slow)
	waitFor(t, 60*time.Second, func() bool {
		files, _, _ := holdingsIfAny(t, table)
		return len(files) == len(srcs)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	checkExactlyOnce(t, table, srcs)
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultFailed)); got != 0 {
		t.Errorf("sources_total{failed} = %v, want 0 (the slow file was read only once whole)", got)
	}
	if got := counter(t, o.Metrics.Backlog); got != 0 {
		t.Errorf("backlog = %v after everything committed", got)
	}
}

func holdingsIfAny(t *testing.T, table string) (map[string]int, map[string]string, int64) {
	if _, err := os.Stat(filepath.Join(table, "_delta_log")); err != nil {
		return nil, nil, 0
	}
	return holdings(t, table)
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, limit, cond, nil)
}

// TestCheckpoints: the post-commit hook the daemon sets writes a checkpoint at the interval
// and the .crc of every commit, and checkpoint_seconds observes the checkpoint commits only.
func TestCheckpoints(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	for i := range 5 {
		drop(t, in, fmt.Sprintf("s%d.tif", i), rgb)
	}
	o := testOptions(t, table)
	o.BatchMaxSources = 1
	o.Checkpoint.Interval = 2
	runOnce(t, o, in, WatchOptions{})
	if n := commits(t, table); n != 5 {
		t.Fatalf("%d commits, want 5 (one a source)", n)
	}
	for v := int64(0); v < 5; v++ {
		_, errCkpt := os.Stat(filepath.Join(table, filepath.FromSlash(delta.CheckpointKey(v))))
		if want := v == 2 || v == 4; (errCkpt == nil) != want {
			t.Errorf("checkpoint at version %d: %v, want one: %v", v, errCkpt, want)
		}
		if _, err := os.Stat(filepath.Join(table, filepath.FromSlash(delta.CRCKey(v)))); err != nil {
			t.Errorf("no .crc at version %d: %v", v, err)
		}
	}
	if got := counter(t, o.Metrics.CheckpointSeconds); got != 2 {
		t.Errorf("checkpoint_seconds observed %v commits, want 2 (versions 2 and 4)", got)
	}
	if got := counter(t, o.Metrics.CommitSeconds); got != 5 {
		t.Errorf("commit_seconds observed %v commit writes, want 5", got)
	}
}
