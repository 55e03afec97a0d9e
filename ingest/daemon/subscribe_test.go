package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub"

	"github.com/deltaraster/deltaraster/delta"
)

func TestParseNotification(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		attrs map[string]string
		query string
		want  []string
		err   bool
	}{
		{name: "AWS S3 record, form-encoded key", body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"bkt"},"object":{"key":"scenes/a+b%2Cc.tif","eTag":"x"}}}]}`,
			want: []string{"s3://bkt/scenes/a%20b%2Cc.tif"}},
		{name: "MinIO records, two objects, one removal", body: `{"EventName":"s3:ObjectCreated:Put","Key":"bkt/x","Records":[
			{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"bkt"},"object":{"key":"in%2Fx.tif"}}},
			{"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"bkt"},"object":{"key":"in%2Fy.tif"}}},
			{"eventName":"s3:ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"bkt"},"object":{"key":"in%2Fz.tif"}}}]}`,
			query: "endpoint=http://127.0.0.1:9000&use_path_style=true",
			want:  []string{"s3://bkt/in/x.tif?endpoint=http://127.0.0.1:9000&use_path_style=true", "s3://bkt/in/z.tif?endpoint=http://127.0.0.1:9000&use_path_style=true"}},
		{name: "S3 test event", body: `{"Records":[]}`, want: nil},
		{name: "GCS finalize", attrs: map[string]string{"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "d/x y.tif"},
			body: `{"name":"d/x y.tif"}`, want: []string{"gs://b/d/x%20y.tif"}},
		{name: "GCS delete", attrs: map[string]string{"eventType": "OBJECT_DELETE", "bucketId": "b", "objectId": "x.tif"}, want: nil},
		{name: "Event Grid array", body: `[{"eventType":"Microsoft.Storage.BlobCreated","data":{"url":"https://acct.blob.core.windows.net/c/d/x.tif"}},
			{"eventType":"Microsoft.Storage.BlobDeleted","data":{"url":"https://acct.blob.core.windows.net/c/d/y.tif"}}]`,
			want: []string{"azblob://acct@c/d/x.tif"}},
		{name: "CloudEvents, Azurite path style", body: `{"type":"Microsoft.Storage.BlobCreated","data":{"url":"http://127.0.0.1:10000/devstoreaccount1/c/x.tif"}}`,
			want: []string{"azblob://devstoreaccount1@c/x.tif"}},
		{name: "bare URLs", body: "mem://b/x.tif\n /data/y.tif \n", want: []string{"mem://b/x.tif", "/data/y.tif"}},
		{name: "empty", body: "  ", err: true},
		{name: "JSON of something else", body: `{"hello":"world"}`, err: true},
		{name: "S3 record without a key", body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"bkt"},"object":{}}}]}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNotification([]byte(tc.body), tc.attrs, tc.query)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, errNotNotification) {
				t.Errorf("error %v does not match errNotNotification", err)
			}
		})
	}
}

func s3Record(bucket, key string) string {
	return fmt.Sprintf(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`, bucket, key)
}

// TestSubscribe feeds a mem:// subscription with notifications of mem:// objects (bare URLs,
// two in one message, a duplicate, objects never written, a message that is no notification,
// a text file among the scenes): the
// scenes are ingested once, the text file is dead-lettered, and every message is acked: none
// comes back after the ack deadline. A notification of an object the table holds is acked
// without a commit.
func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	bucket := fmt.Sprintf("ingestd-scenes-%d", rand.Int64())
	scenes, err := delta.OpenStore(ctx, "mem://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer scenes.Close()
	rgb := raster(t, "rgb.tif")
	for i := range 3 {
		if err := scenes.Put(ctx, fmt.Sprintf("in/s%d.tif", i), rgb); err != nil {
			t.Fatal(err)
		}
	}
	if err := scenes.Put(ctx, "in/bad.tif", raster(t, "notraster.tif")); err != nil {
		t.Fatal(err)
	}
	topicURL := fmt.Sprintf("mem://ingestd-topic-%d", rand.Int64())
	topic, err := pubsub.OpenTopic(ctx, topicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	subscription := func() *Subscription {
		s, err := OpenSubscription(ctx, topicURL+"?ackdeadline=1s", SubscriptionOptions{Idle: 300 * time.Millisecond, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sub := subscription()
	send := func(body string) {
		t.Helper()
		if err := topic.Send(ctx, &pubsub.Message{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	send("mem://" + bucket + "/in/s0.tif")
	send("mem://" + bucket + "/in/s1.tif\nmem://" + bucket + "/in/gone.tif") // two objects, one never written
	send("mem://" + bucket + "/in/s2.tif")
	send("mem://" + bucket + "/in/s0.tif") // a duplicate notification
	send("mem://" + bucket + "/in/bad.tif")
	send("mem://" + bucket + "/in/never-written.tif")
	send(`{"hello":"not a notification"}`)

	table := "mem://" + bucket + "-table"
	o := testOptions(t, table)
	o.MaxAttempts = 2
	runSourceOnce(t, o, sub)
	if len(sub.open) != 0 || len(sub.waiting) != 0 {
		t.Errorf("after the run %d messages and %d objects wait for their ack", len(sub.open), len(sub.waiting))
	}
	files, _, rows := holdings(t, table)
	for i := range 3 {
		if id := fmt.Sprintf("mem://%s/in/s%d.tif", bucket, i); files[id] != 1 {
			t.Errorf("%s in %d files, want 1", id, files[id])
		}
	}
	if len(files) != 3 || rows != 6 {
		t.Errorf("table holds %v, %d tiles; want the 3 scenes, 6 tiles", files, rows)
	}
	if got := counter(t, o.Metrics.Sources.WithLabelValues(ResultDeadLetter)); got != 1 {
		t.Errorf("sources_total{dead_letter} = %v, want 1", got)
	}
	// Nothing unacked comes back once the ack deadline (1 s) has passed.
	rctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	m, err := sub.sub.Receive(rctx)
	cancel()
	if err == nil {
		t.Errorf("message redelivered after the run: %q", m.Body)
		m.Ack()
	}

	// A notification of s1 again: acked, nothing committed.
	send("mem://" + bucket + "/in/s1.tif")
	o2 := testOptions(t, table)
	o2.Once = true
	d2, err := New(ctx, sub, o2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, o2.Metrics.BatchSeconds); got != 0 || len(sub.open) != 0 {
		t.Errorf("%v batches for a source the table holds, %d messages unacked", got, len(sub.open))
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSubscriptionNack: work dropped (as at an abandoned batch) has its message nacked and
// redelivered; Close nacks what still waits.
func TestSubscriptionNack(t *testing.T) {
	ctx := context.Background()
	bucket := fmt.Sprintf("ingestd-nack-%d", rand.Int64())
	st, err := delta.OpenStore(ctx, "mem://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(ctx, "a.tif", []byte("bytes")); err != nil {
		t.Fatal(err)
	}
	topicURL := fmt.Sprintf("mem://ingestd-nack-topic-%d", rand.Int64())
	topic, err := pubsub.OpenTopic(ctx, topicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	sub, err := OpenSubscription(ctx, topicURL+"?ackdeadline=1m", SubscriptionOptions{Idle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.Send(ctx, &pubsub.Message{Body: []byte("mem://" + bucket + "/a.tif")}); err != nil {
		t.Fatal(err)
	}
	none := func(id, version string) bool { return false }
	w, err := sub.Poll(ctx, none)
	if err != nil || len(w) != 1 || w[0].ID != "mem://"+bucket+"/a.tif" || w[0].Version == "" {
		t.Fatalf("poll: %+v, %v", w, err)
	}
	sub.Dropped(w[0])
	w2, err := sub.Poll(ctx, none)
	if err != nil || len(w2) != 1 || w2[0] != w[0] {
		t.Fatalf("after a nack: %+v, %v; want the same work again (the ack deadline is 1 min)", w2, err)
	}
	// Close with the work still waiting: nacked, so a new subscriber... (mempubsub keeps
	// messages per subscription, so the check is that Close leaves nothing open).
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sub.open) != 0 {
		t.Errorf("%d messages open after Close", len(sub.open))
	}
}

// TestSubscriptionNoAckDeadline: on a queue without an ack deadline (as RabbitMQ), a message
// whose object cannot be stat'ed (a path through a regular file: ENOTDIR, not "does not
// exist") is nacked at the next Poll, so it comes back; on a queue with one, it is left to
// expire.
func TestSubscriptionNoAckDeadline(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unreachable := filepath.Join(file, "x.tif")
	for _, noDeadline := range []bool{true, false} {
		t.Run(fmt.Sprint("NoAckDeadline=", noDeadline), func(t *testing.T) {
			topicURL := fmt.Sprintf("mem://ingestd-noack-topic-%d", rand.Int64())
			topic, err := pubsub.OpenTopic(ctx, topicURL)
			if err != nil {
				t.Fatal(err)
			}
			defer topic.Shutdown(ctx)
			sub, err := OpenSubscription(ctx, topicURL+"?ackdeadline=10m", SubscriptionOptions{Idle: 200 * time.Millisecond,
				Logger: testLogger(t), NoAckDeadline: noDeadline})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close(ctx)
			if err := topic.Send(ctx, &pubsub.Message{Body: []byte(unreachable)}); err != nil {
				t.Fatal(err)
			}
			none := func(id, version string) bool { return false }
			w, err := sub.Poll(ctx, none)
			if err != nil || len(w) != 0 {
				t.Fatalf("poll: %+v, %v; want no work (the object cannot be stat'ed)", w, err)
			}
			if got := len(sub.later); got != map[bool]int{true: 1, false: 0}[noDeadline] {
				t.Fatalf("%d messages to nack at the next poll", got)
			}
			// The next Poll nacks it and receives it again (mempubsub redelivers a nack at once).
			before := len(sub.later)
			if _, err := sub.Poll(ctx, none); err != nil {
				t.Fatal(err)
			}
			if len(sub.later) != before {
				t.Errorf("second poll: %d messages to nack, want %d (received again only when nacked)", len(sub.later), before)
			}
		})
	}
}

// TestSubscriptionExclude: notifications of objects in the table, under the dead-letter prefix
// or with a hidden key element are no work and their messages are acked at once; the scenes of
// the same bucket, one beside another table, are work.
func TestSubscriptionExclude(t *testing.T) {
	ctx := context.Background()
	bucket := fmt.Sprintf("ingestd-exclude-%d", rand.Int64())
	st, err := delta.OpenStore(ctx, "mem://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	work := []string{"in/scene.tif", "tables/t2/scene.tif"}
	none := []string{"tables/t/part-0001.parquet", "tables/t/_delta_log/00000000000000000000.json", "dead/x.json",
		"in/.upload-scene.tif", "in/_tmp/scene.tif"}
	for _, k := range append(work, none...) {
		if err := st.Put(ctx, k, []byte("bytes")); err != nil {
			t.Fatal(err)
		}
	}
	topicURL := fmt.Sprintf("mem://ingestd-exclude-topic-%d", rand.Int64())
	topic, err := pubsub.OpenTopic(ctx, topicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	sub, err := OpenSubscription(ctx, topicURL+"?ackdeadline=10m", SubscriptionOptions{Idle: 200 * time.Millisecond,
		Exclude: []string{"mem://" + bucket + "/tables/t", "mem://" + bucket + "/dead/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	for _, k := range append(none, work...) {
		if err := topic.Send(ctx, &pubsub.Message{Body: []byte("mem://" + bucket + "/" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := sub.Poll(ctx, func(id, version string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range w {
		got = append(got, strings.TrimPrefix(x.ID, "mem://"+bucket+"/"))
	}
	slices.Sort(got)
	if !slices.Equal(got, work) {
		t.Errorf("work %q, want %q", got, work)
	}
	if len(sub.open) != len(work) {
		t.Errorf("%d messages wait for their ack, want %d (the others acked at once)", len(sub.open), len(work))
	}
}
