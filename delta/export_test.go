package delta

import "context"

// TxnRowGroups reports which row groups of the Parquet checkpoint file key a reader of app
// transactions reads (nil: all), and how many the file has: the selection readParquetRecords
// reads by.
func TxnRowGroups(ctx context.Context, s Store, key string) ([]int, int, error) {
	rp, err := openParquetRead(ctx, s, ObjectInfo{Key: key}, -1, wantTxn, 0, false)
	if err != nil || rp == nil {
		return nil, 0, err
	}
	defer rp.pf.Close()
	return rp.rowGroups, rp.pf.NumRowGroups(), nil
}

// SetWholeReadBytes sets the size up to which Parquet files of the log are read with one
// request, until the returned function restores it.
func SetWholeReadBytes(n int64) (restore func()) {
	old := wholeReadBytes
	wholeReadBytes = n
	return func() { wholeReadBytes = old }
}

// WithListsFromStart wraps s as a store whose listings read a prefix from its start, as on
// Azure: the log is then listed in blocks of versions.
func WithListsFromStart(s Store) Store { return fromStart{s} }

type fromStart struct{ Store }

func (fromStart) listsFromStart() bool { return true }
