package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/deltaraster/deltaraster/delta"
)

// foreignSchema is the table of TestOptimizeMixedForeignFiles; "added" came later.
const foreignSchema = `{"type":"struct","fields":[
{"name":"id","type":"long","nullable":false,"metadata":{}},
{"name":"name","type":"string","nullable":true,"metadata":{}},
{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
{"name":"score","type":"double","nullable":true,"metadata":{}},
{"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}},
{"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
{"name":"attrs","type":{"type":"map","keyType":"string","valueType":"long","valueContainsNull":true},"nullable":true,"metadata":{}},
{"name":"loc","type":{"type":"struct","fields":[{"name":"x","type":"double","nullable":true,"metadata":{}},{"name":"y","type":"double","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"added","type":"string","nullable":true,"metadata":{}}]}`

// foreignFile is a data file as another engine writes it, by arrow-go: its own column order
// and encodings, INT96 or INT64 timestamps, decimals as fixed-length bytes.
type foreignFile struct {
	name   string
	fields []arrow.Field
	rows   string // JSON rows
	props  []pq.WriterProperty
	int96  bool
}

func writeForeignFile(t *testing.T, dir string, f foreignFile) *delta.Add {
	t.Helper()
	sc := arrow.NewSchema(f.fields, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(f.rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, pq.NewWriterProperties(f.props...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithDeprecatedInt96Timestamps(f.int96), pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &delta.Add{Path: f.name, Size: int64(buf.Len()), ModificationTime: 1, DataChange: true, PartitionValues: delta.PartitionValues{}}
}

// TestOptimizeMixedForeignFiles: files of one table written with other encodings (dictionary,
// delta-binary-packed, byte-stream-split), INT96 and INT64 timestamps, fixed-length decimals,
// columns in another order and a column added after the first file, with nested struct, list
// and map columns, are merged into files with our encodings only; arrow-go reads the same rows.
func TestOptimizeMixedForeignFiles(t *testing.T) {
	ctx := context.Background()
	tags := arrow.ListOf(arrow.BinaryTypes.String)
	attrs := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)
	loc := arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	old := foreignFile{
		name: "part-old.snappy.parquet", int96: true,
		fields: []arrow.Field{
			{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
			{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "price", Type: dec, Nullable: true},
			{Name: "tags", Type: tags, Nullable: true},
			{Name: "attrs", Type: attrs, Nullable: true},
			{Name: "loc", Type: loc, Nullable: true},
		},
		rows: `[{"name":"a","id":3,"ts":"1900-01-01T00:00:00.000001Z","score":1.5,"price":"12.34","tags":["x","y"],"attrs":[{"key":"k","value":1}],"loc":{"x":1,"y":2}},
{"name":"a","id":1,"ts":null,"score":null,"price":null,"tags":[],"attrs":null,"loc":null},
{"name":null,"id":2,"ts":"2262-04-12T00:00:00Z","score":-0.0,"price":"-99999999.99","tags":null,"attrs":[{"key":"a","value":null},{"key":"b","value":2}],"loc":{"x":null,"y":3}}]`,
		props: []pq.WriterProperty{pq.WithDictionaryDefault(true), pq.WithDictionaryFor("id", false),
			pq.WithEncodingFor("id", pq.Encodings.DeltaBinaryPacked), pq.WithDictionaryFor("score", false),
			pq.WithEncodingFor("score", pq.Encodings.ByteStreamSplit), pq.WithCompression(0)},
	}
	newer := foreignFile{
		name: "part-new.snappy.parquet",
		fields: []arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "added", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "loc", Type: loc, Nullable: true},
			{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
			{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "price", Type: dec, Nullable: true},
			{Name: "attrs", Type: attrs, Nullable: true},
			{Name: "tags", Type: tags, Nullable: true},
		},
		rows: `[{"id":0,"added":"new","loc":{"x":5,"y":6},"ts":"1969-12-31T23:59:59.999Z","score":2.25,"name":"b","price":"0.01","attrs":[],"tags":["z",null]},
{"id":5,"added":null,"loc":null,"ts":null,"score":null,"name":"c","price":null,"attrs":null,"tags":null}]`,
		props: []pq.WriterProperty{pq.WithDictionaryDefault(false), pq.WithDataPageVersion(pq.DataPageV2)},
	}
	for _, cluster := range []string{"", "id"} {
		t.Run("cluster="+cluster, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755); err != nil {
				t.Fatal(err)
			}
			adds := []*delta.Add{writeForeignFile(t, dir, old), writeForeignFile(t, dir, newer)}
			var log bytes.Buffer
			schemaJSON, _ := json.Marshal(strings.ReplaceAll(foreignSchema, "\n", ""))
			fmt.Fprintf(&log, `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`+"\n")
			fmt.Fprintf(&log, `{"metaData":{"id":"mixed","format":{"provider":"parquet","options":{}},"schemaString":%s,"partitionColumns":[],"configuration":{}}}`+"\n", schemaJSON)
			for _, a := range adds {
				line, err := delta.MarshalAction(delta.Action{Add: a})
				if err != nil {
					t.Fatal(err)
				}
				log.Write(append(line, '\n'))
			}
			if err := os.WriteFile(filepath.Join(dir, "_delta_log", "00000000000000000000.json"), log.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			st := openStore(t, dir)
			before, _ := foreignRows(t, ctx, dir, mustOpen(t, st))
			if n := len(before[""]); n != 5 {
				t.Fatalf("arrow-go reads %d distinct rows from the inputs, want 5", n)
			}
			m, err := Optimize(ctx, st, OptimizeOptions{TargetSize: 1 << 30, ClusterBy: cluster})
			if err != nil {
				t.Fatal(err)
			}
			if m.FilesRemoved != 2 || m.FilesAdded != 1 {
				t.Fatalf("removed %d added %d files, want 2 and 1", m.FilesRemoved, m.FilesAdded)
			}
			snap := mustOpen(t, st)
			after, _ := foreignRows(t, ctx, dir, snap)
			if d := diffRows(before, after); d != "" {
				t.Fatalf("rows differ: %s", d)
			}
			for a, err := range snap.Files(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				checkOwnEncodings(t, filepath.Join(dir, a.Path))
			}
		})
	}
}

// checkOwnEncodings fails when a column chunk of the file uses another encoding than PLAIN
// for values (RLE and BIT_PACKED encode levels).
func checkOwnEncodings(t *testing.T, path string) {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for g := 0; g < r.NumRowGroups(); g++ {
		rg := r.MetaData().RowGroup(g)
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range cc.Encodings() {
				if e != pq.Encodings.Plain && e != pq.Encodings.RLE && e != pq.Encodings.BitPacked {
					t.Errorf("%s: column %s encoded %s", filepath.Base(path), cc.PathInSchema(), e)
				}
			}
		}
	}
	if v := r.MetaData().KeyValueMetadata().FindValue("ARROW:schema"); v != nil {
		t.Errorf("%s: the source's ARROW:schema was copied", filepath.Base(path))
	}
}
