package maintenance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// TestOptimizeBesideLiveWriters optimizes a table of 2,000 small files while two writers keep
// appending tiles, and checks every version afterwards.
func TestOptimizeBesideLiveWriters(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	txo := delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{Interval: 25})}
	createTable(t, s, nil, txo)
	initial := genTable(t, s, 3, 2000, 1, 100, txo)
	loaded := liveFiles(t, s, -1)
	var total int64
	for _, a := range loaded {
		total += a.Size
	}

	// Two writers append one file of new tiles per commit until told to stop.
	type written struct {
		version int64
		tiles   map[tileID]uint64
	}
	var mu sync.Mutex
	var commits []written
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writerFiles atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for i := 0; !stop.Load(); i++ {
				tiles := sceneTiles(fmt.Sprintf("s3://live/w%d-%d.tif", w, i), rng.Float64()*99, -49+rng.Float64()*99, 0.25, 2, time.Now())
				a, err := writeTileFile(ctx, s, "", tiles, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				v, err := appendFiles(ctx, s, txo, a)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				writerFiles.Add(1)
				got := map[tileID]uint64{}
				for i := range tiles {
					got[idOf(&tiles[i])] = digestOf(&tiles[i])
				}
				mu.Lock()
				commits = append(commits, written{v, got})
				mu.Unlock()
				time.Sleep(40 * time.Millisecond)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them start

	plan, err := PlanOptimize(ctx, s, OptimizeOptions{TargetSize: total / 20, CommitEveryBins: 3, Txn: txo})
	if err != nil {
		t.Fatal(err)
	}
	pm := plan.Metrics()
	start := time.Now()
	m, err := plan.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("optimize: %d bins, %d files -> %d in %d commits, %v (plan: %d files considered)",
		m.BinsCommitted, m.FilesRemoved, m.FilesAdded, len(m.Versions), time.Since(start).Round(time.Millisecond), pm.FilesConsidered)
	time.Sleep(20 * time.Millisecond) // a few more appends after the optimize
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if m.BinsCommitted != pm.BinsPlanned || m.BinsDropped != 0 || m.FilesRemoved != pm.FilesPlanned || len(m.Versions) < 2 {
		t.Fatalf("planned %+v, did %+v", pm, m)
	}
	if pm.FilesPlanned < 1900 {
		t.Fatalf("only %d of 2000 files planned", pm.FilesPlanned)
	}

	// The same tiles, no duplicates, file count down as planned.
	want := map[tileID]uint64{}
	for id, d := range initial {
		want[id] = d
	}
	for _, c := range commits {
		for id, d := range c.tiles {
			want[id] = d
		}
	}
	if err := sameTiles(readTable(t, s, -1), want); err != nil {
		t.Fatalf("latest version: %v", err)
	}
	live := liveFiles(t, s, -1)
	if wantFiles := int64(len(loaded)) + writerFiles.Load() - m.FilesRemoved + m.FilesAdded; int64(len(live)) != wantFiles {
		t.Fatalf("%d live files, want %d", len(live), wantFiles)
	}
	t.Logf("%d writer commits during the run; %d live files (from %d)", len(commits), len(live), len(loaded)+int(writerFiles.Load()))

	// Every version reads, and from the version the initial load ended at, holds exactly the
	// initial tiles and those of the writer commits at or before it.
	loadVersion := plan.Version()
	for _, c := range commits {
		loadVersion = min(loadVersion, c.version-1)
	}
	cache := map[string]map[tileID]uint64{}
	latest := liveSnapshotVersion(t, s)
	for v := int64(0); v <= latest; v++ {
		got := map[tileID]uint64{}
		for _, a := range liveFiles(t, s, v) {
			tiles, ok := cache[a.Path]
			if !ok {
				rows, err := readFile(ctx, s, a)
				if err != nil {
					t.Fatalf("version %d: %v", v, err)
				}
				tiles = map[tileID]uint64{}
				for i := range rows {
					tiles[idOf(&rows[i])] = digestOf(&rows[i])
				}
				cache[a.Path] = tiles
			}
			for id, d := range tiles {
				if _, dup := got[id]; dup {
					t.Fatalf("version %d: tile %v twice", v, id)
				}
				got[id] = d
			}
		}
		if v < loadVersion {
			continue
		}
		want := map[tileID]uint64{}
		for id, d := range initial {
			want[id] = d
		}
		for _, c := range commits {
			if c.version <= v {
				for id, d := range c.tiles {
					want[id] = d
				}
			}
		}
		if err := sameTiles(got, want); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
}

func liveSnapshotVersion(t testing.TB, s delta.Store) int64 {
	t.Helper()
	snap, err := delta.Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version()
}
