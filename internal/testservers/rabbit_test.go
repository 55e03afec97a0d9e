package testservers

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestMinIONotifiesRabbitMQ: an object PUT into a bucket whose notifications go to RabbitMQ
// arrives there as an S3 event record naming it, as a persistent message; another bucket's
// object does not reach that queue.
func TestMinIONotifiesRabbitMQ(t *testing.T) {
	bucket, other := MinIO(t).Bucket(t), MinIO(t).Bucket(t)
	queue := NotifyQueue(t, bucket)
	NotifyQueue(t, other)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, o := range []struct{ bucket, key string }{{other, "elsewhere.tif"}, {bucket, "in/a b.tif"}} {
		if _, err := S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key),
			Body: strings.NewReader("bytes")}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := RabbitDial(t).Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-deliveries:
		var ev struct {
			Records []struct {
				EventName string `json:"eventName"`
				S3        struct {
					Bucket struct{ Name string } `json:"bucket"`
					Object struct{ Key string }  `json:"object"`
				} `json:"s3"`
			} `json:"Records"`
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil || len(ev.Records) != 1 {
			t.Fatalf("message %q: %v", d.Body, err)
		}
		r := ev.Records[0]
		if r.EventName != "s3:ObjectCreated:Put" || r.S3.Bucket.Name != bucket || r.S3.Object.Key != "in%2Fa+b.tif" {
			t.Errorf("event %s of %s/%s; want s3:ObjectCreated:Put of %s/in%%2Fa+b.tif", r.EventName, r.S3.Bucket.Name,
				r.S3.Object.Key, bucket)
		}
		if d.DeliveryMode != 2 {
			t.Errorf("delivery mode %d, want 2 (persistent)", d.DeliveryMode)
		}
		d.Ack(false)
	case <-ctx.Done():
		t.Fatalf("no event on queue %s within 60 s", queue)
	}
	select {
	case d := <-deliveries:
		t.Errorf("a second message on %s: %s", queue, d.Body)
	case <-time.After(time.Second):
	}
}
