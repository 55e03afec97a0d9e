package delta_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// TestCRCRowCount: the row count of a .crc (this library's extension) is read only when it is
// stamped with the .crc's own version: a copy carried into another version's .crc, as a writer
// that copied unknown fields forward would leave it, is dropped; the protocol's fields are
// read either way, and a .crc of another engine (no extension) is read as it is.
func TestCRCRowCount(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, fmt.Sprintf("mem://crc-%d/t", memSeq.Add(1)))
	base := `{"tableSizeBytes":300,"numFiles":3,"numMetadata":1,"numProtocol":1,` +
		`"metadata":{"id":"m","format":{"provider":"parquet"},"schemaString":"{}","partitionColumns":[]},` +
		`"protocol":{"minReaderVersion":1,"minWriterVersion":2},"histogramOpt":{"sortedBinBoundaries":[0],"fileCounts":[3],"totalBytes":[300]}`
	for _, tc := range []struct {
		name, ext string
		want      int64
		ok        bool
	}{
		{"stamped", `,"deltaraster":{"version":7,"numRecords":42}`, 42, true},
		{"copied-from-6", `,"deltaraster":{"version":6,"numRecords":42}`, 0, false},
		{"negative", `,"deltaraster":{"version":7,"numRecords":-1}`, 0, false},
		{"other-engine", ``, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Put(ctx, delta.CRCKey(7), []byte(base+tc.ext+"}")); err != nil {
				t.Fatal(err)
			}
			c, ok, err := delta.ReadCRC(ctx, s, 7)
			if err != nil || !ok {
				t.Fatalf("ReadCRC: ok %v, %v", ok, err)
			}
			if c.NumFiles != 3 || c.TableSizeBytes != 300 || c.Metadata.ID != "m" {
				t.Errorf("crc %+v", c)
			}
			n, ok := c.NumRecords(7)
			if n != tc.want || ok != tc.ok {
				t.Errorf("NumRecords(7) = %d, %v; want %d, %v", n, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestFileRecords: a file's rows are its stats' numRecords less its deletion vector's
// cardinality; unknown without numRecords; an error for stats that are not JSON.
func TestFileRecords(t *testing.T) {
	dv := &delta.DeletionVector{StorageType: "i", PathOrInlineDv: "x", SizeInBytes: 1, Cardinality: 4}
	for _, tc := range []struct {
		stats  string
		dv     *delta.DeletionVector
		want   int64
		ok     bool
		hasErr bool
	}{
		{`{"numRecords":10}`, nil, 10, true, false},
		{`{"numRecords":10,"minValues":{"a":1}}`, dv, 6, true, false},
		{`{"minValues":{"a":1}}`, nil, 0, false, false},
		{``, nil, 0, false, false},
		{`{"numRecords":`, nil, 0, false, true},
	} {
		n, ok, err := delta.FileRecords(tc.stats, tc.dv)
		if n != tc.want || ok != tc.ok || (err != nil) != tc.hasErr {
			t.Errorf("FileRecords(%q) = %d, %v, %v; want %d, %v, error %v", tc.stats, n, ok, err, tc.want, tc.ok, tc.hasErr)
		}
	}
}
