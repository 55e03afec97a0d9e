package checkpoint

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
	runs    []run
}

// copy hands write the rows of b the checkpoint keeps, as add and remove columns (new
// references, released after write returns; nil where b has no such column), counting into c.
// It reports false, having done nothing, when b's columns are not of this file's types.
func (p *passer) copy(b delta.CheckpointBatch, c *counts, write func(add, remove arrow.Array, n int) error) (bool, error) {
	var ok bool
	if p.runs, ok = p.keptRuns(b, c, p.runs[:0]); !ok || len(p.runs) == 0 {
		return ok, nil
	}
	add, remove, err := kept(b, p.runs)
	if err != nil {
		return true, fmt.Errorf("copy checkpoint rows: %w", err)
	}
	defer release(add, remove)
	n := rows(p.runs)
	c.copied += int64(n)
	return true, write(add, remove, n)
}

// run is rows [from, to) of a batch, all kept.
type run struct{ from, to int }

// keptRuns reports whether b can be copied and, when it can, appends to out the runs of rows to
// copy, applying tombstone retention and counting into c. A false answer counts nothing.
func (p *passer) keptRuns(b delta.CheckpointBatch, c *counts, out []run) ([]run, bool) {
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
	var local counts
	from := -1
	for i := 0; i < b.Rows; i++ {
		keep := false
		if b.Live[i] {
			isAdd := b.Add != nil && b.Add.IsValid(i)
			if isAdd == (b.Remove != nil && b.Remove.IsValid(i)) {
				// Both structs set (one without a path) or neither: the row path decides
				// what such a row holds, and its copy would carry the stray struct along.
				return out[:0], false
			}
			if isAdd {
				keep = true
				local.adds++
				if size != nil && size.IsValid(i) {
					local.tableBytes += size.Value(i)
				}
			} else {
				ts := int64(0)
				if deleted != nil && deleted.IsValid(i) {
					ts = deleted.Value(i)
				}
				if keep = ts >= p.f.tombstoneFrom; keep {
					local.tombstones++
				} else {
					local.dropped++
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
	c.adds += local.adds
	c.tableBytes += local.tableBytes
	c.tombstones += local.tombstones
	c.dropped += local.dropped
	return out, true
}

func fieldIndex(t arrow.DataType, name string) int {
	i, _ := t.(*arrow.StructType).FieldIdx(name)
	return i
}

// kept returns the add and remove columns of the rows of runs, each a new reference (nil where
// b has no such column): slices of b's columns for one run, a copy gathered from them for
// several (one write of a batch costs less than many writes of short runs).
func kept(b delta.CheckpointBatch, runs []run) (add, remove arrow.Array, err error) {
	gather := func(col arrow.Array) (arrow.Array, error) {
		if col == nil {
			return nil, nil
		}
		if len(runs) == 1 {
			return array.NewSlice(col, int64(runs[0].from), int64(runs[0].to)), nil
		}
		parts := make([]arrow.Array, len(runs))
		for i, r := range runs {
			parts[i] = array.NewSlice(col, int64(r.from), int64(r.to))
		}
		defer release(parts...)
		return array.Concatenate(parts, memory.DefaultAllocator)
	}
	if b.Add != nil {
		if add, err = gather(b.Add); err != nil {
			return nil, nil, err
		}
	}
	if b.Remove != nil {
		if remove, err = gather(b.Remove); err != nil {
			release(add)
			return nil, nil, err
		}
	}
	return add, remove, nil
}

// rows is the number of rows of runs.
func rows(runs []run) int {
	n := 0
	for _, r := range runs {
		n += r.to - r.from
	}
	return n
}

// retain adds a reference to a, which may be nil.
func retain(a arrow.Array) arrow.Array {
	if a != nil {
		a.Retain()
	}
	return a
}

func release(arrs ...arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}
