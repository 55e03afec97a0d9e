package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestBatchFailures: while the table's store fails every commit write, or every data file
// write, the batch fails as a whole: it is retried with the doubling backoff (never a spin),
// counted in batch_failures_total, and never counted against its
// sources, which are neither failed nor dead-lettered (MaxAttempts 2). Once the store heals the
// batch commits, every scene once. With Once, MaxAttempts failed batches in a row end the run
// with an error, and nothing is dead-lettered either.
func TestBatchFailures(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	for _, tc := range []struct {
		name string
		fail func(op testutil.Op, key string) bool
	}{
		{"commit", func(op testutil.Op, key string) bool {
			return op == testutil.OpPutIfAbsent && strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json")
		}},
		{"data file", func(op testutil.Op, key string) bool {
			return (op == testutil.OpCreate || op == testutil.OpPut || op == testutil.OpPutIfAbsent) && strings.HasSuffix(key, ".parquet")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
			srcs := []string{drop(t, in, "s0.tif", rgb)}
			runOnce(t, testOptions(t, table), in, WatchOptions{})
			for i := 1; i < 4; i++ {
				srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
			}
			clean, err := delta.OpenStore(context.Background(), table)
			if err != nil {
				t.Fatal(err)
			}
			defer clean.Close()
			fs := testutil.NewFaultStore(clean)
			var down atomic.Bool
			var faults atomic.Int64
			down.Store(true)
			fs.Hook = func(_ int64, op testutil.Op, key string) error {
				if down.Load() && tc.fail(op, key) {
					faults.Add(1)
					return testutil.ErrInjected
				}
				return nil
			}
			o := testOptions(t, table)
			o.Store = fs
			o.MaxAttempts = 2
			o.RetryBackoff = 20 * time.Millisecond
			o.BatchMaxWait = 10 * time.Millisecond
			// A data file per tile: files are written while a source is tiled, not only at the
			// end of the batch (a large scene's case).
			o.Ingest.TargetFileBytes = 1

			// Once: MaxAttempts batches in a row fail, the run ends with an error.
			oo := o
			oo.Once = true
			oo.Metrics = NewMetrics(nil)
			d, err := New(context.Background(), openWatch(t, in, WatchOptions{Unsettled: true}), oo)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Run(context.Background())
			d.Close()
			if err == nil || !strings.Contains(err.Error(), "batches in a row failed") {
				t.Errorf("Once while the store fails: %v, want the batches-in-a-row error", err)
			}
			checkFailureMetrics(t, oo.Metrics, 2)

			// Running: retried with backoff while the store fails, committed once it heals.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err = New(ctx, openWatch(t, in, WatchOptions{}), o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			// The outage lasts until 3 batches failed (the transaction's own retries of a
			// failed commit write may take a while on a loaded machine), then 600 ms more: with
			// the next backoffs of 80, 160, 320 ms at most 3 more batches start; a spin would
			// be hundreds.
			waitFor(t, 60*time.Second, func() bool { return counter(t, o.Metrics.BatchFailures) >= 3 })
			n3 := counter(t, o.Metrics.BatchFailures)
			time.Sleep(600 * time.Millisecond)
			down.Store(false)
			nb := counter(t, o.Metrics.BatchFailures)
			waitFor(t, 60*time.Second, func() bool { f, _, _ := holdings(t, table); return len(f) == len(srcs) })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			t.Logf("%v failed batches when 3 were seen, %v 600 ms later; %d faults", n3, nb, faults.Load())
			if nb-n3 > 3 {
				t.Errorf("%v batches failed in 600 ms after the third, with a 20 ms backoff doubling: want at most 3", nb-n3)
			}
			checkFailureMetrics(t, o.Metrics, -1)
			if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultAdded)); got != 3 {
				t.Errorf("sources_total{added} = %v, want 3", got)
			}
			// Every scene once: 2 tiles each (here in 2 data files: one a tile), nothing else.
			files, _, rows := holdings(t, table)
			for _, p := range srcs {
				if files[p] == 0 {
					t.Errorf("the table lacks %s", p)
				}
			}
			if len(files) != len(srcs) || rows != int64(2*len(srcs)) {
				t.Errorf("the table holds %v, %d tiles; want the %d scenes, 2 tiles each", files, rows, len(srcs))
			}
			if ents, _ := os.ReadDir(filepath.Join(table, filepath.FromSlash(DefaultDeadLetterPrefix))); len(ents) != 0 {
				t.Errorf("%d dead letters after a store outage, want none", len(ents))
			}
		})
	}
}

// checkFailureMetrics checks that batches failed (batch_failures_total = batches; -1: any) and
// no source was counted as failed or dead-lettered.
func checkFailureMetrics(t *testing.T, m *Metrics, batches float64) {
	t.Helper()
	if got := counter(t, m.BatchFailures); batches >= 0 && got != batches {
		t.Errorf("batch_failures_total = %v, want %v", got, batches)
	}
	for _, r := range []string{ResultFailed, ResultDeadLetter} {
		if got := counter(t, m.Sources.WithLabelValues(r)); got != 0 {
			t.Errorf("sources_total{%s} = %v after failures of the table's store, want 0", r, got)
		}
	}
}

// TestDeadLettersAtStart: a daemon reads the dead letters at start, in the table's
// _deltaraster/dead-letter/ or at a dead-letter URL, and does not try a (source, version)
// dead-lettered by an earlier process again; once the source changes (a new version) it is
// tried again. A record that does not decode is skipped.
func TestDeadLettersAtStart(t *testing.T) {
	rgb, text := raster(t, "rgb.tif"), raster(t, "notraster.tif")
	for _, tc := range []struct {
		name      string
		elsewhere bool
	}{{"in the table", false}, {"dead-letter URL", true}} {
		t.Run(tc.name, func(t *testing.T) {
			in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
			dlDir := filepath.Join(table, filepath.FromSlash(DefaultDeadLetterPrefix))
			opts := func() Options {
				o := testOptions(t, table)
				o.MaxAttempts = 2
				if tc.elsewhere {
					o.DeadLetter = dlDir
				}
				return o
			}
			if tc.elsewhere {
				dlDir = filepath.Join(t.TempDir(), "dead")
			}
			srcs := []string{drop(t, in, "good.tif", rgb)}
			bad := drop(t, in, "bad.tif", text)
			letters := func() int {
				ents, _ := os.ReadDir(dlDir)
				return len(ents)
			}

			o := opts()
			runOnce(t, o, in, WatchOptions{})
			checkResults(t, "first run", o.Metrics, 2, 1)
			if n := letters(); n != 1 {
				t.Fatalf("%d dead letters after the first run, want 1", n)
			}
			// A record that does not decode, beside the real one.
			if err := os.WriteFile(filepath.Join(dlDir, "garbage.json"), []byte("not json\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			o = opts()
			runOnce(t, o, in, WatchOptions{})
			checkResults(t, "second run (bad.tif unchanged)", o.Metrics, 0, 0)

			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(bad, future, future); err != nil {
				t.Fatal(err)
			}
			o = opts()
			runOnce(t, o, in, WatchOptions{})
			checkResults(t, "third run (bad.tif changed)", o.Metrics, 2, 1)
			if n := letters(); n != 3 {
				t.Errorf("%d objects in the dead-letter location, want 3 (2 records and the garbage)", n)
			}
			checkExactlyOnce(t, table, srcs)
		})
	}
}

func checkResults(t *testing.T, run string, m *Metrics, failed, dead float64) {
	t.Helper()
	if got := counter(t, m.Sources.WithLabelValues(ResultFailed)); got != failed {
		t.Errorf("%s: sources_total{failed} = %v, want %v", run, got, failed)
	}
	if got := counter(t, m.Sources.WithLabelValues(ResultDeadLetter)); got != dead {
		t.Errorf("%s: sources_total{dead_letter} = %v, want %v", run, got, dead)
	}
}
