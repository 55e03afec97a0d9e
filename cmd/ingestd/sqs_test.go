package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/internal/testservers"
)

// TestSubscribeSQS runs ingestd --subscribe awssqs://... --once on a real SQS queue (fauxqs),
// fed S3 event records (AWS format) directly and through an SNS topic, naming scenes in MinIO:
// the driver is linked, each scene is ingested once, and every message is deleted (acked),
// that of a text file among the scenes too, once it is dead-lettered.
func TestSubscribeSQS(t *testing.T) {
	p := newPipelineBucket(t)
	local := filepath.Join(t.TempDir(), "rgb.tif")
	if err := os.WriteFile(local, raster(t, "rgb.tif"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tif")
	if err := os.WriteFile(bad, raster(t, "notraster.tif"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := testservers.NewQueue(t, 60*time.Second)
	topic := q.Topic(t)
	var ids []string
	for i, key := range []string{"scenes/a 0.tif", "scenes/a 1.tif", "scenes/a 2.tif", "scenes/bad.tif"} {
		src := local
		if strings.HasSuffix(key, "bad.tif") {
			src = bad
		} else {
			ids = append(ids, p.id(strings.ReplaceAll(key, " ", "%20")))
		}
		if err := p.put(t, key, src); err != nil {
			t.Fatal(err)
		}
		record := awsS3Record(p.bucket, strings.ReplaceAll(key, " ", "+"))
		if i%2 == 0 {
			q.Send(t, record)
		} else {
			testservers.Publish(t, topic, record)
		}
	}
	code, _, stderr := ingestd(t, "--table", p.table, "--subscribe", q.Subscription(), "--once", "--idle", "2s",
		"--max-attempts", "2", "--retry-backoff", "10ms", "--metrics-addr", "")
	if code != exitOK {
		t.Fatalf("exit %d; log:\n%s", code, stderr)
	}
	checkExactlyOnce(t, p.table, ids)
	if !strings.Contains(stderr, "dead-lettered") {
		t.Errorf("the text file was not dead-lettered; log:\n%s", stderr)
	}
	if visible, inFlight := q.Counts(t); visible != 0 || inFlight != 0 {
		t.Errorf("queue holds %d messages and %d in flight after the run, want none; log:\n%s", visible, inFlight, stderr)
	}
}

// awsS3Record is an S3 event notification of one created object as AWS S3 sends it (the key
// form-encoded).
func awsS3Record(bucket, key string) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventTime":"2026-12-03T12:00:00.000Z","eventName":"ObjectCreated:Put",`+
		`"s3":{"s3SchemaVersion":"1.0","configurationId":"scenes","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},`+
		`"object":{"key":%q,"size":1,"eTag":"e","sequencer":"0055AED6DCD90281E5"}}}]}`, bucket, bucket, key)
}

// newPipelineBucket is a MinIO bucket with a table in it, for replicas fed by another queue.
func newPipelineBucket(t *testing.T) *pipeline {
	t.Helper()
	bucket := testservers.MinIO(t).Bucket(t)
	return &pipeline{bucket: bucket, table: "s3://" + bucket + "/tables/tiles"}
}
