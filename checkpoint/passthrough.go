package checkpoint

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/deltaraster/deltaraster/delta"
)

// The previous checkpoint's rows are copied as Arrow column slices, not decoded into actions
// and built again, whenever its add and remove columns have exactly the types this checkpoint
// writes (always so for a checkpoint this package wrote under the same table settings). A batch
// of any other shape (another writer's columns, a changed stats schema) goes row by row.

// passer selects, from checkpoint batches, the runs of rows the new checkpoint keeps.
type passer struct {
	f       *fold
	addT    arrow.DataType
	removeT arrow.DataType
}

// run is rows [from, to) of a batch, all kept.
type run struct{ from, to int }

// runs reports whether b can be copied and, when it can, appends to out the runs of rows to
// copy, applying tombstone retention and counting into c. A false answer counts nothing.
func (p *passer) runs(b delta.CheckpointBatch, c *counts, out []run) ([]run, bool) {
	if b.Add != nil && !arrow.TypeEqual(b.Add.DataType(), p.addT) ||
		b.Remove != nil && !arrow.TypeEqual(b.Remove.DataType(), p.removeT) {
		return out, false
	}
	var size, deleted *array.Int64
	if b.Add != nil {
		size, _ = b.Add.Field(fieldIndex(p.addT, "size")).(*array.Int64)
	}
	if b.Remove != nil {
		deleted, _ = b.Remove.Field(fieldIndex(p.removeT, "deletionTimestamp")).(*array.Int64)
	}
	from := -1
	for i := 0; i < b.Rows; i++ {
		keep := false
		if b.Live[i] {
			if b.Add != nil && b.Add.IsValid(i) {
				keep = true
				c.adds++
				if size != nil && size.IsValid(i) {
					c.tableBytes += size.Value(i)
				}
			} else {
				ts := int64(0)
				if deleted != nil && deleted.IsValid(i) {
					ts = deleted.Value(i)
				}
				if keep = ts >= p.f.tombstoneFrom; keep {
					c.tombstones++
				} else {
					c.dropped++
				}
			}
		}
		switch {
		case keep && from < 0:
			from = i
		case !keep && from >= 0:
			out = append(out, run{from, i})
			from = -1
		}
	}
	if from >= 0 {
		out = append(out, run{from, b.Rows})
	}
	return out, true
}

func fieldIndex(t arrow.DataType, name string) int {
	i, _ := t.(*arrow.StructType).FieldIdx(name)
	return i
}

// slices returns the add and remove columns of rows r of b, each a new reference (nil where b
// has no such column).
func (r run) slices(b delta.CheckpointBatch) (add, remove arrow.Array) {
	if b.Add != nil {
		add = array.NewSlice(b.Add, int64(r.from), int64(r.to))
	}
	if b.Remove != nil {
		remove = array.NewSlice(b.Remove, int64(r.from), int64(r.to))
	}
	return add, remove
}

func release(arrs ...arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}
