package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// pipeline is a MinIO bucket whose object-created events go to a RabbitMQ queue, and a table in
// that bucket, for ingestd --subscribe rabbit:// replicas.
type pipeline struct {
	bucket, queue, table string
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	bucket := testservers.MinIO(t).Bucket(t)
	return &pipeline{bucket: bucket, queue: testservers.NotifyQueue(t, bucket), table: "s3://" + bucket + "/tables/tiles"}
}

// args are a replica's arguments: small batches, quick polls, at most 2 messages unacked each.
func (p *pipeline) args(app string, more ...string) []string {
	return append([]string{"--table", p.table, "--subscribe", "rabbit://" + p.queue + "?prefetch_count=2", "--app-id", app,
		"--poll", "200ms", "--idle", "200ms", "--batch-max-sources", "3", "--batch-max-wait", "300ms",
		"--retry-backoff", "100ms", "--metrics-addr", ""}, more...)
}

// put uploads a local scene to the bucket; MinIO notifies the queue.
func (p *pipeline) put(t testing.TB, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = testservers.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key), Body: f})
	return err
}

// id is the source identity of a key of the bucket.
func (p *pipeline) id(key string) string { return "s3://" + p.bucket + "/" + key }

// waitConsumers waits until the queue has n consumers.
func (p *pipeline) waitConsumers(t *testing.T, n int, logs func() string) {
	t.Helper()
	waitFor(t, 60*time.Second, func() bool { _, c := testservers.QueueState(t, p.queue); return c == n },
		func() string { return fmt.Sprintf("want %d consumers on %s; logs:\n%s", n, p.queue, logs()) })
}

// checkPixels exports each source from the table and compares it with its local scene.
func (p *pipeline) checkPixels(t *testing.T, scenes map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, p.table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	for id, local := range scenes {
		out := filepath.Join(dir, "export.tif")
		if err := ingest.Export(ctx, st, ingest.ExportOptions{Source: id, Out: out}); err != nil {
			t.Fatalf("export %s: %v", id, err)
		}
		testutil.AssertSamePixels(t, local, out)
		os.Remove(out)
	}
}

// distinctScenes writes n scenes of rgb.tif's size and band layout whose pixels differ from one
// scene to the next (rgb.tif's values scaled down a little more each time), so that a tile of
// one scene read back as another's would show.
func distinctScenes(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	rgb := filepath.Join(dir, "rgb.tif")
	if err := os.WriteFile(rgb, raster(t, "rgb.tif"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := make([]string, n)
	for i := range n {
		out[i] = filepath.Join(dir, fmt.Sprintf("scene-%03d.tif", i))
		cmd := exec.Command("gdal_translate", "-q", "-scale", "0", "255", "0", fmt.Sprint(255-i%200), rgb, out[i])
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gdal_translate: %v\n%s", err, b)
		}
	}
	return out
}

// TestPipelineMinIORabbitMQ is the whole pipeline on real servers: scenes PUT into a MinIO
// bucket, MinIO's bucket notifications to a RabbitMQ queue, two ingestd --subscribe rabbit://
// replicas (different app ids) writing one table in the bucket. Every scene is in the table
// exactly once and reads back pixel for pixel, both replicas committed, every version of the
// table reads, and after SIGTERM no message is left in the queue: each was acked.
func TestPipelineMinIORabbitMQ(t *testing.T) {
	p := newPipeline(t)
	local := distinctScenes(t, 12)
	a, b := start(t, p.args("pipeline-a")...), start(t, p.args("pipeline-b")...)
	logs := func() string { return "replica a:\n" + a.log() + "\nreplica b:\n" + b.log() }
	p.waitConsumers(t, 2, logs)

	scenes := map[string]string{}
	var ids []string
	for i, path := range local {
		key := fmt.Sprintf("scenes/2026-12-03/scene %02d.tif", i) // a space: form-encoded in the events
		if err := p.put(t, key, path); err != nil {
			t.Fatal(err)
		}
		id := p.id(strings.ReplaceAll(key, " ", "%20"))
		scenes[id] = path
		ids = append(ids, id)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, 120*time.Second, func() bool { f, _ := holdings(t, p.table); return len(f) >= len(ids) }, logs)
	for name, r := range map[string]*proc{"a": a, "b": b} {
		if code := r.stop(t, syscall.SIGTERM); code != exitOK {
			t.Errorf("replica %s: exit %d after SIGTERM; log:\n%s", name, code, r.log())
		}
		n := strings.Count(r.log(), "ingestd: committed")
		t.Logf("replica %s: %d commits, %d re-plans after a conflict", name, n, strings.Count(r.log(), "commit conflicted"))
		if n == 0 {
			t.Errorf("replica %s committed nothing; log:\n%s", name, r.log())
		}
		if strings.Contains(r.log(), "dead-lettered") {
			t.Errorf("replica %s dead-lettered a source; log:\n%s", name, r.log())
		}
	}
	p.checkAcked(t)
	checkExactlyOnce(t, p.table, ids)
	p.checkPixels(t, scenes)
}

// checkAcked checks, once the replicas are gone, that no notification of a scene is left in the
// queue: each was acked. (Notifications of the table's own objects written last may be left:
// the bucket notifies them too, and the replicas skip them.)
func (p *pipeline) checkAcked(t *testing.T) {
	t.Helper()
	if _, consumers := testservers.QueueState(t, p.queue); consumers != 0 {
		t.Errorf("%d consumers on %s after the replicas stopped", consumers, p.queue)
	}
	left := testservers.DrainQueue(t, p.queue)
	for _, body := range left {
		if strings.Contains(string(body), "scenes%2F") {
			t.Errorf("a notification of a scene is left in the queue (never acked): %s", body)
		}
	}
	t.Logf("%d notifications of the table's own objects left in the queue", len(left))
}

// TestSubscribeRabbitMQRestart: RabbitMQ restarts under a running ingestd --subscribe (its
// connection closed by the broker); ingestd subscribes again once the broker is back, and the
// scenes notified before and after are each in the table once, no notification left unacked.
func TestSubscribeRabbitMQRestart(t *testing.T) {
	p := newPipeline(t)
	local := distinctScenes(t, 6)
	r := start(t, p.args("restart")...)
	p.waitConsumers(t, 1, r.log)
	var ids []string
	put := func(from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("scenes/s%d.tif", i)
			if err := p.put(t, key, local[i]); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.id(key))
		}
		waitFor(t, 90*time.Second, func() bool { f, _ := holdings(t, p.table); return len(f) >= to }, r.log)
	}
	put(0, 3)
	testservers.RestartRabbitMQ(t)
	p.waitConsumers(t, 1, r.log)
	put(3, 6)
	if code := r.stop(t, syscall.SIGTERM); code != exitOK {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, r.log())
	}
	if !strings.Contains(r.log(), "ingestd: subscribed again") {
		t.Errorf("no new subscription logged; log:\n%s", r.log())
	}
	p.checkAcked(t)
	checkExactlyOnce(t, p.table, ids)
}

// TestSubscribeKillRedelivers: messages a replica holds in its batch (taken, not committed) are
// unacked, so when it is killed with SIGKILL RabbitMQ puts them back in the queue, and the
// next replica ingests them: nothing acked before its commit, nothing lost.
func TestSubscribeKillRedelivers(t *testing.T) {
	p := newPipeline(t)
	// The table in another bucket, so that the queue holds the scenes' notifications only; made
	// beforehand with a local scene (while there is no table, a batch holds one source).
	p.table = "s3://" + testservers.MinIO(t).Bucket(t) + "/tiles"
	local := distinctScenes(t, 3)
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, p.table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := ingest.Ingest(ctx, st, local[2:], ingest.Options{AppID: "seed"}); err != nil {
		t.Fatal(err)
	}
	ids := []string{local[2]}
	local = local[:2]
	// A batch that waits for an hour or 100 sources: the two scenes stay in flight.
	held := start(t, p.args("held", "--batch-max-sources", "100", "--batch-max-wait", "1h")...)
	p.waitConsumers(t, 1, held.log)
	for i, path := range local {
		key := fmt.Sprintf("scenes/s%d.tif", i)
		if err := p.put(t, key, path); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.id(key))
	}
	waitFor(t, 60*time.Second, func() bool {
		ready, _ := testservers.QueueState(t, p.queue)
		return ready == 0 && strings.Count(held.log(), "ingestd: new work") > 0
	}, held.log)
	time.Sleep(time.Second) // a notification acked too early would have been acked by now
	held.cmd.Process.Signal(syscall.SIGKILL)
	<-held.done
	if f, _ := holdings(t, p.table); len(f) != 1 {
		t.Fatalf("the held replica committed: the table holds %v", f)
	}
	waitFor(t, 30*time.Second, func() bool {
		ready, consumers := testservers.QueueState(t, p.queue)
		return ready == len(local) && consumers == 0
	}, func() string {
		ready, consumers := testservers.QueueState(t, p.queue)
		return fmt.Sprintf("after the kill the queue has %d messages ready (%d consumers), want %d", ready, consumers, len(local))
	})
	next := start(t, p.args("next")...)
	waitFor(t, 90*time.Second, func() bool { f, _ := holdings(t, p.table); return len(f) >= len(ids) }, next.log)
	if code := next.stop(t, syscall.SIGTERM); code != exitOK {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, next.log())
	}
	p.checkAcked(t)
	checkExactlyOnce(t, p.table, ids)
}
