package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "cloud.google.com/go/pubsub/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/pstest"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// TestSubscribeGCPPubSub runs ingestd --subscribe gcppubsub://... --once on a Pub/Sub
// subscription served by pstest (Google's Go Pub/Sub server, in this process, over gRPC on
// 127.0.0.1, reached through PUBSUB_EMULATOR_HOST), fed GCS notifications of scenes in
// fake-gcs-server: the driver is linked, each scene is ingested once, the text file among them
// is dead-lettered, and every message is acked.
func TestSubscribeGCPPubSub(t *testing.T) {
	ctx := context.Background()
	base := testservers.GCS(t).URL(t, "")
	bucket := strings.TrimSuffix(strings.TrimPrefix(base, "gs://"), "/")
	st, err := delta.OpenStore(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	defer srv.Close()
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	topic, sub := "projects/deltaraster/topics/scenes", "projects/deltaraster/subscriptions/ingestd"
	if _, err := srv.GServer.CreateTopic(ctx, &pb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GServer.CreateSubscription(ctx, &pb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range []string{"scenes/a 0.tif", "scenes/a 1.tif", "scenes/bad.tif"} {
		b := raster(t, "rgb.tif")
		if strings.HasSuffix(k, "bad.tif") {
			b = raster(t, "notraster.tif")
		} else {
			ids = append(ids, "gs://"+bucket+"/"+strings.ReplaceAll(k, " ", "%20"))
		}
		if err := st.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
		srv.Publish(topic, []byte(fmt.Sprintf(`{"kind":"storage#object","name":%q,"bucket":%q}`, k, bucket)),
			map[string]string{"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": bucket, "objectId": k})
	}
	code, _, stderr := ingestd(t, "--table", base+"tables/tiles", "--subscribe", "gcppubsub://"+sub, "--once", "--idle", "2s",
		"--max-attempts", "2", "--retry-backoff", "10ms", "--metrics-addr", "")
	if code != exitOK {
		t.Fatalf("exit %d; log:\n%s", code, stderr)
	}
	checkExactlyOnce(t, base+"tables/tiles", ids)
	if !strings.Contains(stderr, "dead-lettered") {
		t.Errorf("the text file was not dead-lettered; log:\n%s", stderr)
	}
	for _, m := range srv.Messages() {
		if m.Acks == 0 {
			t.Errorf("message of %s never acked; log:\n%s", m.Attributes["objectId"], stderr)
		}
	}
}
