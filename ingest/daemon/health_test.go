package daemon

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// flakyStore fails the listings of the table's log while down is set, and the first
// failPuts puts under the dead-letter prefix.
type flakyStore struct {
	delta.Store
	down     atomic.Bool
	failPuts atomic.Int32
	puts     atomic.Int32
}

var errDown = errors.New("connection refused")

func (s *flakyStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[delta.ObjectInfo, error] {
	if s.down.Load() && strings.HasPrefix(prefix, "_delta_log") {
		return func(yield func(delta.ObjectInfo, error) bool) { yield(delta.ObjectInfo{}, errDown) }
	}
	return s.Store.List(ctx, prefix, startAfter)
}

func (s *flakyStore) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, DefaultDeadLetterPrefix) {
		s.puts.Add(1)
		if s.failPuts.Add(-1) >= 0 {
			return errDown
		}
	}
	return s.Store.Put(ctx, key, data)
}

// TestReadyFails: Ready (ingestd's /readyz) reports a table whose log cannot be listed, naming
// the table and the cause, and recovers with it.
func TestReadyFails(t *testing.T) {
	ctx := context.Background()
	table := filepath.Join(t.TempDir(), "tiles")
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &flakyStore{Store: st}
	o := testOptions(t, table)
	o.Store = fs
	d, err := New(ctx, openWatch(t, t.TempDir(), WatchOptions{}), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("ready on a reachable table: %v", err)
	}
	fs.down.Store(true)
	err = d.Ready(ctx)
	if !errors.Is(err, errDown) || !strings.Contains(err.Error(), table) {
		t.Errorf("ready with the table's log unreachable: %v; want an error naming %s and the cause", err, table)
	}
	fs.down.Store(false)
	if err := d.Ready(ctx); err != nil {
		t.Errorf("ready once the table is back: %v", err)
	}
}

// TestDeadLetterWriteFails: a source to give up whose dead-letter record cannot be written
// stays queued (not settled: a subscription would not ack it), is tried again after the
// backoff (one more failed attempt per failed write), and is dead-lettered once the write
// succeeds; the good sources commit meanwhile.
func TestDeadLetterWriteFails(t *testing.T) {
	ctx := context.Background()
	rgb, text := raster(t, "rgb.tif"), raster(t, "notraster.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	srcs := []string{drop(t, in, "a.tif", rgb), drop(t, in, "b.tif", rgb)}
	drop(t, in, "bad.tif", text)
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &flakyStore{Store: st}
	fs.failPuts.Store(2)
	o := testOptions(t, table)
	o.Store, o.MaxAttempts = fs, 2
	runOnce(t, o, in, WatchOptions{})
	checkResults(t, "run", o.Metrics, 2+2, 1)
	if n := fs.puts.Load(); n != 3 {
		t.Errorf("%d writes of the dead letter, want 3 (2 failing, then 1)", n)
	}
	ents, err := os.ReadDir(filepath.Join(table, filepath.FromSlash(DefaultDeadLetterPrefix)))
	if err != nil || len(ents) != 1 {
		t.Errorf("dead-letter location: %d records (%v), want 1", len(ents), err)
	}
	checkExactlyOnce(t, table, srcs)
}
