package daemon

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// TestWatchMinIO, TestWatchGCS and TestWatchAzurite watch a prefix of a bucket (objects
// stat'ed for their ETags, the version on every store) and ingest into a table
// in another prefix of it; an object overwritten with other bytes is a new version and replaces
// the old tiles; a second shard of two takes only its keys.
func TestWatchMinIO(t *testing.T) {
	testWatchStore(t, testservers.MinIO(t).URL(t, ""))
}

func TestWatchGCS(t *testing.T) {
	testWatchStore(t, testservers.GCS(t).URL(t, ""))
}

func TestWatchAzurite(t *testing.T) {
	testWatchStore(t, testservers.Azurite(t).URL(t, ""))
}

// testWatchStore is the watch test on a new bucket at base (scheme://bucket/).
func testWatchStore(t *testing.T, base string) {
	ctx := context.Background()
	watch, table := base+"scenes", base+"tables/tiles"
	st, err := delta.OpenStore(ctx, watch)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rgb := raster(t, "rgb.tif")
	var keys []string
	for i := range 4 {
		k := fmt.Sprintf("day%d/s%d.tif", i%2, i)
		if err := st.Put(ctx, k, rgb); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := st.Put(ctx, "_hidden/x.tif", rgb); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, table)
	runOnce(t, o, watch, WatchOptions{})
	files, versions, rows := holdings(t, table)
	if len(files) != 4 || rows != 8 {
		t.Fatalf("table holds %v (%d tiles), want the 4 scenes, 8 tiles", files, rows)
	}
	id := func(k string) string {
		id, err := ingest.SourceID(base + "scenes/" + k)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, k := range keys {
		info, err := st.Stat(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if id := id(k); files[id] != 1 || versions[id] == "" || versions[id] != info.ETag {
			t.Errorf("%s: %d files, version %q (want 1 file, its ETag %q)", id, files[id], versions[id], info.ETag)
		}
	}
	// s0 overwritten with other bytes (rgb.tif and one trailing byte, which GDAL never reads):
	// a new ETag, a new version.
	if err := st.Put(ctx, keys[0], append(append([]byte{}, rgb...), 0)); err != nil {
		t.Fatal(err)
	}
	o2 := testOptions(t, table)
	runOnce(t, o2, watch, WatchOptions{})
	files2, versions2, rows2 := holdings(t, table)
	id0 := id(keys[0])
	if len(files2) != 4 || rows2 != 8 || versions2[id0] == versions[id0] {
		t.Errorf("after overwriting %s: %v, %d tiles, version %s (was %s)", keys[0], files2, rows2, versions2[id0], versions[id0])
	}
	if got := counter(t, o2.Metrics.Sources.WithLabelValues(ResultReplaced)); got != 1 {
		t.Errorf("sources_total{replaced} = %v, want 1", got)
	}

	// Sharding: shards 0/2 and 1/2 of a fresh table split the keys, together all of them.
	total := 0
	for i := range 2 {
		tbl := fmt.Sprintf("%stables/shard%d", base, i)
		runOnce(t, testOptions(t, tbl), watch, WatchOptions{Shard: Shard{I: i, N: 2}})
		f, _, _ := holdingsIfAnyURL(t, tbl)
		total += len(f)
	}
	if total != 4 {
		t.Errorf("shards 0/2 and 1/2 took %d scenes in all, want 4", total)
	}
}

func holdingsIfAnyURL(t *testing.T, table string) (map[string]int, map[string]string, int64) {
	st, err := delta.OpenStore(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := delta.Open(context.Background(), st); err != nil {
		return nil, nil, 0
	}
	return holdings(t, table)
}

// TestSubscribeMinIO: S3 event records (as MinIO's bucket notifications send them, keys
// form-encoded) on a mem:// subscription name objects in MinIO; they are stat'ed there for
// their ETags and ingested, and a second record of one of them is acked without a commit.
func TestSubscribeMinIO(t *testing.T) {
	ctx := context.Background()
	base := testservers.MinIO(t).URL(t, "")
	bucket := strings.TrimSuffix(strings.TrimPrefix(base, "s3://"), "/")
	st, err := delta.OpenStore(ctx, base+"in")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rgb := raster(t, "rgb.tif")
	for _, k := range []string{"s0.tif", "s 1.tif"} {
		if err := st.Put(ctx, k, rgb); err != nil {
			t.Fatal(err)
		}
	}
	topicURL := fmt.Sprintf("mem://ingestd-minio-topic-%d", rand.Int64())
	topic, err := pubsub.OpenTopic(ctx, topicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	sub, err := OpenSubscription(ctx, topicURL+"?ackdeadline=1s", SubscriptionOptions{Idle: 300 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	for _, key := range []string{"in%2Fs0.tif", "in%2Fs+1.tif", "in%2Fs0.tif"} {
		if err := topic.Send(ctx, &pubsub.Message{Body: []byte(s3Record(bucket, key))}); err != nil {
			t.Fatal(err)
		}
	}
	table := base + "tables/sub"
	o := testOptions(t, table)
	runSourceOnce(t, o, sub)
	files, versions, rows := holdings(t, table)
	for _, id := range []string{"s3://" + bucket + "/in/s0.tif", "s3://" + bucket + "/in/s%201.tif"} {
		if files[id] != 1 || !strings.HasPrefix(versions[id], `"`) {
			t.Errorf("%s: %d files, version %q; want 1 file, an ETag", id, files[id], versions[id])
		}
	}
	if len(files) != 2 || rows != 4 || len(sub.open) != 0 {
		t.Errorf("table holds %v (%d tiles), %d messages unacked; want 2 scenes, 4 tiles, none", files, rows, len(sub.open))
	}
}

// putObjects puts objects (key: bytes) into the bucket at base, a test server's bucket URL
// (s3://B/ or gs://B/), and returns the bucket's name.
func putObjects(t *testing.T, base string, objects map[string][]byte) string {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for k, b := range objects {
		if err := st.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	_, rest, _ := strings.Cut(base, "://")
	return strings.TrimSuffix(rest, "/")
}

// putScenes puts three copies of rgb.tif under in/ (in/s0.tif, in/s 1.tif, in/s2.tif) and a
// text file, in/bad.tif, into the bucket at base, and returns the bucket's name.
func putScenes(t *testing.T, base string) string {
	rgb := raster(t, "rgb.tif")
	return putObjects(t, base, map[string][]byte{"in/s0.tif": rgb, "in/s 1.tif": rgb, "in/s2.tif": rgb,
		"in/bad.tif": raster(t, "notraster.tif")})
}
