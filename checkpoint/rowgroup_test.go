package checkpoint_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/checkpoint"
)

// TestRowGroupBytes: Options.RowGroupBytes cuts row groups at that many encoded bytes, so a
// checkpoint several times larger than it has several row groups, none far above the limit
// and none but the last below it.
func TestRowGroupBytes(t *testing.T) {
	ctx := context.Background()
	s, clock := bigV2Table(t, 1000, 0)
	const limit = 4096
	for _, format := range []checkpoint.Format{checkpoint.FormatClassic, checkpoint.FormatV2} {
		t.Run(map[checkpoint.Format]string{checkpoint.FormatClassic: "classic", checkpoint.FormatV2: "v2"}[format], func(t *testing.T) {
			res, err := checkpoint.Write(ctx, s, -1, checkpoint.Options{Now: clock.Now, BatchRows: 8, RowGroupBytes: limit, Sidecars: 1, Format: format})
			if err != nil {
				t.Fatal(err)
			}
			key := res.Keys[0] // the classic file, or the V2 sidecar holding the file list
			f, err := os.Open(filepath.Join(s.URL(), filepath.FromSlash(key)))
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
				t.Fatal(err)
			}
			var sizes []int64
			for _, rg := range pf.Metadata().RowGroups {
				n := rg.TotalCompressedSize
				if n == 0 {
					for _, c := range rg.Columns {
						n += c.MetaData.TotalCompressedSize
					}
				}
				sizes = append(sizes, n)
			}
			if fi.Size() > 3*limit && len(sizes) < 2 {
				t.Fatalf("%s: %d bytes in %d row group(s) of %v bytes; RowGroupBytes is %d", key, fi.Size(), len(sizes), sizes, limit)
			}
			// A row group is cut once its finished pages reach the limit, counted once: every
			// row group but the last holds at least the limit (counting each page twice cut
			// them at about half of it).
			for i, n := range sizes[:len(sizes)-1] {
				if n > 4*limit {
					t.Errorf("row group %d holds %d bytes; RowGroupBytes is %d", i, n, limit)
				}
				if n < limit {
					t.Errorf("row group %d holds %d bytes, cut before RowGroupBytes (%d); sizes %v", i, n, limit, sizes)
				}
			}
		})
	}
}
