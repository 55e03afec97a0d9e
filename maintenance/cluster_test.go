package maintenance

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// fileBox is a file's bbox from its stats: the union of its tiles' bboxes.
type fileBox struct {
	add                    *delta.Add
	xmin, ymin, xmax, ymax float64
}

func fileBoxes(t *testing.T, s delta.Store) []fileBox {
	t.Helper()
	var out []fileBox
	for _, a := range liveFiles(t, s, -1) {
		st, err := delta.ParseStats(a.Stats)
		if err != nil {
			t.Fatal(err)
		}
		f := func(m map[string]any, k string) float64 {
			v, err := m["bbox"].(map[string]any)[k].(interface{ Float64() (float64, error) }).Float64()
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		out = append(out, fileBox{a, f(st.MinValues, "xmin"), f(st.MinValues, "ymin"), f(st.MaxValues, "xmax"), f(st.MaxValues, "ymax")})
	}
	return out
}

// pruned returns the files whose stats say they may hold a tile intersecting the box.
func pruned(files []fileBox, x0, y0, x1, y1 float64) []*delta.Add {
	var out []*delta.Add
	for _, f := range files {
		if f.xmin <= x1 && f.xmax >= x0 && f.ymin <= y1 && f.ymax >= y0 {
			out = append(out, f.add)
		}
	}
	return out
}

// TestOptimizeClusterByQuadbin: a bbox query over 1% of the area, pruned by file stats, reads
// at least 5 times fewer files after optimize --cluster-by quadbin than after plain
// bin-packing of the same table with the same target size.
func TestOptimizeClusterByQuadbin(t *testing.T) {
	ctx := context.Background()
	plain, clustered := memStore(t), memStore(t)
	createTable(t, plain, nil, delta.TxnOptions{})
	want := genTable(t, plain, 5, 2000, 2, 250, delta.TxnOptions{})
	copyStore(t, plain, clustered)
	var total int64
	for _, a := range liveFiles(t, plain, -1) {
		total += a.Size
	}
	target := total / 20
	mp, err := Optimize(ctx, plain, OptimizeOptions{TargetSize: target})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := Optimize(ctx, clustered, OptimizeOptions{TargetSize: target, ClusterBy: "quadbin"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plain: %d files -> %d; clustered: %d files -> %d", mp.FilesRemoved, mp.FilesAdded, mc.FilesRemoved, mc.FilesAdded)
	for _, s := range []delta.Store{plain, clustered} {
		if err := sameTiles(readTable(t, s, -1), want); err != nil {
			t.Fatal(err)
		}
	}
	// Rows of each clustered file are in quadbin order.
	for _, a := range liveFiles(t, clustered, -1) {
		tiles, err := readFile(ctx, clustered, a)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(tiles, func(a, b testTile) int { return int(sign(a.Quadbin - b.Quadbin)) }) {
			t.Fatalf("%s: rows not sorted by quadbin", a.Path)
		}
	}

	pb, cb := fileBoxes(t, plain), fileBoxes(t, clustered)
	rng := rand.New(rand.NewPCG(9, 9))
	var readPlain, readClustered int
	var bytesPlain, bytesClustered int64
	const queries = 40
	for q := 0; q < queries; q++ {
		// 10 x 10 degrees of the 100 x 100 the scenes cover: 1% of the area.
		x0, y0 := rng.Float64()*90, -50+rng.Float64()*90
		x1, y1 := x0+10, y0+10
		fp, fc := pruned(pb, x0, y0, x1, y1), pruned(cb, x0, y0, x1, y1)
		readPlain += len(fp)
		readClustered += len(fc)
		for _, a := range fp {
			bytesPlain += a.Size
		}
		for _, a := range fc {
			bytesClustered += a.Size
		}
		if q < 5 {
			// Pruning loses nothing: the pruned files hold every tile in the box.
			for _, c := range []struct {
				s     delta.Store
				files []*delta.Add
			}{{plain, fp}, {clustered, fc}} {
				got := tilesInBox(t, c.s, c.files, x0, y0, x1, y1)
				all := tilesInBox(t, c.s, liveFiles(t, c.s, -1), x0, y0, x1, y1)
				if len(got) != len(all) {
					t.Fatalf("query %d: pruned files hold %d tiles of the box, all files %d", q, len(got), len(all))
				}
			}
		}
	}
	ratio := float64(readPlain) / float64(max(readClustered, 1))
	t.Logf("%d queries of 1%% of the area: plain bin-packing read %d files (%.1f a query of %d, %.0f KiB), clustered %d (%.1f a query of %d, %.0f KiB): %.1fx fewer files, %.1fx fewer bytes",
		queries, readPlain, float64(readPlain)/queries, len(pb), float64(bytesPlain)/queries/1024,
		readClustered, float64(readClustered)/queries, len(cb), float64(bytesClustered)/queries/1024,
		ratio, float64(bytesPlain)/float64(max(bytesClustered, 1)))
	if ratio < 5 {
		t.Fatalf("clustering reads only %.1fx fewer files than plain bin-packing, want at least 5x", ratio)
	}
}

func sign(x int64) int64 {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func tilesInBox(t *testing.T, s delta.Store, files []*delta.Add, x0, y0, x1, y1 float64) map[tileID]bool {
	t.Helper()
	out := map[tileID]bool{}
	for _, a := range files {
		tiles, err := readFile(context.Background(), s, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range tiles {
			if tl.BBox.XMin <= x1 && tl.BBox.XMax >= x0 && tl.BBox.YMin <= y1 && tl.BBox.YMax >= y0 {
				out[idOf(&tl)] = true
			}
		}
	}
	return out
}
