package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "cloud.google.com/go/pubsub/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/pstest"
	_ "gocloud.dev/pubsub/gcppubsub"

	"github.com/deltaraster/deltaraster/ingest/daemon/subcheck"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// gcsNotification is a GCS Pub/Sub notification of a created object (JSON_API_V1 payload), as
// a bucket's notification configuration publishes it: its attributes say what happened.
func gcsNotification(bucket, object string) ([]byte, map[string]string) {
	body := fmt.Sprintf(`{"kind":"storage#object","id":"%s/%s/1","name":%q,"bucket":%q,"generation":"1","size":"1"}`,
		bucket, object, object, bucket)
	return []byte(body), map[string]string{"notificationConfig": "projects/_/buckets/" + bucket + "/notificationConfigs/1",
		"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": bucket, "objectId": object,
		"objectGeneration": "1", "eventTime": "2026-12-03T12:00:00.000000Z"}
}

// pubsubServer starts pstest, the Pub/Sub server of Google's Go client (in this process,
// speaking the Pub/Sub gRPC API on 127.0.0.1), with a topic and a subscription of it, and points
// gocloud's gcppubsub driver at it through PUBSUB_EMULATOR_HOST. The driver dials once per
// process, so one test of the package uses it, after a server of internal/testservers has
// started (so inside the private network namespace). It returns the server, the topic's name,
// the subscription URL and a function that stops the server (at most once; the test's cleanup
// calls it too).
func pubsubServer(t *testing.T, ackDeadline time.Duration) (*pstest.Server, string, string, func()) {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	stop := sync.OnceFunc(func() { srv.Close() })
	t.Cleanup(stop)
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	ctx := context.Background()
	topic, sub := "projects/deltaraster/topics/scenes", "projects/deltaraster/subscriptions/ingestd"
	if _, err := srv.GServer.CreateTopic(ctx, &pb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GServer.CreateSubscription(ctx, &pb.Subscription{Name: sub, Topic: topic,
		AckDeadlineSeconds: int32(ackDeadline.Seconds())}); err != nil {
		t.Fatal(err)
	}
	return srv, topic, "gcppubsub://" + sub, stop
}

// TestSubscribeGCPPubSub: GCS notifications on a Pub/Sub subscription (pstest) name scenes in
// fake-gcs-server: every scene is ingested once at its generation, a duplicate notification adds
// nothing, a text file among them is dead-lettered, a deletion is no work; every message is
// acked, and only once its work is settled: dropped work has its message nacked and delivered
// again at once (the ack deadline is 60 s).
func TestSubscribeGCPPubSub(t *testing.T) {
	ctx := context.Background()
	base := testservers.GCS(t).URL(t, "")
	bucket := putScenes(t, base)
	srv, topic, subURL, stopServer := pubsubServer(t, 60*time.Second)
	publish := func(object, eventType string) {
		body, attrs := gcsNotification(bucket, object)
		attrs["eventType"] = eventType
		srv.Publish(topic, body, attrs)
	}

	// One notification first: in flight until settled, nacked when dropped.
	publish("in/s0.tif", "OBJECT_FINALIZE")
	sub, err := OpenSubscription(ctx, subURL, SubscriptionOptions{Idle: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	none := func(id, version string) bool { return false }
	w, err := sub.Poll(ctx, none)
	if err != nil || len(w) != 1 || w[0].ID != "gs://"+bucket+"/in/s0.tif" || w[0].Version == "" {
		t.Fatalf("poll: %+v, %v; want the work of in/s0.tif", w, err)
	}
	if m := srv.Messages()[0]; m.Acks != 0 {
		t.Errorf("message acked before its work settled")
	}
	sub.Dropped(w[0])
	start := time.Now()
	sub.o.Idle, sub.o.MaxMessages = 10*time.Second, 1
	w2, err := sub.Poll(ctx, none)
	if err != nil || len(w2) != 1 || w2[0] != w[0] {
		t.Fatalf("after a nack: %+v, %v; want the same work again", w2, err)
	}
	t.Logf("redelivered %v after the nack", time.Since(start))
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("redelivered after %v: the ack deadline, not the nack", took)
	}
	sub.Dropped(w2[0])
	sub.o.Idle, sub.o.MaxMessages = time.Second, 1000

	publish("in/s 1.tif", "OBJECT_FINALIZE")
	publish("in/s2.tif", "OBJECT_FINALIZE")
	publish("in/bad.tif", "OBJECT_FINALIZE")
	publish("in/s2.tif", "OBJECT_FINALIZE") // a duplicate
	publish("in/old.tif", "OBJECT_DELETE")
	table := base + "tables/pubsub"
	o := testOptions(t, table)
	o.MaxAttempts = 2
	runSourceOnce(t, o, sub)
	files, versions, rows := holdings(t, table)
	for _, k := range []string{"in/s0.tif", "in/s%201.tif", "in/s2.tif"} {
		id := "gs://" + bucket + "/" + k
		if files[id] != 1 || versions[id] == "" {
			t.Errorf("%s: %d files, version %q; want 1 file, its generation", id, files[id], versions[id])
		}
	}
	if len(files) != 3 || rows != 6 {
		t.Errorf("table holds %v, %d tiles; want the 3 scenes, 6 tiles", files, rows)
	}
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultDeadLetter)); got != 1 {
		t.Errorf("sources_total{dead_letter} = %v, want 1", got)
	}
	if len(sub.open) != 0 || len(sub.waiting) != 0 {
		t.Errorf("after the run %d messages and %d objects wait for their ack", len(sub.open), len(sub.waiting))
	}
	if err := sub.Close(ctx); err != nil { // sends the acks still batched
		t.Fatal(err)
	}
	for _, m := range srv.Messages() {
		if m.Acks == 0 {
			t.Errorf("message %s (%s) never acked", m.ID, m.Attributes["objectId"])
		}
	}

	// A subscription that does not exist fails the open, naming it (the driver would open it
	// and receive nothing, forever); the short form of the URL names the same path.
	for _, u := range []string{"gcppubsub://projects/deltaraster/subscriptions/missing", "gcppubsub://deltaraster/missing"} {
		if s, err := OpenSubscription(ctx, u, SubscriptionOptions{Check: subcheck.Probe}); err == nil {
			s.Close(ctx)
			t.Errorf("%s opened", u)
		} else if want := "the Pub/Sub subscription projects/deltaraster/subscriptions/missing does not exist"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want it to say %q", u, err, want)
		}
	}

	// A server that goes away after the start: the driver retries inside Receive, so a poll
	// only sees an empty queue; once nothing was heard for Recheck, the poll checks the
	// subscription again, and fails, until the server answers again.
	defer func(d time.Duration) { subcheck.Timeout = d }(subcheck.Timeout)
	subcheck.Timeout = 2 * time.Second // the client retries an unavailable server until then
	const recheck = time.Second
	live, err := OpenSubscription(ctx, subURL, SubscriptionOptions{Idle: 100 * time.Millisecond,
		Check: subcheck.Probe, Recheck: recheck, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(ctx)
	if _, err := live.Poll(ctx, none); err != nil { // just opened: no check
		t.Fatalf("poll with the server up: %v", err)
	}
	time.Sleep(recheck)
	if _, err := live.Poll(ctx, none); err != nil { // checks, and passes
		t.Fatalf("poll with the server up, after %v: %v", recheck, err)
	}
	stopServer()
	if _, err := live.Poll(ctx, none); err != nil {
		t.Fatalf("poll right after a check: %v; want no check yet", err)
	}
	time.Sleep(recheck)
	_, err = live.Poll(ctx, none)
	if want := "the Pub/Sub subscription projects/deltaraster/subscriptions/ingestd"; err == nil ||
		!strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "no message in the last") {
		t.Fatalf("poll with the server gone: %v; want an error saying no message came and %q failed its check", err, want)
	}
	t.Logf("with the server gone: %v", err)
}
