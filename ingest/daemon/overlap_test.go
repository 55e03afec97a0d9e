package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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

// timeline records, from the ingest's own callbacks, when each source's first tile was decoded
// and when each commit's post-commit work (where checkpoints run) started and ended.
type timeline struct {
	mu       sync.Mutex
	decoded  map[string]time.Time // source identity -> first tile decoded
	sources  map[int64][]string   // version -> the sources its adds hold
	hookFrom map[int64]time.Time
	hookTo   map[int64]time.Time
}

func newTimeline() *timeline {
	return &timeline{decoded: map[string]time.Time{}, sources: map[int64][]string{},
		hookFrom: map[int64]time.Time{}, hookTo: map[int64]time.Time{}}
}

func (tl *timeline) progress(p ingest.Progress) {
	if p.Source == "" || p.TilesDone == 0 {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if _, ok := tl.decoded[p.Source]; !ok {
		tl.decoded[p.Source] = time.Now()
	}
}

// decodedOther reports whether a tile of a source that no commit up to v holds was decoded.
func (tl *timeline) decodedOther(v int64) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for s := range tl.decoded {
		held := false
		for w := int64(0); w <= v; w++ {
			held = held || slices.Contains(tl.sources[w], s)
		}
		if !held {
			return true
		}
	}
	return false
}

// hook is a post-commit hook that records the commit and runs slow (a stand-in for a long
// checkpoint) at version slowAt, until another batch's decode has started or 20 s passed;
// then it runs more, if set.
func (tl *timeline) hook(slowAt int64, more func(context.Context, delta.Committed) error) func(context.Context, delta.Committed) error {
	return func(ctx context.Context, c delta.Committed) error {
		var srcs []string
		for _, a := range c.Actions {
			if a.Add == nil {
				continue
			}
			pairs, _ := ingest.FileSources(a.Add.Tags)
			for _, p := range pairs {
				srcs = append(srcs, p.ID)
			}
		}
		tl.mu.Lock()
		tl.sources[c.Version] = srcs
		tl.hookFrom[c.Version] = time.Now()
		tl.mu.Unlock()
		var err error
		if c.Version == slowAt {
			for deadline := time.Now().Add(20 * time.Second); !tl.decodedOther(c.Version) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if more != nil {
				err = more(ctx, c)
			}
		}
		tl.mu.Lock()
		tl.hookTo[c.Version] = time.Now()
		tl.mu.Unlock()
		return err
	}
}

// TestOverlap: the next batch is decoded while the one before it is still committing: the
// first tile of the batch committed at version 2 is decoded before the commit of version 1
// (its post-commit work held until then) returns. Without the overlap the hook waits 20 s in
// vain and the order is the other way round. Every source lands once.
func TestOverlap(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	var srcs []string
	for i := range 4 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	tl := newTimeline()
	o := testOptions(t, table)
	o.BatchMaxSources = 1
	o.Ingest.Progress = tl.progress
	o.Ingest.Txn.PostCommit = tl.hook(1, nil)
	runOnce(t, o, in, WatchOptions{})
	checkExactlyOnce(t, table, srcs)
	if n := commits(t, table); n != 4 {
		t.Fatalf("%d commits, want 4", n)
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.sources[2]) != 1 {
		t.Fatalf("version 2 holds %v, want one source", tl.sources[2])
	}
	next := tl.decoded[tl.sources[2][0]]
	if !next.Before(tl.hookTo[1]) {
		t.Errorf("the batch of version 2 was first decoded %v after the commit of version 1 returned: no overlap",
			next.Sub(tl.hookTo[1]))
	}
	t.Logf("version 1 committing %v .. %v; the batch of version 2 decoded from %v", tl.hookFrom[1].Format(time.StampMicro),
		tl.hookTo[1].Format(time.StampMicro), next.Format(time.StampMicro))
}

// TestOverlapFailures: a failure in either stage of the pipeline leaves nothing half
// committed. Decode: a truncated raster (it opens, its pixels cannot be read) fails in the
// batch being written while another commits; the rest of its batch commits without it, each
// source whole and once. Commit: while the batch of version 1 commits, and once the next
// batch is being decoded, another writer changes the table's band layout; the next batch,
// written for the old layout, fails at its commit: nothing of it is committed (its files are
// orphans), and it is written and committed again afterwards.
func TestOverlapFailures(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	t.Run("decode", func(t *testing.T) {
		in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
		var srcs []string
		for i := range 5 {
			srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
		}
		bad := drop(t, in, "s2-truncated.tif", raster(t, "truncated.tif"))
		tl := newTimeline()
		o := testOptions(t, table)
		o.BatchMaxSources = 2
		o.MaxAttempts = 2
		o.Ingest.Progress = tl.progress
		o.Ingest.Txn.PostCommit = tl.hook(1, nil)
		runOnce(t, o, in, WatchOptions{})
		checkExactlyOnce(t, table, srcs)
		if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultDeadLetter)); got != 1 {
			t.Errorf("sources_total{dead_letter} = %v, want 1 (%s)", got, bad)
		}
	})
	t.Run("commit", func(t *testing.T) {
		in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
		var srcs []string
		for i := range 4 {
			srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
		}
		tl := newTimeline()
		o := testOptions(t, table)
		o.BatchMaxSources = 1
		o.MaxAttempts = 2
		o.Ingest.Progress = tl.progress
		relayout := func(ctx context.Context, c delta.Committed) error {
			txn, err := delta.Begin(ctx, c.Store, delta.TxnOptions{})
			if err != nil {
				return err
			}
			m := txn.Snapshot().Metadata()
			conf := map[string]string{}
			for k, v := range m.Configuration {
				conf[k] = v
			}
			conf["deltaraster.bands"] = "x,y,z"
			m.Configuration = conf
			txn.SetMetadata(m)
			_, err = txn.Commit(ctx, "SET TBLPROPERTIES", nil)
			return err
		}
		o.Ingest.Txn.PostCommit = tl.hook(1, relayout)
		var log testutil.SyncBuffer
		o.Logger = slog.New(slog.NewTextHandler(&log, nil))
		runOnce(t, o, in, WatchOptions{})
		if !tl.decodedOther(1) {
			t.Fatal("the next batch was not decoded while version 1 committed")
		}
		// The batch written for the old layout failed at its commit, and was written and
		// committed again afterwards (band names are the table's; the count and type fit).
		if !strings.Contains(log.String(), "ingestd: batch failed") || !strings.Contains(log.String(), "the table was created concurrently with") {
			t.Errorf("no batch failed at its commit; log:\n%s", log.String())
		}
		if n := commits(t, table); n != 5 {
			t.Fatalf("%d commits, want 5 (four batches and the other writer's)", n)
		}
		tl.mu.Lock()
		if len(tl.sources[2]) != 0 {
			t.Errorf("version 2 (the other writer's) holds %v", tl.sources[2])
		}
		tl.mu.Unlock()
		checkExactlyOnce(t, table, srcs)
		// The files of the failed commit are in the table directory, in no commit: orphans
		// for vacuum --full.
		ents, err := os.ReadDir(table)
		if err != nil {
			t.Fatal(err)
		}
		parquet := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".parquet") {
				parquet++
			}
		}
		if parquet != 5 {
			t.Errorf("%d data files in the table directory, want 5 (4 committed, 1 orphan of the failed commit)", parquet)
		}
	})
}
