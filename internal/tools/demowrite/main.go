// Command demowrite creates a small tile-like Delta table with the delta package and commits a
// few versions to it, for `make demo`: an append, an app-transaction append, and a replace.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/deltaraster/deltaraster/delta"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demowrite TABLE_URL")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "demowrite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string) error {
	st, err := delta.OpenStore(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	schema := delta.StructType{Fields: []delta.StructField{
		delta.NewField("source", "string"), delta.NewField("level", "integer"),
		delta.NewField("tile_col", "integer"), delta.NewField("tile_row", "integer"),
		delta.NewField("red", "binary"),
	}}
	if _, err := delta.CreateTable(ctx, st, delta.TableSpec{Name: "demo", Schema: schema,
		PartitionColumns: []string{"level"}}, delta.TxnOptions{}); err != nil {
		return err
	}
	add := func(path string, level string, rows int) *delta.Add {
		return &delta.Add{Path: path, PartitionValues: delta.PartitionValues{"level": &level},
			Size: int64(4096 * rows), ModificationTime: 1_700_000_000_000, DataChange: true,
			Stats: fmt.Sprintf(`{"numRecords":%d,"minValues":{"tile_col":0},"maxValues":{"tile_col":%d},"nullCount":{"tile_col":0}}`, rows, rows-1)}
	}
	commit := func(op string, fill func(*delta.Txn)) error {
		t, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			return err
		}
		fill(t)
		v, err := t.Commit(ctx, op, map[string]any{"mode": "Append"})
		if err != nil {
			return err
		}
		fmt.Printf("committed version %d (%s)\n", v, op)
		return nil
	}
	if err := commit("WRITE", func(t *delta.Txn) {
		t.Add(add("level=0/part-00000.parquet", "0", 64), add("level=1/part-00001.parquet", "1", 16))
	}); err != nil {
		return err
	}
	if err := commit("WRITE", func(t *delta.Txn) {
		t.SetAppTransaction("demo-ingest", 1)
		t.Add(add("level=0/part-00002.parquet", "0", 64))
	}); err != nil {
		return err
	}
	return commit("REPLACE SOURCE", func(t *delta.Txn) {
		t.MarkRead("level=0/part-00000.parquet", nil)
		t.Remove(&delta.Remove{Path: "level=0/part-00000.parquet", DataChange: true})
		t.Add(add("level=0/part-00003.parquet", "0", 60))
	})
}
