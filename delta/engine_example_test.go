package delta_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// addFiles commits one add per name, each in its own commit, to a table made by
// newExampleTable.
func addFiles(ctx context.Context, st delta.Store, names ...string) {
	zero := "0"
	for _, name := range names {
		txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			log.Fatal(err)
		}
		txn.Add(&delta.Add{Path: "level=0/" + name + ".parquet", Size: 100, DataChange: true,
			PartitionValues: delta.PartitionValues{"level": &zero}})
		if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
			log.Fatal(err)
		}
	}
}

// FileActionBatches is scan metadata for an engine that works on Arrow columns, as
// delta-kernel-rs hands out its scan metadata: the checkpoint's add and remove columns a
// record batch at a time, with a selection vector (Live) of the rows that are file actions of
// the snapshot; the commits after the checkpoint come as decoded actions.
func ExampleSnapshot_FileActionBatches() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	addFiles(ctx, st, "a", "b")
	if _, err := checkpoint.Write(ctx, st, -1, checkpoint.Options{}); err != nil {
		log.Fatal(err)
	}
	addFiles(ctx, st, "c")

	snap, err := delta.Open(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	var fromCommits, fromBatches []string
	err = snap.FileActionBatches(ctx, func(a delta.Action) error {
		if a.Add != nil {
			fromCommits = append(fromCommits, a.Add.Path)
		}
		return nil
	}, func(b delta.CheckpointBatch) (bool, error) {
		if b.Add == nil {
			return true, nil
		}
		idx, _ := b.Add.DataType().(*arrow.StructType).FieldIdx("path")
		path := b.Add.Field(idx)
		for i := range b.Rows {
			if b.Live[i] && b.Add.IsValid(i) {
				fromBatches = append(fromBatches, path.ValueStr(i))
			}
		}
		return true, nil // handled: the rows are not decoded into actions
	})
	if err != nil {
		log.Fatal(err)
	}
	slices.Sort(fromBatches) // a checkpoint's rows come in no particular order
	fmt.Println("checkpoint batches:", fromBatches)
	fmt.Println("commits after it:", fromCommits)
	// Output:
	// checkpoint batches: [level=0/a.parquet level=0/b.parquet]
	// commits after it: [level=0/c.parquet]
}

// A snapshot's log segment: the checkpoint it starts from and the commits after it. With V2
// checkpoints, SidecarsOf names the sidecar files a checkpoint references (log cleanup keeps
// them while the checkpoint is kept).
func ExampleSnapshot_Segment() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	if _, err := checkpoint.EnableV2(ctx, st, delta.TxnOptions{}); err != nil {
		log.Fatal(err)
	}
	addFiles(ctx, st, "a", "b")
	if _, err := checkpoint.Write(ctx, st, -1, checkpoint.Options{}); err != nil {
		log.Fatal(err)
	}
	addFiles(ctx, st, "c")

	snap, err := delta.Open(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	seg := snap.Segment()
	fmt.Println("version", seg.Version, "checkpoint", seg.Checkpoint.Version, "kind", seg.Checkpoint.Kind == delta.KindUUIDCheckpoint)
	for _, c := range seg.Commits {
		fmt.Println("then", c.Key)
	}
	names, err := delta.SidecarsOf(ctx, st, seg.Checkpoint.Files[0])
	if err != nil {
		log.Fatal(err)
	}
	parquet := 0
	for _, n := range names {
		if strings.HasSuffix(n, ".parquet") {
			parquet++
		}
	}
	fmt.Println(parquet > 0 && parquet == len(names), "sidecars are Parquet files")
	// Output:
	// version 4 checkpoint 3 kind true
	// then _delta_log/00000000000000000004.json
	// true sidecars are Parquet files
}

// NewReaderAt reads a data file of the table through the store with ranged reads, as Parquet
// readers need (footer first, then the column chunks), pinned to one version of the object.
func ExampleNewReaderAt() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	data := []byte("PAR1 pages... footer PAR1")
	if err := st.Put(ctx, "level=0/part-0001.parquet", data); err != nil {
		log.Fatal(err)
	}
	r := delta.NewReaderAt(ctx, st, "level=0/part-0001.parquet", int64(len(data)))
	tail := make([]byte, 4)
	if _, err := r.ReadAt(tail, r.Size()-4); err != nil {
		log.Fatal(err)
	}
	all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d\n", tail, len(all))
	// Output:
	// PAR1 25
}

// ReadCommitActions reads one commit by its version; CommitsAfter follows the log from a
// version on.
func ExampleReadCommitActions() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	err := delta.ReadCommitActions(ctx, st, 0, func(a delta.Action) error {
		switch {
		case a.CommitInfo != nil:
			op, _ := a.CommitInfo.String("operation")
			fmt.Println("operation", op)
		case a.Protocol != nil:
			fmt.Println("protocol", a.Protocol.MinReaderVersion, a.Protocol.MinWriterVersion)
		case a.Metadata != nil:
			fmt.Println("partitioned by", a.Metadata.PartitionColumns)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// operation CREATE TABLE
	// protocol 1 2
	// partitioned by [level]
}
