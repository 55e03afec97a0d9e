package maintenance

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

func TestPlanOptimizeSkips(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	createTable(t, s, map[string]string{"delta.targetFileSize": "1mb"}, delta.TxnOptions{})
	genTable(t, s, 1, 6, 1, 6, delta.TxnOptions{})
	files := liveFiles(t, s, -1)
	// A large file (by the log's size) and a file with a deletion vector are left alone.
	large := *files[0]
	large.Path, large.Size = "big.parquet", 2<<20
	dv := *files[1]
	dv.Path = "dv.parquet"
	dv.DeletionVector = &delta.DeletionVector{StorageType: "i", PathOrInlineDv: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 40, Cardinality: 1}
	if _, err := appendFiles(ctx, s, delta.TxnOptions{}, &large, &dv); err != nil {
		t.Fatal(err)
	}
	p, err := PlanOptimize(ctx, s, OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Metrics()
	if p.TargetSize() != 1<<20 || m.FilesLarge != 1 || m.FilesWithDV != 1 || m.BinsPlanned != 1 || m.FilesPlanned != 6 {
		t.Fatalf("plan: target %d, %+v", p.TargetSize(), m)
	}
	for _, a := range p.Bins()[0].Files {
		if a.Path == "big.parquet" || a.Path == "dv.parquet" {
			t.Fatalf("%s planned", a.Path)
		}
	}
	// Dry run: nothing written, nothing committed.
	v := liveSnapshotVersion(t, s)
	dm, err := Optimize(ctx, s, OptimizeOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dm.BinsPlanned != 1 || len(dm.Versions) != 0 || liveSnapshotVersion(t, s) != v {
		t.Fatalf("dry run: %+v", dm)
	}
	// A target below every file leaves nothing to do; a single small file is alone.
	p, err = PlanOptimize(ctx, s, OptimizeOptions{TargetSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bins()) != 0 || p.Metrics().FilesLarge != 7 {
		t.Fatalf("plan with tiny target: %+v", p.Metrics())
	}
}

func TestPlanOptimizePartitions(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	spec := tableSpec()
	spec.Schema.Fields = append(spec.Schema.Fields, delta.NewField("zone", "string"))
	spec.PartitionColumns = []string{"zone"}
	if _, err := delta.CreateTable(ctx, s, spec, delta.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
	var adds []*delta.Add
	want := map[tileID]uint64{}
	for i, zone := range []string{"a", "b", "a", "b", "a", "b", "a"} {
		tiles := sceneTiles("s3://z/"+zone+string(rune('0'+i)), float64(i), 0, 0.25, 1, testNow)
		for j := range tiles {
			want[idOf(&tiles[j])] = digestOf(&tiles[j])
		}
		a, err := writeTileFile(ctx, s, "zone="+zone+"/", tiles, testNow)
		if err != nil {
			t.Fatal(err)
		}
		z := zone
		a.PartitionValues = delta.PartitionValues{"zone": &z}
		adds = append(adds, a)
	}
	if _, err := appendFiles(ctx, s, delta.TxnOptions{}, adds...); err != nil {
		t.Fatal(err)
	}
	p, err := PlanOptimize(ctx, s, OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bins()) != 2 {
		t.Fatalf("%d bins, want one per partition", len(p.Bins()))
	}
	for _, b := range p.Bins() {
		z, _ := b.Partition.Get("zone")
		for _, a := range b.Files {
			if got, _ := a.PartitionValues.Get("zone"); got != z {
				t.Fatalf("bin of zone %s holds %s", z, a.Path)
			}
		}
	}
	if _, err := p.Execute(ctx); err != nil {
		t.Fatal(err)
	}
	live := liveFiles(t, s, -1)
	if len(live) != 2 {
		t.Fatalf("%d files", len(live))
	}
	for _, a := range live {
		z, _ := a.PartitionValues.Get("zone")
		if dir := "zone=" + z + "/"; len(a.Path) < len(dir) || a.Path[:len(dir)] != dir {
			t.Fatalf("%s of zone %s is outside its partition directory", a.Path, z)
		}
	}
	if err := sameTiles(readTable(t, s, -1), want); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanOptimize(ctx, s, OptimizeOptions{ClusterBy: "zone"}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("cluster by a partition column: %v", err)
	}
	if _, err := PlanOptimize(ctx, s, OptimizeOptions{ClusterBy: "nope"}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("cluster by a missing column: %v", err)
	}
	if _, err := PlanOptimize(ctx, s, OptimizeOptions{ClusterBy: "geotransform"}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("cluster by an array: %v", err)
	}
}

// TestOptimizeClusterUnsortedColumn clusters by a column the files are not sorted by, with
// small limits, so files are cut into sorted runs in temporary files and merged in passes.
func TestOptimizeClusterUnsortedColumn(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	createTable(t, s, nil, delta.TxnOptions{})
	want := genTable(t, s, 4, 12, 6, 12, delta.TxnOptions{}) // 37 tiles a file
	for _, col := range []string{"tile_row", "bbox.ymax", "source"} {
		m, err := Optimize(ctx, s, OptimizeOptions{ClusterBy: col, MaxFanIn: 3, SortBytes: 2000, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if m.FilesAdded != 1 || m.TempBytes == 0 {
			t.Fatalf("%s: %+v", col, m)
		}
		if err := sameTiles(readTable(t, s, -1), want); err != nil {
			t.Fatal(err)
		}
		live := liveFiles(t, s, -1)
		tiles, err := readFile(ctx, s, live[0])
		if err != nil {
			t.Fatal(err)
		}
		key := map[string]func(a, b testTile) int{
			"tile_row":  func(a, b testTile) int { return int(a.TileRow) - int(b.TileRow) },
			"bbox.ymax": func(a, b testTile) int { return cmpFloat(a.BBox.YMax, b.BBox.YMax) },
			"source": func(a, b testTile) int {
				return cmpString(a.Source, b.Source)
			},
		}[col]
		if !slices.IsSortedFunc(tiles, key) {
			t.Fatalf("rows not sorted by %s", col)
		}
		// Add a file so the next round has two to merge.
		more := sceneTiles("s3://more/"+col, 50, 0, 0.25, 3, testNow)
		for i := range more {
			want[idOf(&more[i])] = digestOf(&more[i])
		}
		a, err := writeTileFile(ctx, s, "", more, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := appendFiles(ctx, s, delta.TxnOptions{}, a); err != nil {
			t.Fatal(err)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"104857600": 104857600, "256mb": 256 << 20, "1g": 1 << 30, " 64 KB ": 64 << 10, "12b": 12} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5mb", "tenmb", "99999999999tb"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}
