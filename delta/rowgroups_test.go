package delta_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestSmallActionsSkipFileList: a checkpoint this module writes has statistics on the key
// columns of the small actions, so a reader of app transactions reads only the row groups
// that hold some (the first: they are written before the file list), and still finds every
// one. delta-rs writes statistics too: its checkpoint of a table without app transactions is
// not read at all for them.
func TestSmallActionsSkipFileList(t *testing.T) {
	ctx := context.Background()
	s, err := delta.OpenStore(ctx, filepath.Join(t.TempDir(), "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: delta.StructType{Fields: []delta.StructField{delta.NewField("id", "long")}}}, delta.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
	for c := range 4 {
		tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 500 {
			tx.Add(&delta.Add{Path: fmt.Sprintf("c%d/part-%05d.parquet", c, i), Size: 1000, DataChange: true,
				Stats: `{"numRecords":10,"minValues":{"id":1},"maxValues":{"id":10},"nullCount":{"id":0}}`})
		}
		tx.SetAppTransaction(fmt.Sprintf("app-%d", c), int64(c))
		if _, err := tx.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Row groups of 8 KiB: 2,000 adds make several.
	res, err := checkpoint.Write(ctx, s, -1, checkpoint.Options{BatchRows: 100, RowGroupBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	groups, total, err := delta.TxnRowGroups(ctx, s, res.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if total < 3 || groups == nil || len(groups) != 1 || groups[0] != 0 {
		t.Fatalf("txn reader reads row groups %v of %d; want [0] of several", groups, total)
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	txns, err := snap.AppTransactions(ctx)
	if err != nil || len(txns) != 4 || txns["app-3"].Version != 3 {
		t.Fatalf("app transactions %v, %v", txns, err)
	}

	dir := testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", "simple_table_with_checkpoint"))
	rs, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if groups, _, err := delta.TxnRowGroups(ctx, rs, delta.CheckpointKey(10)); err != nil || groups == nil || len(groups) != 0 {
		t.Fatalf("delta-rs checkpoint: row groups %v, %v; want none", groups, err)
	}
	snap, err = delta.Open(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	if txns, err := snap.AppTransactions(ctx); err != nil || len(txns) != 0 {
		t.Fatalf("delta-rs table: app transactions %v, %v; want none", txns, err)
	}
}
