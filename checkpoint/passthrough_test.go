package checkpoint_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// TestCopyOnlyWhenTypesMatch: rows of a previous checkpoint are copied as columns when its add
// column has the type being written, stats_parsed and partitionValues_parsed included, and go
// row by row once a schema change alters stats_parsed. Either way the snapshot read through the
// new checkpoint is the one read before it was written.
func TestCopyOnlyWhenTypesMatch(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	s := openDir(t, dir)
	clock := newTestClock(epoch)
	opts := delta.TxnOptions{Now: clock.Now}
	spec := delta.TableSpec{Schema: tableSchema(true), PartitionColumns: []string{"part"},
		Configuration: map[string]string{"delta.checkpoint.writeStatsAsStruct": "true"}}
	if _, err := delta.CreateTable(ctx, s, spec, opts); err != nil {
		t.Fatal(err)
	}
	var live []*delta.Add
	n := 0
	addSome := func(k int) {
		commit(t, s, opts, func(tx *delta.Txn) {
			for range k {
				n++
				part := fmt.Sprint(n % 3)
				a := newAdd(fmt.Sprintf("part=%s/f%03d.parquet", part, n), int64(100+n), clock.Now(), &part)
				tx.Add(a)
				live = append(live, a)
			}
		})
	}
	removeSome := func(k int) {
		commit(t, s, opts, func(tx *delta.Txn) {
			for _, a := range live[:k] {
				tx.Remove(removeOf(a))
			}
		})
		live = live[k:]
	}
	write := func(wantCopied int64) {
		t.Helper()
		before := observeAt(t, ctx, s, -1)
		res, err := checkpoint.Write(ctx, s, -1, checkpoint.Options{Now: clock.Now, BatchRows: 7})
		if err != nil {
			t.Fatal(err)
		}
		if res.CopiedRows != wantCopied {
			t.Errorf("checkpoint at version %d: %d rows copied, want %d", res.Version, res.CopiedRows, wantCopied)
		}
		if d := diffObserved(observeAt(t, ctx, s, -1), before); d != "" {
			t.Fatalf("checkpoint at version %d changed the snapshot: %s", res.Version, d)
		}
		rows, paths := readWithParquetGo(t, filepath.Join(dir, res.Keys[0]))
		if rows != res.Actions || paths != res.NumAddFiles {
			t.Errorf("parquet-go read %d rows, %d add paths; writer reported %d actions, %d adds", rows, paths, res.Actions, res.NumAddFiles)
		}
	}

	addSome(20)
	write(0) // nothing to copy from
	clock.Advance(1)
	removeSome(3)
	addSome(5)
	write(17) // the first checkpoint's adds still live (the removes and new adds are the tail's)

	// A new column changes stats_parsed: the previous checkpoint's add column no longer has
	// the type written, so its rows are decoded and built again.
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	m := snap.Metadata()
	schema := tableSchema(true)
	schema.Fields = append(schema.Fields, delta.NewField("extra", "long"))
	m.SchemaString = schema.String()
	commit(t, s, opts, func(tx *delta.Txn) { tx.SetMetadata(m) })
	addSome(2)
	write(0)
	addSome(1)
	write(int64(len(live) - 1 + 3)) // same types again: all but the tail's add, and 3 tombstones
}
