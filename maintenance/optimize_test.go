package maintenance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

func TestOptimizeBinPacking(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	createTable(t, s, nil, delta.TxnOptions{})
	want := genTable(t, s, 1, 40, 2, 10, delta.TxnOptions{})
	before := liveFiles(t, s, -1)
	var total int64
	for _, a := range before {
		total += a.Size
	}
	target := total / 4
	plan, err := PlanOptimize(ctx, s, OptimizeOptions{TargetSize: target})
	if err != nil {
		t.Fatal(err)
	}
	pm := plan.Metrics()
	if pm.FilesConsidered != 40 || pm.BinsPlanned < 4 || pm.BinsPlanned > 6 {
		t.Fatalf("plan: %+v", pm)
	}
	for i, b := range plan.Bins() {
		if len(b.Files) < 2 || b.Bytes > target {
			t.Fatalf("bin %d: %d files, %d bytes (target %d)", i, len(b.Files), b.Bytes, target)
		}
	}
	v0 := plan.Version()
	m, err := plan.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.BinsCommitted != pm.BinsPlanned || m.FilesRemoved != pm.FilesPlanned || len(m.Versions) != 1 {
		t.Fatalf("metrics: %+v", m)
	}
	after := liveFiles(t, s, -1)
	if int64(len(after)) != 40-m.FilesRemoved+m.FilesAdded {
		t.Fatalf("%d files after, want %d", len(after), 40-m.FilesRemoved+m.FilesAdded)
	}
	if err := sameTiles(readTable(t, s, -1), want); err != nil {
		t.Fatal(err)
	}
	if err := sameTiles(readTable(t, s, v0), want); err != nil {
		t.Fatal(err)
	}
	// The new files: stats from the rows, merged tags and geo metadata, dataChange=false.
	for _, a := range after {
		if slices.ContainsFunc(before, func(b *delta.Add) bool { return b.Path == a.Path }) {
			continue
		}
		if a.DataChange {
			t.Errorf("%s: dataChange=true", a.Path)
		}
		st, err := delta.ParseStats(a.Stats)
		if err != nil || st.NumRecords == nil {
			t.Fatalf("%s: stats %q: %v", a.Path, a.Stats, err)
		}
		tiles, err := readFile(ctx, s, a)
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumRecords != int64(len(tiles)) {
			t.Errorf("%s: numRecords %d, %d rows", a.Path, *st.NumRecords, len(tiles))
		}
		checkStats(t, a, tiles)
		var srcs []sourceTag
		if err := json.Unmarshal([]byte(a.Tags[TagSources]), &srcs); err != nil {
			t.Fatalf("%s: tags %v: %v", a.Path, a.Tags, err)
		}
		seen := map[string]bool{}
		for _, tl := range tiles {
			seen[tl.Source] = true
		}
		if len(srcs) != len(seen) {
			t.Errorf("%s: %d sources in the tag, %d in the rows", a.Path, len(srcs), len(seen))
		}
	}
	hist, err := delta.History(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if op, _ := hist[0].CommitInfo.String("operation"); op != "OPTIMIZE" {
		t.Fatalf("last operation %q", op)
	}
	checkMetrics(t, hist[0].CommitInfo, map[string]int64{"numRemovedFiles": m.FilesRemoved,
		"numAddedFiles": m.FilesAdded, "numAddedBytes": m.BytesAdded})
	// A second optimize finds little or nothing left to do.
	m2, err := Optimize(ctx, s, OptimizeOptions{TargetSize: target})
	if err != nil {
		t.Fatal(err)
	}
	if m2.FilesRemoved > int64(len(after)) {
		t.Fatalf("second optimize: %+v", m2)
	}
}

// checkStats compares a file's stats with its rows for the columns the tests look at.
func checkStats(t *testing.T, a *delta.Add, tiles []testTile) {
	t.Helper()
	st, err := delta.ParseStats(a.Stats)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := tiles[0], tiles[0]
	xmin, ymin, xmax, ymax := tiles[0].BBox.XMin, tiles[0].BBox.YMin, tiles[0].BBox.XMax, tiles[0].BBox.YMax
	for _, tl := range tiles {
		if tl.Quadbin < lo.Quadbin {
			lo = tl
		}
		if tl.Quadbin > hi.Quadbin {
			hi = tl
		}
		xmin, ymin = min(xmin, tl.BBox.XMin), min(ymin, tl.BBox.YMin)
		xmax, ymax = max(xmax, tl.BBox.XMax), max(ymax, tl.BBox.YMax)
	}
	num := func(m map[string]any, path ...string) string {
		var v any = m
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return fmt.Sprint(v)
	}
	checks := []struct{ got, want string }{
		{num(st.MinValues, "quadbin"), fmt.Sprint(lo.Quadbin)},
		{num(st.MaxValues, "quadbin"), fmt.Sprint(hi.Quadbin)},
		{num(st.MinValues, "bbox", "xmin"), fmt.Sprint(xmin)},
		{num(st.MinValues, "bbox", "ymin"), fmt.Sprint(ymin)},
		{num(st.MaxValues, "bbox", "xmax"), fmt.Sprint(xmax)},
		{num(st.MaxValues, "bbox", "ymax"), fmt.Sprint(ymax)},
		{num(st.NullCount, "nodata"), "0"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: stat %d is %s, want %s (stats %s)", a.Path, i, c.got, c.want, a.Stats)
		}
	}
	for _, col := range []string{"b1", "footprint", "geotransform"} {
		if _, ok := st.NullCount[col]; ok {
			t.Errorf("%s: stats for %s", a.Path, col)
		}
	}
}
