package delta

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// CheckpointBatch is one record batch of the file actions of a snapshot's checkpoint, as read
// from Parquet, for a consumer that copies Arrow columns as they are (a checkpoint writer, an
// engine's scan) rather than decoding rows. Live is its selection vector, as in the scan
// metadata of delta-kernel-rs.
type CheckpointBatch struct {
	// Add and Remove are the batch's add and remove columns, with every child the file has;
	// either is nil when the file has no such column. They are valid during the call only
	// (Retain what is kept longer).
	Add, Remove *array.Struct
	// Live reports, row by row, whether the row is a file action of the snapshot: an add or a
	// remove (never both) whose (path, deletion vector) no commit of the tail supersedes.
	// Other rows (other action types, superseded files) are false.
	Live []bool
	// Rows is the number of rows of the batch.
	Rows int
}

// FileActionBatches streams what FileActions streams, in two forms: the file actions of the
// commits after the checkpoint, and of a JSON checkpoint, go to action one by one; the
// checkpoint's Parquet rows go to batch a record batch at a time. When batch reports false,
// the batch's live rows are decoded and go to action instead. Memory is that of FileActions:
// the tail's keys plus one batch.
func (s *Snapshot) FileActionBatches(ctx context.Context, action func(Action) error, batch func(CheckpointBatch) (bool, error)) error {
	fn := func(a *Add, r *Remove) error { return action(Action{Add: a, Remove: r}) }
	seen, err := s.replayTail(ctx, fn)
	if err != nil || s.segment.Checkpoint == nil {
		return err
	}
	cp := *s.segment.Checkpoint
	row := s.checkpointRow(cp, seen, fn)
	live := make([]bool, 0, s.batchRows)
	return readCheckpointFiles(ctx, s.store, cp, wantFiles, s.batchRows, row, func(key string, add, remove *fileCols, n int) error {
		if cap(live) < n {
			live = make([]bool, n)
		}
		live = live[:n]
		rowPath := false // a row with both an add and a remove: decode the batch row by row
		for i := range n {
			live[i] = false
			p, isAdd := "", false
			if add.valid(i) {
				p, isAdd = arrowString(add.path, i)
			}
			q, isRemove := "", false
			if remove.valid(i) {
				q, isRemove = arrowString(remove.path, i)
			}
			var k fileKey
			switch {
			case isAdd && isRemove:
				rowPath = true
			case isAdd:
				if err := checkPath(p); err != nil {
					return corrupt(key, cp.Version, "file action %q: %w", p, err)
				}
				k = keyOf(p, dvAt(add.dv, i))
			case isRemove:
				if err := checkPath(q); err != nil {
					return corrupt(key, cp.Version, "file action %q: %w", q, err)
				}
				k = keyOf(q, dvAt(remove.dv, i))
			default:
				continue
			}
			live[i] = !seen.has(k)
		}
		cols := &recordCols{add: *add, remove: *remove}
		if !rowPath {
			handled, err := batch(CheckpointBatch{Add: add.arr, Remove: remove.arr, Live: live, Rows: n})
			if err != nil || handled {
				return err
			}
			for i := range n {
				if live[i] {
					if err := decodeRow(cols, i, action); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for i := range n {
			if err := decodeRow(cols, i, row); err != nil {
				return err
			}
		}
		return nil
	})
}
