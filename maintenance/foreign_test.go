package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

type foreignTable struct {
	Table   string   `json:"table"`
	Archive string   `json:"archive"`
	Dir     string   `json:"dir"`
	Refused []string `json:"refused"`
}

// foreignTables lists the conformance tables (the same list the delta and checkpoint
// conformance tests read).
func foreignTables(t *testing.T) []foreignTable {
	b, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "delta", "testdata", "conformance_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Tables []foreignTable `json:"tables"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.Tables
}

// notOptimized are the conformance tables this test does not optimize, with the reason.
var notOptimized = map[string]string{
	"kernel/300k-add-files-100-col-partitioned": "a log of 300,000 adds without their data files (a replay benchmark)",
	"kernel/crc-full": "a .crc fixture: its log adds no data files",
}

// dataAbsent are the conformance tables whose log fixtures come without (some of) their live
// data files: there is nothing to rewrite. The test checks the files are indeed absent.
var dataAbsent = map[string]bool{
	"delta-rs/checkpoint_with_partitions":         true,
	"delta-rs/checkpoints":                        true,
	"delta-rs/checkpoints_vacuumed":               true,
	"delta-rs/latest_not_checkpointed":            true,
	"delta-rs/table-with-domain-metadata":         true,
	"delta-rs/with_checkpoint_no_last_checkpoint": true,
	"kernel/app-txn-with-last-updated":            true,
	"kernel/with_checkpoint_no_last_checkpoint":   true,
}

// partRows are the canonical rows of a table, per partition, as multisets.
type partRows map[string]map[string]int

// TestOptimizeForeignTables optimizes every conformance table that has data files, as
// bin-packing everything it can (a large target, every file a candidate), then vacuums it with
// the shortest retention. The rows of each partition, read by arrow-go (a second Parquet
// library: the rewrite writes with parquet-go), are the same before and after as multisets,
// and every file of the final snapshot exists. Tables with a feature this writer refuses are
// refused by optimize naming the feature, and left unchanged.
func TestOptimizeForeignTables(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every conformance table")
	}
	ctx := context.Background()
	var optimized, refused, skipped []string
	for _, g := range foreignTables(t) {
		if why, ok := notOptimized[g.Table]; ok {
			skipped = append(skipped, g.Table+": "+why)
			continue
		}
		t.Run(g.Table, func(t *testing.T) {
			root := testutil.ConformanceDir(t)
			src := filepath.Join(root, filepath.FromSlash(g.Table))
			if g.Archive != "" {
				src = filepath.Join(testutil.Unpack(t, filepath.Join(root, g.Archive)), g.Dir)
			}
			dir := testutil.CopyTable(t, src)
			st := openStore(t, dir)
			snap, err := delta.Open(ctx, st)
			if len(g.Refused) > 0 {
				// Not even readable: optimize must refuse it the same way.
				_, oerr := Optimize(ctx, st, OptimizeOptions{TargetSize: 1 << 40})
				checkRefusal(t, oerr, g.Refused)
				refused = append(refused, fmt.Sprintf("%s: %v", g.Table, oerr))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := unsupportedWriterFeatures(snap)
			if missing := absentFiles(t, ctx, dir, snap); missing != "" || dataAbsent[g.Table] {
				if missing == "" || !dataAbsent[g.Table] {
					t.Fatalf("live data file %q absent (listed in dataAbsent: %v)", missing, dataAbsent[g.Table])
				}
				skipped = append(skipped, g.Table+": live data files absent from the fixture, such as "+missing)
				return
			}
			unreadable, countOnly := arrowUnreadable[g.Table]
			var before partRows
			var nFiles int
			if countOnly {
				before, nFiles = rowCounts(t, dir, snap)
			} else {
				before, nFiles = foreignRows(t, ctx, dir, snap)
			}
			if nFiles == 0 {
				skipped = append(skipped, g.Table+": no live data files")
				return
			}
			now := time.Now()
			m, err := Optimize(ctx, st, OptimizeOptions{TargetSize: 1 << 40, Now: func() time.Time { return now }})
			if len(want) > 0 {
				checkRefusal(t, err, want)
				if after, _ := foreignRows(t, ctx, dir, mustOpen(t, st)); !maps.EqualFunc(before, after, maps.Equal) {
					t.Errorf("a refused optimize changed the rows")
				}
				refused = append(refused, fmt.Sprintf("%s: %v", g.Table, err))
				return
			}
			if err != nil {
				t.Fatalf("optimize: %v", err)
			}
			if m.FilesKept != 0 {
				t.Errorf("%d files left alone for their schema", m.FilesKept)
			}
			// Vacuum with zero retention deletes what the optimize removed.
			zero := time.Duration(0)
			vm, err := Vacuum(ctx, st, VacuumOptions{Retention: &zero, ForceRetention: true,
				Now: func() time.Time { return now.Add(time.Second) }})
			if err != nil {
				t.Fatalf("vacuum: %v", err)
			}
			final := mustOpen(t, st)
			after, n := foreignRows(t, ctx, dir, final)
			if countOnly {
				// arrow-go reads every row written; their number per partition is compared.
				for pk, rows := range after {
					total := 0
					for _, k := range rows {
						total += k
					}
					after[pk] = map[string]int{"": total}
				}
				unreadable = " (rows counted only: " + unreadable + ")"
			}
			if d := diffRows(before, after); d != "" {
				t.Fatalf("rows differ after optimize and vacuum (%d -> %d files): %s", nFiles, n, d)
			}
			optimized = append(optimized, fmt.Sprintf("%s: %d -> %d files (%d bins, %d deleted by vacuum)%s",
				g.Table, nFiles, n, m.BinsCommitted, vm.Deleted, unreadable))
		})
	}
	t.Logf("optimized %d tables:\n  %s", len(optimized), strings.Join(optimized, "\n  "))
	t.Logf("refused %d tables:\n  %s", len(refused), strings.Join(refused, "\n  "))
	t.Logf("not optimized %d tables:\n  %s", len(skipped), strings.Join(skipped, "\n  "))
}

// arrowUnreadable are the conformance tables whose source files arrow-go cannot read, with why:
// their rows are counted per partition with parquet-go before, and read whole with arrow-go
// after (TestInt96Timestamps checks the values of such timestamps).
var arrowUnreadable = map[string]string{
	"delta-rs/table_with_edge_timestamps": "INT96 timestamps outside arrow-go's nanosecond range",
}

// rowCounts counts the rows of every live file of snap per partition, with parquet-go.
func rowCounts(t *testing.T, dir string, snap *delta.Snapshot) (partRows, int) {
	t.Helper()
	out := partRows{}
	n := 0
	for a, err := range snap.Files(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		key, err := delta.FileKey(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("parquet-go opens %s: %v", a.Path, err)
		}
		pk := partitionKey(a.PartitionValues, snap.Metadata().PartitionColumns)
		if out[pk] == nil {
			out[pk] = map[string]int{}
		}
		out[pk][""] += int(f.NumRows())
	}
	return out, n
}

// absentFiles returns the path of a live file of snap that is not in dir, "" if none is.
func absentFiles(t *testing.T, ctx context.Context, dir string, snap *delta.Snapshot) string {
	t.Helper()
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		key, err := delta.FileKey(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
			return a.Path
		}
	}
	return ""
}

func mustOpen(t *testing.T, st delta.Store) *delta.Snapshot {
	t.Helper()
	snap, err := delta.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// unsupportedWriterFeatures lists the features of the table that this package does not write.
func unsupportedWriterFeatures(snap *delta.Snapshot) []string {
	p, m := snap.Protocol(), snap.Metadata()
	var out []string
	for _, f := range append(delta.WriterFeaturesOf(p), delta.ReaderFeaturesOf(p, m)...) {
		if !slices.Contains(delta.SupportedWriterFeatures(), f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func checkRefusal(t *testing.T, err error, features []string) {
	t.Helper()
	if !errors.Is(err, delta.ErrUnsupportedFeature) {
		t.Fatalf("want a refusal naming %v, got %v", features, err)
	}
	for _, f := range features {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal %q does not name %s", err, f)
		}
	}
}

// foreignRows reads every live file of snap with arrow-go and returns its rows per partition,
// each row canonicalised as JSON of the table's data columns (a column a file lacks is null).
func foreignRows(t *testing.T, ctx context.Context, dir string, snap *delta.Snapshot) (partRows, int) {
	t.Helper()
	schema, err := snap.Metadata().Schema()
	if err != nil {
		t.Fatal(err)
	}
	parts := snap.Metadata().PartitionColumns
	var cols []string
	for _, f := range schema.Fields {
		if !slices.Contains(parts, f.Name) {
			cols = append(cols, f.Name)
		}
	}
	out := partRows{}
	n := 0
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		key, err := delta.FileKey(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatalf("live file %s: %v", a.Path, err)
		}
		pk := partitionKey(a.PartitionValues, parts)
		if out[pk] == nil {
			out[pk] = map[string]int{}
		}
		if err := arrowRows(ctx, b, cols, func(row string) { out[pk][row]++ }); err != nil {
			t.Fatalf("arrow-go reads %s: %v", a.Path, err)
		}
	}
	return out, n
}

// arrowRows reads a Parquet file with arrow-go and calls fn with each row as canonical JSON.
func arrowRows(ctx context.Context, b []byte, cols []string, fn func(string)) error {
	pf, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	var row []byte
	for rr.Next() {
		rec := rr.RecordBatch()
		sch := rec.Schema()
		arrs := make([]arrow.Array, len(cols)) // nil: a column the file lacks
		for k, c := range cols {
			if idx := sch.FieldIndices(c); len(idx) == 1 {
				arrs[k] = rec.Column(idx[0])
			}
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row = append(row[:0], '[')
			for k, a := range arrs {
				if k > 0 {
					row = append(row, ',')
				}
				if a == nil {
					row = append(row, "null"...)
				} else {
					row = appendCanonical(row, a, i)
				}
			}
			fn(string(append(row, ']')))
		}
	}
	return rr.Err()
}

// appendCanonical appends the value at i of arr as the rows compare it: timestamps as
// microseconds since the epoch whatever their unit and time zone annotation (a Delta timestamp
// is an instant; writers annotate it differently), nested values element by element, the rest
// as arrow-go renders them in JSON.
func appendCanonical(b []byte, arr arrow.Array, i int) []byte {
	if arr.IsNull(i) {
		return append(b, "null"...)
	}
	switch a := arr.(type) {
	case *array.Timestamp:
		v := int64(a.Value(i))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			v *= 1e6
		case arrow.Millisecond:
			v *= 1e3
		case arrow.Nanosecond:
			v = v / 1e3
		}
		return strconv.AppendInt(append(b, "ts:"...), v, 10)
	case *array.String:
		return strconv.AppendQuote(b, a.Value(i))
	case *array.Int64:
		return strconv.AppendInt(b, a.Value(i), 10)
	case *array.Int32:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Struct:
		b = append(b, '{')
		st := a.DataType().(*arrow.StructType)
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				b = append(b, ',')
			}
			b = append(strconv.AppendQuote(b, st.Field(f).Name), ':')
			b = appendCanonical(b, a.Field(f), i)
		}
		return append(b, '}')
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		b = append(b, '[')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, ',')
			}
			b = appendCanonical(b, a.ListValues(), int(j))
		}
		return append(b, ']')
	}
	v := arr.GetOneForMarshal(i)
	j, err := json.Marshal(v)
	if err != nil {
		j = fmt.Appendf(nil, "%v", v) // NaN and infinities
	}
	return append(b, j...)
}

// diffRows describes how two tables' rows differ, "" when they are equal.
func diffRows(want, got partRows) string {
	var lost, extra []string
	for _, pk := range slices.Sorted(maps.Keys(want)) {
		for row, n := range want[pk] {
			if got[pk][row] != n {
				lost = append(lost, fmt.Sprintf("partition %q: row %s %d times, want %d", pk, row, got[pk][row], n))
			}
		}
	}
	for pk, rows := range got {
		for row, n := range rows {
			if want[pk][row] == 0 {
				extra = append(extra, fmt.Sprintf("partition %q: unexpected row %s (%d times)", pk, row, n))
			}
		}
	}
	short := func(d []string) []string {
		if len(d) > 3 {
			return append(d[:3], fmt.Sprintf("... %d more", len(d)-3))
		}
		return d
	}
	return strings.Join(append(short(lost), short(extra)...), "; ")
}

// TestInt96Timestamps: INT96 timestamps (Julian day and nanoseconds of the day, as Spark
// writes them) become INT64 microseconds, also far outside the nanosecond range of int64;
// millisecond and nanosecond timestamps change unit, rounding down.
func TestInt96Timestamps(t *testing.T) {
	micros := parquet.Timestamp(parquet.Microsecond).Type()
	int96 := func(tm time.Time) parquet.Value {
		days := tm.Unix()/86400 + julianUnixEpoch
		if tm.Unix()%86400 < 0 {
			days--
		}
		nanos := tm.Sub(time.Unix((days-julianUnixEpoch)*86400, 0)).Nanoseconds()
		return parquet.Int96Value(deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(days)})
	}
	for _, tm := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 145224000, time.UTC), // just outside int64 nanoseconds
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2023, 5, 24, 0, 1, 25, 13972000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		fix, err := leafFix(parquet.Leaf(parquet.Int96Type).Type(), micros)
		if err != nil {
			t.Fatal(err)
		}
		v, err := fix(int96(tm))
		if err != nil {
			t.Fatal(err)
		}
		want := tm.Unix()*1e6 + int64(tm.Nanosecond()/1e3)
		if v.Int64() != want {
			t.Errorf("%s: got %d µs, want %d", tm, v.Int64(), want)
		}
	}
	for _, tt := range []struct {
		unit parquet.TimeUnit
		in   int64
		want int64
	}{
		{parquet.Millisecond, -1, -1000},
		{parquet.Millisecond, 1684886485014, 1684886485014000},
		{parquet.Nanosecond, -1, -1},
		{parquet.Nanosecond, 1999, 1},
	} {
		fix, err := leafFix(parquet.Timestamp(tt.unit).Type(), micros)
		if err != nil {
			t.Fatal(err)
		}
		v, err := fix(parquet.Int64Value(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if v.Int64() != tt.want {
			t.Errorf("%d in %v: got %d µs, want %d", tt.in, tt.unit, v.Int64(), tt.want)
		}
	}
}
