package checkpoint

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/deltaraster/deltaraster/delta"
)

// pqFile writes actions to one Parquet object: rows gathered into record batches of batchRows,
// batches buffered into the current row group, a new row group started once the current one
// holds rowGroupBytes of encoded data. Memory: one batch plus one row group, plus one page in
// progress per column.
//
// Pages are small (pageBytes) and values go to the encoders writeBatchValues at a time, and
// both matter for memory more than their size suggests: arrow-go's encoders take their page
// buffers from one process-wide pool and hand them back when a page is done, so a buffer that
// grew for one column's large page is later held by whichever column takes it next. With
// 1 MiB pages written 1,024 values at a time (arrow-go's defaults), a 436-byte stats column
// grew 2 MiB buffers that spread, page after page and row group after row group, over the
// ~60 columns: the heap live after a collection grew with the number of pages and row groups
// written (40 -> 47 MB from 100k to 2M files; heap profiles in bench/RESULTS.md). A page of at
// most pageBytes plus writeBatchValues values keeps every pooled buffer at 128 KiB or less.
// Snappy compresses in 64 KiB blocks anyway: the file grows by ~0.5% (page headers).
type pqFile struct {
	key       string
	cancel    context.CancelFunc
	sink      io.WriteCloser
	fw        *pqarrow.FileWriter
	rb        *array.RecordBuilder
	rows      *rowBuilder
	batchRows int
	rgBytes   int64
	counted   *countingWriter
	actions   int64
	nulls     []arrow.Array // by column: all-null arrays that writeFiles slices
}

const (
	pageBytes        = 64 << 10
	writeBatchValues = 128
)

// countingWriter hides Close from the Parquet writer (which closes its sink even on error, and
// a closed store writer publishes) and counts bytes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// keyStats turns statistics on for the key column of each small action (null counts, and
// min/max of a few values), so readers of protocol, metadata, txn or domain metadata skip the
// row groups of the file list. The file list itself has none: they would cost time and space.
var keyStats = []parquet.WriterProperty{
	parquet.WithStatsFor("protocol.minReaderVersion", true), parquet.WithStatsFor("metaData.id", true),
	parquet.WithStatsFor("txn.appId", true), parquet.WithStatsFor("domainMetadata.domain", true),
	parquet.WithStatsFor("checkpointMetadata.version", true), parquet.WithStatsFor("sidecar.path", true),
}

func newPQFile(ctx context.Context, s delta.Store, key string, schema *arrow.Schema, stats *statsBuilder, o Options) (*pqFile, error) {
	wctx, cancel := context.WithCancel(ctx)
	// Put-if-absent: a checkpoint file is never replaced, since a reader may be reading it.
	sink, err := s.CreateIfAbsent(wctx, key)
	if err != nil {
		cancel()
		return nil, err
	}
	cw := &countingWriter{w: sink}
	props := parquet.NewWriterProperties(append([]parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(false),
		parquet.WithMaxRowGroupLength(1 << 40),
		// Bytes count toward a row group once a page is finished: pages small enough that
		// RowGroupBytes is honoured even when it is small.
		parquet.WithDataPageSize(min(pageBytes, max(o.RowGroupBytes/16, 256))),
		parquet.WithBatchSize(writeBatchValues),
		parquet.WithCreatedBy(delta.EngineInfo),
	}, keyStats...)...)
	fw, err := pqarrow.NewFileWriter(schema, cw, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		cancel()
		_ = sink.Close()
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	if err := fw.NewBufferedRowGroupChecked(); err != nil {
		cancel()
		_ = sink.Close()
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	f := &pqFile{key: key, cancel: cancel, sink: sink, fw: fw, rb: rb, batchRows: o.BatchRows,
		rgBytes: o.RowGroupBytes, counted: cw}
	f.rows = newRowBuilder(rb, stats)
	return f, nil
}

func (f *pqFile) add(a delta.Action) error {
	f.rows.append(a)
	f.actions++
	if f.rows.pending >= f.batchRows {
		return f.flush()
	}
	return nil
}

func (f *pqFile) flush() error {
	if f.rows.pending == 0 {
		return nil
	}
	rec := f.rb.NewRecordBatch()
	defer rec.Release()
	f.rows.pending = 0
	return f.writeRecord(rec)
}

// writeFiles writes n rows whose add and remove columns are given (nil: all null); every other
// column is null. Rows added before and not yet flushed go first.
func (f *pqFile) writeFiles(add, remove arrow.Array, n int) error {
	if err := f.flush(); err != nil {
		return err
	}
	schema := f.rb.Schema()
	if f.nulls == nil {
		f.nulls = make([]arrow.Array, schema.NumFields())
	}
	cols := make([]arrow.Array, schema.NumFields())
	for i, fld := range schema.Fields() {
		switch {
		case fld.Name == "add" && add != nil:
			cols[i] = add
		case fld.Name == "remove" && remove != nil:
			cols[i] = remove
		default:
			if f.nulls[i] == nil || f.nulls[i].Len() < n {
				if f.nulls[i] != nil {
					f.nulls[i].Release()
				}
				f.nulls[i] = array.MakeArrayOfNull(memory.DefaultAllocator, fld.Type, max(n, f.batchRows))
			}
			cols[i] = array.NewSlice(f.nulls[i], 0, int64(n))
			defer cols[i].Release()
		}
	}
	rec := array.NewRecordBatch(schema, cols, int64(n))
	defer rec.Release()
	f.actions += int64(n)
	return f.writeRecord(rec)
}

// writeRecord writes a record into the current row group and starts a new row group once it
// holds rgBytes.
//
// The bytes of a buffered row group are its finished pages, headers included:
// RowGroupTotalBytesWritten. RowGroupTotalCompressedBytes counts the same pages again
// (without headers) when no dictionary is pending, as here: adding both cut row groups at
// half of rgBytes.
func (f *pqFile) writeRecord(rec arrow.RecordBatch) error {
	if err := f.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("write %s: %w", f.key, err)
	}
	if f.fw.RowGroupTotalBytesWritten() >= f.rgBytes {
		if err := f.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("write %s: %w", f.key, err)
		}
	}
	return nil
}

// close finishes the file and publishes it; on any error the object is abandoned unpublished.
func (f *pqFile) close() (int64, error) {
	err := f.flush()
	if cerr := f.fw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", f.key, cerr)
	}
	f.rb.Release()
	release(f.nulls...)
	f.nulls = nil
	if err != nil {
		f.abort()
		return 0, err
	}
	defer f.cancel()
	if err := f.sink.Close(); err != nil {
		return 0, fmt.Errorf("publish %s: %w", f.key, err)
	}
	return f.counted.n, nil
}

// abort drops the file: the store writer's context is cancelled before Close, so nothing is
// published.
func (f *pqFile) abort() {
	f.cancel()
	_ = f.sink.Close()
}
