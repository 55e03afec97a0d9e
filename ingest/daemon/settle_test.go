package daemon

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// recordingSource passes a Watch through and records which work it settled and dropped.
type recordingSource struct {
	*Watch
	settled, dropped []string
}

func (r *recordingSource) Settled(w Work) { r.settled = append(r.settled, w.Key); r.Watch.Settled(w) }
func (r *recordingSource) Dropped(w Work) { r.dropped = append(r.dropped, w.Key); r.Watch.Dropped(w) }

// TestQueuedCommittedElsewhere: work queued by this daemon that another writer commits before
// its batch is taken leaves the queue settled (a subscription acks it), never in limbo: the
// Source contract gives every Work to Settled or Dropped. (Before the fix the entry left the
// queue with neither, so its RabbitMQ message stayed unacked until the channel closed.)
func TestQueuedCommittedElsewhere(t *testing.T) {
	ctx := context.Background()
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	first := drop(t, in, "a.tif", rgb)
	o := testOptions(t, table)
	o.Once = true
	src := &recordingSource{Watch: openWatch(t, in, WatchOptions{Unsettled: true})}
	d, err := New(ctx, src, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if len(d.queue) != 1 {
		t.Fatalf("%d queued after the poll, want 1", len(d.queue))
	}

	// Another writer commits the queued source; this daemon reads the new commit.
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other := o.Ingest
	other.AppID = "other-writer"
	if _, err := ingest.Ingest(ctx, st, []string{first}, other); err != nil {
		t.Fatal(err)
	}
	if err := d.refresh(ctx); err != nil {
		t.Fatal(err)
	}

	if b := d.takeBatch(time.Now(), true); b != nil {
		t.Fatalf("took a batch of %d for a source the table holds", len(b))
	}
	if len(d.queue) != 0 {
		t.Errorf("%d still queued", len(d.queue))
	}
	if !slices.Equal(src.settled, []string{"a.tif"}) || len(src.dropped) != 0 {
		t.Errorf("settled %q, dropped %q; want a.tif settled", src.settled, src.dropped)
	}
}
