package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/deltaraster/deltaraster/delta"
)

// The -foreign checkpoint: checkpoint 1 written by parquet-go instead of checkpoint.Write, the
// way another engine writes one. Spark's column names and order (txn, add, remove, metaData,
// protocol), stats as a JSON string and no stats_parsed, partitionValues as
// map<string,string>, every field optional, ZSTD, and
// row groups of -foreign-rowgroup rows (1M by default, against the 16 MiB of
// encoded bytes checkpoint.Write cuts at). The column types differ from the ones
// checkpoint.Write writes, so a checkpoint of such a table carries these rows by decoding
// them (the row path), not by copying Arrow columns.

type sparkRow struct {
	Txn      *sparkTxn      `parquet:"txn,optional"`
	Add      *sparkAdd      `parquet:"add,optional"`
	Remove   *sparkRemove   `parquet:"remove,optional"`
	MetaData *sparkMetaData `parquet:"metaData,optional"`
	Protocol *sparkProtocol `parquet:"protocol,optional"`
}

type sparkTxn struct {
	AppID       *string `parquet:"appId,optional"`
	Version     *int64  `parquet:"version,optional"`
	LastUpdated *int64  `parquet:"lastUpdated,optional"`
}

type sparkAdd struct {
	Path             *string           `parquet:"path,optional"`
	PartitionValues  map[string]string `parquet:"partitionValues,optional"`
	Size             *int64            `parquet:"size,optional"`
	ModificationTime *int64            `parquet:"modificationTime,optional"`
	DataChange       *bool             `parquet:"dataChange,optional"`
	Tags             map[string]string `parquet:"tags,optional"`
	Stats            *string           `parquet:"stats,optional"`
}

type sparkRemove struct {
	Path                 *string           `parquet:"path,optional"`
	DeletionTimestamp    *int64            `parquet:"deletionTimestamp,optional"`
	DataChange           *bool             `parquet:"dataChange,optional"`
	ExtendedFileMetadata *bool             `parquet:"extendedFileMetadata,optional"`
	PartitionValues      map[string]string `parquet:"partitionValues,optional"`
	Size                 *int64            `parquet:"size,optional"`
}

type sparkFormat struct {
	Provider *string           `parquet:"provider,optional"`
	Options  map[string]string `parquet:"options,optional"`
}

type sparkMetaData struct {
	ID               *string           `parquet:"id,optional"`
	Name             *string           `parquet:"name,optional"`
	Description      *string           `parquet:"description,optional"`
	Format           *sparkFormat      `parquet:"format,optional"`
	SchemaString     *string           `parquet:"schemaString,optional"`
	PartitionColumns []string          `parquet:"partitionColumns,optional,list"`
	Configuration    map[string]string `parquet:"configuration,optional"`
	CreatedTime      *int64            `parquet:"createdTime,optional"`
}

type sparkProtocol struct {
	MinReaderVersion *int32 `parquet:"minReaderVersion,optional"`
	MinWriterVersion *int32 `parquet:"minWriterVersion,optional"`
}

func ptr[T any](v T) *T { return &v }

// writeForeignCheckpoint writes checkpoint 1 (protocol, metaData, the N base adds) with
// parquet-go, then _last_checkpoint pointing at it.
func writeForeignCheckpoint(ctx context.Context, st delta.Store, g *gen, rowGroupRows int64) error {
	var m delta.Metadata
	var proto delta.Protocol
	v0, err := g.commit0()
	if err != nil {
		return err
	}
	for _, line := range splitLines(v0) {
		a, err := delta.ParseAction(line)
		if err != nil {
			return err
		}
		if a.Metadata != nil {
			m = *a.Metadata
		}
		if a.Protocol != nil {
			proto = *a.Protocol
		}
	}
	key := delta.CheckpointKey(1)
	path := filepath.Join(g.p.Out, filepath.FromSlash(key))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := parquet.NewGenericWriter[sparkRow](f, parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("parquet-go", "0.32.0", "gentable-foreign"))
	rows := []sparkRow{
		{Protocol: &sparkProtocol{MinReaderVersion: ptr(int32(proto.MinReaderVersion)), MinWriterVersion: ptr(int32(proto.MinWriterVersion))}},
		{MetaData: &sparkMetaData{ID: &m.ID, Name: &m.Name, Description: &m.Description,
			Format:       &sparkFormat{Provider: &m.Format.Provider, Options: m.Format.Options},
			SchemaString: &m.SchemaString, PartitionColumns: m.PartitionColumns,
			Configuration: m.Configuration, CreatedTime: m.CreatedTime}},
	}
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("write checkpoint 1: %w", err)
	}
	const chunk = 4096
	buf := make([]sparkRow, 0, chunk)
	adds := make([]sparkAdd, chunk)
	for i := 0; i < g.p.N; i++ {
		a := g.fileAt(i).add()
		sa := &adds[len(buf)]
		*sa = sparkAdd{Path: &a.Path, PartitionValues: map[string]string{"level": *a.PartitionValues["level"]},
			Size: &a.Size, ModificationTime: &a.ModificationTime, DataChange: &a.DataChange, Stats: &a.Stats}
		buf = append(buf, sparkRow{Add: sa})
		if len(buf) == chunk || i == g.p.N-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write checkpoint 1: %w", err)
			}
			buf = buf[:0]
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write checkpoint 1: %w", err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	lc, err := json.Marshal(map[string]any{"version": 1, "size": g.p.N + 2, "sizeInBytes": fi.Size(),
		"numOfAddFiles": g.p.N})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gentable: foreign checkpoint 1: %d files, %d bytes, row groups of %s rows\n",
		g.p.N, fi.Size(), strconv.FormatInt(rowGroupRows, 10))
	return st.Put(ctx, delta.LastCheckpointKey, lc)
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
