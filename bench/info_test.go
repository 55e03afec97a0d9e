package bench

import (
	"context"
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

// infoTables holds the tables BenchmarkInfoMinIO made, by log size, so the runs of -count
// share them.
var infoTables = map[int]string{}

// BenchmarkInfoMinIO times what `deltactl info` does (open the latest snapshot, stream the
// file list, sum sizes and records) on a table in MinIO whose log holds 1,000 or 100,000
// objects before its checkpoint, with 10 commits after it. Reported: the median latency of
// the info calls of the run (median-ms), besides the mean (ns/op), and the median latency of
// the one listing request info makes, made alone before each (list-median-ms; not in ns/op).
func BenchmarkInfoMinIO(b *testing.B) {
	srv := testservers.MinIO(b)
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("log=%d", n), func(b *testing.B) {
			ctx := context.Background()
			url, ok := infoTables[n]
			if !ok {
				url = srv.URL(b, "tables/t")
				fillInfoTable(b, url, n, 10)
				infoTables[n] = url
			}
			s, err := delta.OpenStore(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// The listing info makes, alone: _delta_log from the checkpoint on (one page).
			cp, err := delta.Open(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			startAfter := fmt.Sprintf("%s%020d", delta.LogDir, cp.Segment().Checkpoint.Version)
			var lat, lists []time.Duration
			for b.Loop() {
				b.StopTimer()
				start := time.Now()
				for _, err := range s.List(ctx, delta.LogDir, startAfter) {
					if err != nil {
						b.Fatal(err)
					}
				}
				lists = append(lists, time.Since(start))
				b.StartTimer()
				start = time.Now()
				snap, err := delta.Open(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				var files, size int64
				for a, err := range snap.Files(ctx) {
					if err != nil {
						b.Fatal(err)
					}
					files++
					size += a.Size
				}
				if files == 0 || snap.Segment().Checkpoint == nil {
					b.Fatalf("info: %d files, checkpoint %v", files, snap.Segment().Checkpoint)
				}
				lat = append(lat, time.Since(start))
			}
			b.ReportMetric(median(lat), "median-ms")
			b.ReportMetric(median(lists), "list-median-ms")
		})
	}
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
	src, err := delta.OpenStore(ctx, fmt.Sprintf("mem://bench-info-%d", n))
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
