package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

func TestMain(m *testing.M) { os.Exit(testservers.Main(m)) }

// infoTables holds the tables BenchmarkInfo made, by server and log size, so the runs of
// -count share them.
var infoTables = map[string]string{}

// BenchmarkInfo times what `deltactl info` does (open the latest snapshot, take the counts
// from its .crc) on a table whose log holds n objects before its checkpoint, with 10 commits
// after it, on each server: MinIO with 1,000 and 100,000 objects; fake-gcs-server and Azurite,
// which take puts slowly here (about 50 and 250 a second), with 1,000 and 10,000. Reported,
// as medians over the iterations of one run, all measured in every iteration one after the
// other (only info-ms is in ns/op):
//   - info-ms: the info;
//   - verify-ms: `info --verify`, the counts from the file list (what info did before it took
//     them from the .crc): the 10 commits and the checkpoint read besides;
//   - list-dir-ms: one listing request alone, of _delta_log/ starting after the checkpoint
//     (the server's start-after; on Azure, where gocloud drops it, the whole prefix, in pages
//     of up to 5,000 keys);
//   - list-block-ms: one listing request alone, of the prefix of the 100 versions that share
//     the checkpoint's first 18 digits, starting after it (what info asks on Azure).
func BenchmarkInfo(b *testing.B) {
	for _, sv := range []struct {
		name  string
		srv   func(testing.TB) *testservers.Server
		sizes []int
	}{
		{"MinIO", testservers.MinIO, []int{1000, 100000}},
		{"fake-gcs-server", testservers.GCS, []int{1000, 10000}},
		{"Azurite", testservers.Azurite, []int{1000, 10000}},
	} {
		for _, n := range sv.sizes {
			// The server is started (once) only when a sub-benchmark of it runs.
			b.Run(fmt.Sprintf("%s/log=%d", sv.name, n), func(b *testing.B) { benchInfo(b, sv.srv(b), n) })
		}
	}
}

func benchInfo(b *testing.B, srv *testservers.Server, n int) {
	ctx := context.Background()
	key := fmt.Sprintf("%s/%d", srv.Name, n)
	url, ok := infoTables[key]
	if !ok {
		url = srv.URL(b, "tables/t")
		start := time.Now()
		fillInfoTable(b, url, n, 10)
		b.Logf("%s: wrote %d log objects in %s", srv.Name, n, time.Since(start).Round(time.Second))
		infoTables[key] = url
	}
	s, err := delta.OpenStore(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cp, err := delta.Open(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	cpName := fmt.Sprintf("%s%020d", delta.LogDir, cp.Segment().Checkpoint.Version)
	block := cpName[:len(delta.LogDir)+18]
	list := func(prefix string) time.Duration {
		start := time.Now()
		for _, err := range s.List(ctx, prefix, cpName) {
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var lat, ver, dir, blk []time.Duration
	for b.Loop() {
		b.StopTimer()
		dir = append(dir, list(delta.LogDir))
		blk = append(blk, list(block))
		start := time.Now()
		snap, err := delta.Open(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if c, err := snap.CountFiles(ctx); err != nil || c.NumFiles == 0 {
			b.Fatalf("info --verify: %+v, %v", c, err)
		}
		ver = append(ver, time.Since(start))
		b.StartTimer()
		start = time.Now()
		snap, err = delta.Open(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		c, err := snap.Counts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !c.FromChecksum || c.NumFiles == 0 || snap.Segment().Checkpoint == nil {
			b.Fatalf("info: counts %+v, checkpoint %v", c, snap.Segment().Checkpoint)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(median(lat), "info-ms")
	b.ReportMetric(median(ver), "verify-ms")
	b.ReportMetric(median(dir), "list-dir-ms")
	b.ReportMetric(median(blk), "list-block-ms")
}

// median is the median of d in milliseconds.
func median(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Microseconds()) / 1000
}

// fillInfoTable writes, at url, a log of n objects before a checkpoint (versions with a commit
// and a .crc, every 100th with a classic checkpoint: copies of a small real table's files),
// the checkpoint, _last_checkpoint and tail commits after it, with 64 writers.
func fillInfoTable(b *testing.B, url string, n, tail int) {
	ctx := context.Background()
	src, err := delta.OpenStore(ctx, fmt.Sprintf("mem://bench-info-%d-%d", n, time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	spec := delta.TableSpec{Schema: delta.StructType{Fields: []delta.StructField{delta.NewField("id", "long")}}}
	opts := delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{DisableAuto: true})}
	if _, err := delta.CreateTable(ctx, src, spec, opts); err != nil {
		b.Fatal(err)
	}
	for c := range 2 {
		tx, err := delta.Begin(ctx, src, opts)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			tx.Add(&delta.Add{Path: fmt.Sprintf("c%d/part-%05d.parquet", c, i), Size: 1000, DataChange: true, Stats: `{"numRecords":10}`})
		}
		if _, err := tx.Commit(ctx, "WRITE", nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := checkpoint.Write(ctx, src, 2, checkpoint.Options{}); err != nil {
		b.Fatal(err)
	}
	read := func(key string) []byte {
		data, err := delta.ReadAll(ctx, src, key)
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	commit0, commit, crc, cp := read(delta.CommitKey(0)), read(delta.CommitKey(2)), read(delta.CRCKey(2)), read(delta.CheckpointKey(2))
	objs := map[string][]byte{}
	v := int64(0)
	for len(objs) < n {
		if v == 0 {
			objs[delta.CommitKey(0)] = commit0
		} else {
			objs[delta.CommitKey(v)] = commit
		}
		objs[delta.CRCKey(v)] = crc
		if v%100 == 0 && v > 0 && len(objs) < n {
			objs[delta.CheckpointKey(v)] = cp
		}
		v++
	}
	objs[delta.CommitKey(v)] = commit
	objs[delta.CheckpointKey(v)] = cp
	objs[delta.CRCKey(v)] = crc
	for i := int64(1); i <= int64(tail); i++ {
		objs[delta.CommitKey(v+i)] = commit
		objs[delta.CRCKey(v+i)] = crc
	}
	// The copies of version 2's .crc hold its row count stamped with version 2, which readers
	// ignore at other versions: the latest gets one stamped with its own.
	latest, err := delta.ParseCRC(crc)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := latest.NumRecords(2); !ok {
		b.Fatal("the .crc of version 2 has no row count")
	}
	latest.DeltaRaster.Version = v + int64(tail)
	if objs[delta.CRCKey(v+int64(tail))], err = json.Marshal(latest); err != nil {
		b.Fatal(err)
	}
	objs[delta.LastCheckpointKey] = []byte(fmt.Sprintf(`{"version":%d,"size":%d}`, v, 203))
	dst, err := delta.OpenStore(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if err := dst.Put(ctx, k, objs[k]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for k := range objs {
		work <- k
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
