package delta

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TxnRowGroups reports which row groups of the Parquet checkpoint file key a reader of app
// transactions reads (nil: all), and how many the file has.
func TxnRowGroups(ctx context.Context, s Store, key string) ([]int, int, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	pf, err := file.NewParquetReader(NewReaderAt(ctx, s, key, info.Size))
	if err != nil {
		return nil, 0, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, 0, err
	}
	var keys []int
	for _, fld := range fr.Manifest.Fields {
		if fld.Field.Name == "txn" {
			keys = append(keys, keyLeaf(fld, "appId"))
		}
	}
	return rowGroupsWithActions(pf, keys), pf.NumRowGroups(), nil
}
