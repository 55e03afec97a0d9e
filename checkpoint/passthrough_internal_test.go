package checkpoint

import (
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/deltaraster/deltaraster/delta"
)

func structFromJSON(t *testing.T, typ arrow.DataType, js string) *array.Struct {
	t.Helper()
	a, _, err := array.FromJSON(memory.DefaultAllocator, typ, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Release)
	return a.(*array.Struct)
}

// TestKeptRuns: retention and counts from the columns, as fold.keep applies them to actions;
// a live row whose add and remove structs are both set (one without a path) is left to the
// row path, and then nothing is counted.
func TestKeptRuns(t *testing.T) {
	addT := addType(nil, nil)
	p := &passer{f: &fold{tombstoneFrom: 1000}, addT: addT, removeT: removeType}

	add := structFromJSON(t, addT, `[{"path":"a.parquet","size":10}, null, null, null, {"path":"b.parquet","size":7}]`)
	remove := structFromJSON(t, removeType, `[null, {"path":"old.parquet","deletionTimestamp":5},
		{"path":"new.parquet","deletionTimestamp":2000}, {"path":"x.parquet"}, null]`)
	var c counts
	runs, ok := p.keptRuns(delta.CheckpointBatch{Add: add, Remove: remove, Live: []bool{true, true, true, false, true}, Rows: 5}, &c, nil)
	if !ok || !slices.Equal(runs, []run{{0, 1}, {2, 3}, {4, 5}}) {
		t.Fatalf("runs %v, %v", runs, ok)
	}
	if want := (counts{adds: 2, tableBytes: 17, tombstones: 1, dropped: 1}); c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}

	// An add struct without a path beside a live remove.
	add = structFromJSON(t, addT, `[{"path":"a.parquet","size":10}, {"size":3}]`)
	remove = structFromJSON(t, removeType, `[null, {"path":"r.parquet","deletionTimestamp":5}]`)
	c = counts{}
	if runs, ok := p.keptRuns(delta.CheckpointBatch{Add: add, Remove: remove, Live: []bool{true, true}, Rows: 2}, &c, nil); ok || len(runs) != 0 || c != (counts{}) {
		t.Fatalf("stray add struct: runs %v, ok %v, counts %+v; want the row path and nothing counted", runs, ok, c)
	}

	// Other column types: the row path.
	if _, ok := p.keptRuns(delta.CheckpointBatch{Add: remove, Live: []bool{true, true}, Rows: 2}, &c, nil); ok {
		t.Fatal("a remove-typed add column was copied")
	}
}
