package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "gocloud.dev/pubsub/awssnssqs"

	"github.com/deltaraster/deltaraster/internal/testservers"
)

// awsS3Record is an S3 event notification as AWS S3 sends it to SQS or SNS (eventVersion 2.1,
// the key form-encoded).
func awsS3Record(bucket, key string, size int) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventTime":"2026-12-03T12:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:X"},`+
		`"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"R","x-amz-id-2":"I"},`+
		`"s3":{"s3SchemaVersion":"1.0","configurationId":"scenes","bucket":{"name":%q,"ownerIdentity":{"principalId":"X"},`+
		`"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":%d,"eTag":"e","sequencer":"0055AED6DCD90281E5"}}}]}`,
		bucket, bucket, key, size)
}

// s3TestEvent is the message S3 sends to a queue when a notification configuration is set.
const s3TestEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-03T12:00:00.000Z","Bucket":"b","RequestId":"R","HostId":"H"}`

// TestSubscribeSQS: S3 event records on a real SQS queue (fauxqs), sent to the queue directly
// and through an SNS topic (SNS's envelope, which the awssqs driver unwraps), name scenes in
// MinIO. Every scene is ingested once, a duplicate notification adds nothing, a text file among
// the scenes is dead-lettered after its attempts, S3's test event is dropped, and every message
// is deleted from the queue (acked), none left in flight.
func TestSubscribeSQS(t *testing.T) {
	ctx := context.Background()
	base := testservers.MinIO(t).URL(t, "")
	bucket := putScenes(t, base)
	rgb := raster(t, "rgb.tif")
	q := testservers.NewQueue(t, 60*time.Second)
	topic := q.Topic(t)
	q.Send(t, s3TestEvent)
	q.Send(t, awsS3Record(bucket, "in/s0.tif", len(rgb)))
	q.Send(t, awsS3Record(bucket, "in/s+1.tif", len(rgb)))
	testservers.Publish(t, topic, awsS3Record(bucket, "in/s2.tif", len(rgb)))
	testservers.Publish(t, topic, awsS3Record(bucket, "in/bad.tif", 10))
	testservers.Publish(t, topic, awsS3Record(bucket, "in/s0.tif", len(rgb))) // a duplicate

	sub, err := OpenSubscription(ctx, q.Subscription(), SubscriptionOptions{Idle: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	table := base + "tables/sqs"
	o := testOptions(t, table)
	o.MaxAttempts = 2
	runSourceOnce(t, o, sub)
	files, versions, rows := holdings(t, table)
	for _, k := range []string{"in/s0.tif", "in/s%201.tif", "in/s2.tif"} {
		id := "s3://" + bucket + "/" + k
		if files[id] != 1 || !strings.HasPrefix(versions[id], `"`) {
			t.Errorf("%s: %d files, version %q; want 1 file, an ETag", id, files[id], versions[id])
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
	if visible, inFlight := q.Counts(t); visible != 0 || inFlight != 0 {
		t.Errorf("queue holds %d messages and %d in flight after the run, want none: each acked (deleted)", visible, inFlight)
	}
}

// TestSubscriptionSQSAckNack: on a real SQS queue, a message received is in flight (not
// deleted) until its work is settled; dropped work has its message made visible again at once
// (nacked: received again long before the 60 s visibility timeout), and settled work has it
// deleted.
func TestSubscriptionSQSAckNack(t *testing.T) {
	ctx := context.Background()
	bucket := putObjects(t, testservers.MinIO(t).URL(t, ""), map[string][]byte{"a.tif": []byte("bytes")})
	q := testservers.NewQueue(t, 60*time.Second)
	q.Send(t, awsS3Record(bucket, "a.tif", 5))
	sub, err := OpenSubscription(ctx, q.Subscription(), SubscriptionOptions{Idle: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	none := func(id, version string) bool { return false }
	w, err := sub.Poll(ctx, none)
	if err != nil || len(w) != 1 || w[0].ID != "s3://"+bucket+"/a.tif" || !strings.HasPrefix(w[0].Version, `"`) {
		t.Fatalf("poll: %+v, %v; want the work of a.tif at its ETag", w, err)
	}
	if visible, inFlight := q.Counts(t); visible != 0 || inFlight != 1 {
		t.Errorf("while its work waits: %d messages visible, %d in flight; want 0, 1 (not acked before the commit)", visible, inFlight)
	}
	sub.Dropped(w[0])
	// The driver sends nacks in batches and backs off after empty receives: wait up to 10 s, for
	// one message.
	sub.o.Idle, sub.o.MaxMessages = 10*time.Second, 1
	start := time.Now()
	w2, err := sub.Poll(ctx, none)
	if err != nil || len(w2) != 1 || w2[0] != w[0] {
		t.Fatalf("after a nack: %+v, %v; want the same work again", w2, err)
	}
	took := time.Since(start)
	t.Logf("redelivered %v after the nack", took)
	if took > 30*time.Second {
		t.Errorf("redelivered after %v: the visibility timeout, not the nack", took)
	}
	sub.Settled(w2[0])
	// Deleted once its work is settled (acked; the driver sends acks in batches).
	waitFor(t, 30*time.Second, func() bool { v, f := q.Counts(t); return v == 0 && f == 0 })
}

// TestSubscriptionSQSKilled: a replica that dies with a message in flight neither acked nor
// nacked it; the queue delivers it again once its visibility timeout (2 s) has passed, to
// another replica, which settles it.
func TestSubscriptionSQSKilled(t *testing.T) {
	ctx := context.Background()
	bucket := putObjects(t, testservers.MinIO(t).URL(t, ""), map[string][]byte{"a.tif": []byte("bytes")})
	q := testservers.NewQueue(t, 2*time.Second)
	q.Send(t, awsS3Record(bucket, "a.tif", 5))
	none := func(id, version string) bool { return false }
	killed, err := OpenSubscription(ctx, q.Subscription(), SubscriptionOptions{Idle: time.Second, MaxMessages: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := killed.Poll(ctx, none)
	if err != nil || len(w) != 1 {
		t.Fatalf("poll: %+v, %v", w, err)
	}
	// As kill -9 leaves it: the driver gone, the message neither acked nor nacked (gocloud logs
	// "A pubsub.Message was never Acked or Nacked", as it should).
	if err := killed.sub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	other, err := OpenSubscription(ctx, q.Subscription(), SubscriptionOptions{Idle: 10 * time.Second, MaxMessages: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	w2, err := other.Poll(ctx, none)
	if err != nil || len(w2) != 1 || w2[0] != w[0] {
		t.Fatalf("other replica: %+v, %v; want the work of the killed one", w2, err)
	}
	t.Logf("delivered again %v after the kill", time.Since(start))
	other.Settled(w2[0])
	waitFor(t, 30*time.Second, func() bool { v, f := q.Counts(t); return v == 0 && f == 0 })
}
