package delta_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/deltaraster/deltaraster/delta"
)

// newExampleTable creates a table partitioned by level in a temporary directory; remove
// returns it.
func newExampleTable(ctx context.Context) (st delta.Store, remove func()) {
	dir, err := os.MkdirTemp("", "delta-example-")
	if err != nil {
		log.Fatal(err)
	}
	st, err = delta.OpenStore(ctx, filepath.Join(dir, "tiles")) // or s3://bucket/tiles, gs://, azblob://
	if err != nil {
		log.Fatal(err)
	}
	schema := delta.StructType{Fields: []delta.StructField{
		delta.NewField("source", "string"), delta.NewField("level", "integer"), delta.NewField("red", "binary")}}
	if _, err := delta.CreateTable(ctx, st, delta.TableSpec{Schema: schema, PartitionColumns: []string{"level"}}, delta.TxnOptions{}); err != nil {
		log.Fatal(err)
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }
}

// Open reads a snapshot: its protocol and metadata at once, and its live files as a stream
// (memory: the commits after the last checkpoint, plus one batch of it).
func ExampleOpen() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	level0 := "0"
	txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
	if err != nil {
		log.Fatal(err)
	}
	txn.Add(&delta.Add{Path: "level=0/part-0001.parquet", Size: 1 << 20, DataChange: true,
		PartitionValues: delta.PartitionValues{"level": &level0}, Stats: `{"numRecords":12}`})
	if _, err := txn.Commit(ctx, "WRITE", map[string]any{"mode": "Append"}); err != nil {
		log.Fatal(err)
	}

	snap, err := delta.Open(ctx, st) // or delta.AtVersion(0), delta.AtTimestamp(t)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", snap.Version(), "partitioned by", snap.Metadata().PartitionColumns)
	for add, err := range snap.Files(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		level, _ := add.PartitionValues.Get("level")
		fmt.Println(add.Path, add.Size, "level", level)
	}
	// Output:
	// version 1 partitioned by [level]
	// level=0/part-0001.parquet 1048576 level 0
}

// Begin starts an optimistic transaction; concurrent writers are safe (each commit is a
// put-if-absent of the next version). An app transaction makes a writer's batches exactly
// once: after a crash it reads its last committed version back and resumes after it.
func ExampleBegin() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()

	level0 := "0"
	txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
	if err != nil {
		log.Fatal(err)
	}
	txn.SetAppTransaction("ingest-scenes", 42) // batch 42 of this writer
	txn.Add(&delta.Add{Path: "level=0/part-0001.parquet", Size: 1 << 20, DataChange: true,
		PartitionValues: delta.PartitionValues{"level": &level0}})
	version, err := txn.Commit(ctx, "WRITE", map[string]any{"mode": "Append"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, delta.ErrConflict) when a concurrent commit conflicts
	}
	fmt.Println("committed version", version)

	snap, err := delta.Open(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	last, err := snap.AppTransactionVersion(ctx, "ingest-scenes")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ingest-scenes is at batch", last)
	// Output:
	// committed version 1
	// ingest-scenes is at batch 42
}
