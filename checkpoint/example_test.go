package checkpoint_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// Write checkpoints a table: the live files and tombstones of the version in Parquet, written
// from the replay stream in bounded batches, then _last_checkpoint. Writers usually leave it
// to checkpoint.PostCommit in their delta.TxnOptions, which checkpoints every
// delta.checkpointInterval versions.
func ExampleWrite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "checkpoint-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := delta.OpenStore(ctx, filepath.Join(dir, "tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	schema := delta.StructType{Fields: []delta.StructField{delta.NewField("source", "string")}}
	if _, err := delta.CreateTable(ctx, st, delta.TableSpec{Schema: schema}, delta.TxnOptions{}); err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 3; i++ { // versions 1, 2 and 3 add a file each
		txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			log.Fatal(err)
		}
		txn.Add(&delta.Add{Path: fmt.Sprintf("part-%04d.parquet", i), Size: 1000, DataChange: true})
		if _, err := txn.Commit(ctx, "WRITE", map[string]any{"mode": "Append"}); err != nil {
			log.Fatal(err)
		}
	}

	res, err := checkpoint.Write(ctx, st, -1, checkpoint.Options{}) // -1: the latest version
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s checkpoint of version %d: %d files, %d bytes of data\n", res.Format, res.Version, res.NumAddFiles, res.TableSizeBytes)
	for _, k := range res.Keys {
		fmt.Println(k)
	}
	// Readers now start at the checkpoint: its files, and the commits after it.
	snap, err := delta.Open(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for _, err := range snap.Files(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "live files read back")
	// Output:
	// classic checkpoint of version 3: 3 files, 3000 bytes of data
	// _delta_log/00000000000000000003.checkpoint.parquet
	// 3 live files read back
}
