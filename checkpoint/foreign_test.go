package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pqgo "github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// sparkCheckpointSchema is a classic checkpoint's schema as Spark writes it for a table
// without features: txn, add, remove, metaData, protocol in that order, every field nullable,
// stats as a JSON string and no stats_parsed, partitionValues and tags as map<string,string>,
// the protocol versions as int32. None of these column types is one this package writes, so a
// checkpoint over it carries its rows by the row path.
func sparkCheckpointSchema() *arrow.Schema {
	str, i64, i32, b := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Boolean
	strMap := arrow.MapOf(str, str)
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	return arrow.NewSchema([]arrow.Field{
		f("txn", arrow.StructOf(f("appId", str), f("version", i64), f("lastUpdated", i64))),
		f("add", arrow.StructOf(f("path", str), f("partitionValues", strMap), f("size", i64),
			f("modificationTime", i64), f("dataChange", b), f("tags", strMap), f("stats", str))),
		f("remove", arrow.StructOf(f("path", str), f("deletionTimestamp", i64), f("dataChange", b),
			f("extendedFileMetadata", b), f("partitionValues", strMap), f("size", i64))),
		f("metaData", arrow.StructOf(f("id", str), f("name", str), f("description", str),
			f("format", arrow.StructOf(f("provider", str), f("options", strMap))), f("schemaString", str),
			f("partitionColumns", arrow.ListOf(str)), f("configuration", strMap), f("createdTime", i64))),
		f("protocol", arrow.StructOf(f("minReaderVersion", i32), f("minWriterVersion", i32))),
	}, nil)
}

// sparkRowJSON renders an action as one row of sparkCheckpointSchema in Arrow's JSON form
// (maps as lists of key/value objects).
func sparkRowJSON(a delta.Action) map[string]any {
	strMap := func(m map[string]*string) []map[string]any {
		out := []map[string]any{}
		for k, v := range m {
			e := map[string]any{"key": k, "value": nil}
			if v != nil {
				e["value"] = *v
			}
			out = append(out, e)
		}
		return out
	}
	plainMap := func(m map[string]string) []map[string]any {
		out := []map[string]any{}
		for k, v := range m {
			out = append(out, map[string]any{"key": k, "value": v})
		}
		return out
	}
	switch {
	case a.Add != nil:
		x := a.Add
		return map[string]any{"add": map[string]any{"path": x.Path, "partitionValues": strMap(x.PartitionValues),
			"size": x.Size, "modificationTime": x.ModificationTime, "dataChange": x.DataChange, "stats": x.Stats}}
	case a.Remove != nil:
		x := a.Remove
		return map[string]any{"remove": map[string]any{"path": x.Path, "deletionTimestamp": x.DeletionTimestamp,
			"dataChange": x.DataChange, "extendedFileMetadata": x.ExtendedFileMetadata,
			"partitionValues": strMap(x.PartitionValues), "size": x.Size}}
	case a.Txn != nil:
		return map[string]any{"txn": map[string]any{"appId": a.Txn.AppID, "version": a.Txn.Version, "lastUpdated": a.Txn.LastUpdated}}
	case a.Metadata != nil:
		m := a.Metadata
		return map[string]any{"metaData": map[string]any{"id": m.ID, "name": m.Name, "description": m.Description,
			"format":       map[string]any{"provider": m.Format.Provider, "options": plainMap(m.Format.Options)},
			"schemaString": m.SchemaString, "partitionColumns": m.PartitionColumns,
			"configuration": plainMap(m.Configuration), "createdTime": m.CreatedTime}}
	case a.Protocol != nil:
		return map[string]any{"protocol": map[string]any{"minReaderVersion": a.Protocol.MinReaderVersion,
			"minWriterVersion": a.Protocol.MinWriterVersion}}
	}
	return nil
}

// writeSparkCheckpoint writes the classic checkpoint of snap with arrow-go the way another
// engine might: Spark's schema, file actions first, protocol and metadata last, dictionary
// encoding on, no compression, no statistics, pages of 1 MiB and every row in one row group.
func writeSparkCheckpoint(t *testing.T, ctx context.Context, s delta.Store, snap *delta.Snapshot) {
	t.Helper()
	var rows []map[string]any
	for a, err := range snap.FileActions(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, sparkRowJSON(a))
	}
	txns, err := snap.AppTransactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range txns {
		rows = append(rows, sparkRowJSON(delta.Action{Txn: &x}))
	}
	p, m := snap.Protocol(), snap.Metadata()
	rows = append(rows, sparkRowJSON(delta.Action{Metadata: &m}), sparkRowJSON(delta.Action{Protocol: &p}))
	schema := sparkCheckpointSchema()
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	for _, row := range rows { // row by row: one JSON decoder over all rows is quadratic in escapes
		js, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		if err := rb.UnmarshalJSON(js); err != nil {
			t.Fatalf("build the foreign checkpoint: %v", err)
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	w, err := s.Create(ctx, delta.CheckpointKey(snap.Version()))
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(true), parquet.WithCompression(compress.Codecs.Uncompressed),
		parquet.WithStats(false), parquet.WithDataPageSize(1<<20), parquet.WithMaxRowGroupLength(1<<30),
		parquet.WithCreatedBy("another-engine"))
	fw, err := pqarrow.NewFileWriter(schema, nopCloser{w}, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	hint := fmt.Sprintf(`{"version":%d,"size":%d}`, snap.Version(), len(rows))
	if err := s.Put(ctx, delta.LastCheckpointKey, []byte(hint)); err != nil {
		t.Fatal(err)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// readSizes is a store that records the largest ranged read of each key.
type readSizes struct {
	delta.Store
	mu  sync.Mutex
	max map[string]int64
}

func (r *readSizes) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	r.mu.Lock()
	if n > r.max[key] {
		r.max[key] = n
	}
	r.mu.Unlock()
	return r.Store.ReadRange(ctx, key, off, n)
}

// largestChunk is the largest column chunk of a local Parquet file, in bytes (read with
// parquet-go, a second library).
func largestChunk(t *testing.T, path string) (int64, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := pqgo.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	var largest int64
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			largest = max(largest, c.MetaData.TotalCompressedSize)
		}
	}
	return largest, len(pf.Metadata().RowGroups)
}

// TestForeignCheckpointRowPath: the previous checkpoint was written by another engine (Spark's
// schema through arrow-go: one row group of 12,000 rows, dictionary encoding, no statistics,
// protocol and metadata last), then 10 commits. The checkpoint this package writes over it
// takes the row path (no column is of its types) and holds what the replay of the JSON log
// holds. The previous checkpoint is read in pieces: no ranged read of it is larger than 2 MiB,
// though its stats column chunk alone is several times that (reading whole column chunks
// made memory follow the other writer's row-group size).
func TestForeignCheckpointRowPath(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	s := openDir(t, dir)
	clock := newTestClock(epoch)
	opts := delta.TxnOptions{Now: clock.Now}
	if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: tableSchema(true), PartitionColumns: []string{"part"}}, opts); err != nil {
		t.Fatal(err)
	}
	parts := []*string{ptr("a"), ptr("b"), nil}
	pad := strings.Repeat("x", 600)
	newFile := func(name string, i int) *delta.Add {
		a := newAdd(name, int64(1000+i), clock.Now(), parts[i%3])
		a.Stats = fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"name":"%s%d"},"maxValues":{"id":%d},"nullCount":{"id":0}}`, i, i, pad, i, 2*i)
		return a
	}
	const base = 12000
	files := map[string]*delta.Add{}
	commit(t, s, opts, func(tx *delta.Txn) {
		for i := range base {
			a := newFile(fmt.Sprintf("part-%05d.parquet", i), i)
			files[a.Path] = a
			tx.Add(a)
		}
	})
	clock.Advance(1e9)
	commit(t, s, opts, func(tx *delta.Txn) { // version 2: 300 tombstones, a txn
		for i := 0; i < 300; i++ {
			p := fmt.Sprintf("part-%05d.parquet", i*7)
			tx.Remove(removeOf(files[p]))
			delete(files, p)
		}
		tx.SetAppTransaction("ingest-1", 1)
	})
	const prev = 2
	for v := 0; v < 10; v++ { // versions 3..12
		clock.Advance(1e9)
		commit(t, s, opts, func(tx *delta.Txn) {
			for i := range 40 {
				n := base + v*40 + i
				tx.Add(newFile(fmt.Sprintf("new-%05d.parquet", n), n))
			}
			for i := range 25 {
				p := fmt.Sprintf("part-%05d.parquet", 5000+v*25*3+i*3)
				if a, ok := files[p]; ok {
					tx.Remove(removeOf(a))
					delete(files, p)
				}
			}
			if v == 4 { // a file of the previous checkpoint's tombstones comes back
				tx.Add(newFile("part-00007.parquet", 7))
			}
			tx.SetAppTransaction("ingest-1", int64(2+v))
			if v%3 == 0 {
				tx.SetAppTransaction(fmt.Sprintf("ingest-%d", 2+v), 0)
			}
		})
	}
	latest := int64(prev + 10)
	want := stateOf(t, ctx, openAt(t, ctx, s, latest)) // the JSON log alone

	writeSparkCheckpoint(t, ctx, s, openAt(t, ctx, s, prev))
	for v := int64(0); v <= prev; v++ { // as after log cleanup: only the foreign checkpoint holds 0..2
		if err := s.Delete(ctx, delta.CommitKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	cpPath := filepath.Join(dir, filepath.FromSlash(delta.CheckpointKey(prev)))
	largest, groups := largestChunk(t, cpPath)
	if groups != 1 || largest < 4<<20 {
		t.Fatalf("the foreign checkpoint has %d row groups, its largest column chunk %d bytes: want one group and a chunk over 4 MiB", groups, largest)
	}
	if d := diffState(stateOf(t, ctx, openAt(t, ctx, s, latest)), want); d != "" {
		t.Fatalf("replay through the foreign checkpoint differs from the JSON log: %s", d)
	}

	rs := &readSizes{Store: s, max: map[string]int64{}}
	res, err := checkpoint.Write(ctx, rs, latest, checkpoint.Options{Now: clock.Now, BatchRows: 100, RowGroupBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.CopiedRows != 0 {
		t.Errorf("%d rows copied as columns from a checkpoint of other column types; want the row path", res.CopiedRows)
	}
	if res.NumAddFiles != int64(len(want.Files)) || res.NumTombstones != int64(len(want.Tombstones)) {
		t.Errorf("checkpoint of %d files and %d tombstones, want %d and %d", res.NumAddFiles, res.NumTombstones, len(want.Files), len(want.Tombstones))
	}
	if got := rs.max[delta.CheckpointKey(prev)]; got > 2<<20 {
		t.Errorf("largest ranged read of the foreign checkpoint: %d bytes (its largest column chunk: %d); want at most 2 MiB", got, largest)
	}
	if err := s.Delete(ctx, delta.CheckpointKey(prev)); err != nil {
		t.Fatal(err)
	}
	snap := openAt(t, ctx, s, latest)
	if cp := snap.Segment().Checkpoint; cp == nil || cp.Version != latest {
		t.Fatalf("snapshot at %d does not start at the new checkpoint: %+v", latest, cp)
	}
	if d := diffState(stateOf(t, ctx, snap), want); d != "" {
		t.Fatalf("the new checkpoint differs from the replay of the JSON log: %s", d)
	}
}

func openAt(t *testing.T, ctx context.Context, s delta.Store, v int64) *delta.Snapshot {
	t.Helper()
	snap, err := delta.Open(ctx, s, delta.AtVersion(v))
	if err != nil {
		t.Fatalf("open at version %d: %v", v, err)
	}
	return snap
}

func ptr[T any](v T) *T { return &v }
