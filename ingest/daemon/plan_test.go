package daemon

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// checkpointReads counts the reads of checkpoint files (classic, parts and sidecars) made to
// stream the live files (Snapshot.Files). Other reads of the checkpoint, such as the app
// transaction's version a commit reads (its column alone), are not counted.
type checkpointReads struct {
	delta.Store
	n atomic.Int64
}

func (s *checkpointReads) count(key string) {
	if !strings.Contains(key, ".checkpoint.") && !strings.Contains(key, "_sidecars/") {
		return
	}
	if strings.Contains(string(debug.Stack()), "delta.(*Snapshot).replayFiles") {
		s.n.Add(1)
	}
}

func (s *checkpointReads) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.count(key)
	return s.Store.ReadRange(ctx, key, off, n)
}

func (s *checkpointReads) ReadPinned(ctx context.Context, key, gen string, off, n int64) (io.ReadCloser, delta.ObjectInfo, error) {
	s.count(key)
	return s.Store.ReadPinned(ctx, key, gen, off, n)
}

// TestPlanFromIndex: once the index is built, batches of new sources are planned from it: the
// daemon reads the table's checkpoint no more (streaming the live files for each plan cost
// about 15 CPU seconds a batch at a million files), and every source is still ingested once.
func TestPlanFromIndex(t *testing.T) {
	ctx := context.Background()
	rgb := raster(t, "rgb.tif")
	table, in := filepath.Join(t.TempDir(), "tiles"), t.TempDir()
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sources []string
	for i := range 2 {
		sources = append(sources, drop(t, t.TempDir(), fmt.Sprintf("old%d.tif", i), rgb))
		o := ingest.Options{TempDir: t.TempDir(), Workers: 1, Logger: quiet()}
		o.Txn.PostCommit = checkpoint.PostCommit(checkpoint.HookOptions{DisableAuto: true})
		if _, err := ingest.Ingest(ctx, st, sources[i:], o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := checkpoint.Write(ctx, st, 1, checkpoint.Options{}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		sources = append(sources, drop(t, in, fmt.Sprintf("new%d.tif", i), rgb))
	}
	counted := &checkpointReads{Store: st}
	o := testOptions(t, table)
	o.Store, o.Once, o.BatchMaxSources = counted, true, 2
	w := openWatch(t, in, WatchOptions{Unsettled: true})
	d, err := New(ctx, w, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if counted.n.Load() == 0 {
		t.Fatal("building the index read no checkpoint: the test does not test what it should")
	}
	counted.n.Store(0)
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("%d reads of the checkpoint while ingesting 5 new sources in batches of 2: plans streamed the file list", n)
	}
	checkExactlyOnce(t, table, sources)
}
