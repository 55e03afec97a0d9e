package checkpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

type goldenTable struct {
	Table   string   `json:"table"`
	Archive string   `json:"archive"`
	Dir     string   `json:"dir"`
	Refused []string `json:"refused"`
}

func goldenTables(t *testing.T) []goldenTable {
	b, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "delta", "testdata", "conformance_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Tables []goldenTable `json:"tables"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.Tables
}

// copyGolden copies a conformance table (unpacking its archive) to a temporary directory.
func copyGolden(t *testing.T, g goldenTable) string {
	root := testutil.ConformanceDir(t)
	src := filepath.Join(root, filepath.FromSlash(g.Table))
	if g.Archive != "" {
		src = filepath.Join(testutil.Unpack(t, filepath.Join(root, g.Archive)), g.Dir)
	}
	return testutil.CopyTable(t, src)
}

// TestCheckpointConformance: for every conformance table the reader supports, a checkpoint
// written at the latest version gives a snapshot equal to the one replayed without it, and
// parquet-go reads every column of every file written.
func TestCheckpointConformance(t *testing.T) {
	ctx := context.Background()
	n := 0
	for _, g := range goldenTables(t) {
		if len(g.Refused) > 0 || strings.HasPrefix(g.Table, "kernel/300k") {
			continue
		}
		n++
		t.Run(g.Table, func(t *testing.T) {
			dir := copyGolden(t, g)
			st, err := delta.OpenStore(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			before, err := delta.Open(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			want := stateOf(t, ctx, before)
			// A classic checkpoint already at the latest version is kept by the writer (readers
			// may be reading it): move it aside so this test checks a checkpoint of ours, unless
			// the log cannot be read without it (older commits cleaned up).
			cpPath := filepath.Join(dir, filepath.FromSlash(delta.CheckpointKey(before.Version())))
			if err := os.Rename(cpPath, cpPath+".orig"); err == nil {
				if _, err := delta.Open(ctx, st); err != nil {
					if err := os.Rename(cpPath+".orig", cpPath); err != nil {
						t.Fatal(err)
					}
				}
			}
			// An old clock: no tombstone or txn expires, so the states must match whole.
			res, err := checkpoint.Write(ctx, st, -1, checkpoint.Options{Now: func() time.Time { return time.UnixMilli(0) }, BatchRows: 7})
			if err != nil {
				t.Fatal(err)
			}
			after, err := delta.Open(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if cp := after.Segment().Checkpoint; cp == nil || cp.Version != res.Version || len(after.Segment().Commits) != 0 {
				t.Fatalf("snapshot after checkpoint is not read from it: %+v", after.Segment())
			}
			if d := diffState(want, stateOf(t, ctx, after)); d != "" {
				t.Fatalf("snapshot through the %s checkpoint differs from replay: %s", res.Format, d)
			}
			if res.Existing {
				return // the table's own checkpoint, read back equal above
			}
			if int64(len(want.Files)) != res.NumAddFiles || int64(len(want.Tombstones)) != res.NumTombstones {
				t.Errorf("result counts %d adds %d tombstones, want %d and %d", res.NumAddFiles, res.NumTombstones, len(want.Files), len(want.Tombstones))
			}
			var rows, paths int64
			for _, key := range res.Keys {
				r, p := readWithParquetGo(t, filepath.Join(dir, filepath.FromSlash(key)))
				rows += r
				paths += p
			}
			if rows != res.Actions || paths != res.NumAddFiles {
				t.Errorf("parquet-go read %d rows, %d add paths; writer reported %d actions, %d adds", rows, paths, res.Actions, res.NumAddFiles)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d tables checked", n)
	}
}

// readWithParquetGo reads every column of every row of a Parquet file with parquet-go and
// returns the row count and the number of non-null add.path values.
func readWithParquetGo(t *testing.T, path string) (rows, addPaths int64) {
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
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatalf("parquet-go opens %s: %v", path, err)
	}
	addPath := -1
	for i, c := range pf.Schema().Columns() {
		if strings.Join(c, ".") == "add.path" {
			addPath = i
		}
	}
	buf := make([]parquet.Row, 64)
	for _, rg := range pf.RowGroups() {
		rr := rg.Rows()
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				rows++
				seen := map[int]bool{}
				for _, v := range row {
					seen[v.Column()] = true
					if v.Column() == addPath && !v.IsNull() {
						addPaths++
					}
				}
				if len(seen) != len(pf.Schema().Columns()) {
					t.Fatalf("%s: a row has values for %d of %d columns", path, len(seen), len(pf.Schema().Columns()))
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("parquet-go reads %s: %v", path, err)
			}
		}
		rr.Close()
	}
	return rows, addPaths
}
