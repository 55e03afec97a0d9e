package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestSubscribe runs ingestd --subscribe on a mem:// subscription (in this process, where the
// test publishes): notifications of local scenes are ingested once each, a text file is
// dead-lettered, and cancelling the run (as a signal does) exits 0.
func TestSubscribe(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	ctx := context.Background()
	topicURL := fmt.Sprintf("mem://ingestd-cmd-topic-%d", rand.Int64())
	topic, err := pubsub.OpenTopic(ctx, topicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(rctx, []string{"--table", table, "--subscribe", topicURL, "--idle", "100ms", "--poll", "100ms",
			"--batch-max-wait", "100ms", "--max-attempts", "2", "--retry-backoff", "10ms", "--metrics-addr", ""}, new(bytes.Buffer), &stderr)
	}()
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), "ingestd: started") }, stderr.String)
	var srcs []string
	for i := range 3 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	bad := drop(t, in, "bad.tif", raster(t, "notraster.tif"))
	for _, body := range []string{srcs[0], srcs[1] + "\n" + srcs[2], bad, srcs[0]} {
		if err := topic.Send(ctx, &pubsub.Message{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, func() bool {
		f, _ := holdings(t, table)
		return len(f) == 3 && strings.Contains(stderr.String(), "dead-lettered")
	}, stderr.String)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after cancellation; log:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ingestd did not stop")
	}
	checkExactlyOnce(t, table, srcs)
	if !strings.Contains(stderr.String(), "source="+topicURL) {
		t.Errorf("the start line does not name the subscription:\n%s", stderr.String())
	}
}
