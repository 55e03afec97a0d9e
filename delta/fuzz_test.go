package delta_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// FuzzParseAction checks that no line panics the decoder and that every line it accepts encodes
// and decodes again to the same action.
func FuzzParseAction(f *testing.F) {
	for _, line := range realLines {
		f.Add([]byte(line))
	}
	for _, line := range []string{
		`{"commitInfo":{"timestamp":1753290963621,"operation":"CREATE TABLE","operationParameters":{"protocol":"{\"minReaderVersion\":3}","metadata":"{}","isManaged":"false"},"big":123456789012345678901234567890,"nested":{"a":[1,{"b":null}]}}}`,
		`{"add":{"path":"x=%20/part 0.parquet","partitionValues":{"x":" ","y":null},"size":0,"modificationTime":0,"dataChange":false,"deletionVector":{"storageType":"p","pathOrInlineDv":"s3://b/dv.bin","sizeInBytes":1,"cardinality":1}}}`,
		`{"remove":{"path":"p","dataChange":false,"partitionValues":{},"tags":{}}}`,
		`{"protocol":{"minReaderVersion":3,"minWriterVersion":7}}`,
		`{"protocol":{"minReaderVersion":2,"minWriterVersion":5,"readerFeatures":[],"writerFeatures":[]}}`,
		`{"txn":{"appId":"a","version":-1}}`,
		`{"checkpointMetadata":{"version":100}}`,
		`{"futureAction":{"x":1}}`,
		`{"add":{"path":"a"},"remove":{"path":"a"}}`,
		`{"add":{"path":"a"`,
		`{"ADD":{"path":"\u00e9\ud800"}}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		a, err := delta.ParseAction(line)
		if err != nil {
			return
		}
		out, err := delta.MarshalAction(a)
		if err != nil {
			t.Fatalf("MarshalAction(ParseAction(%q)): %v", line, err)
		}
		if bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("MarshalAction wrote a line break: %q", out)
		}
		b, err := delta.ParseAction(out)
		if err != nil {
			t.Fatalf("ParseAction(%s) of an encoded action: %v (from %q)", out, err, line)
		}
		if !actionsEquivalent(a, b) {
			t.Fatalf("round trip of %q through %s:\n got %s\nwant %s", line, out, dump(b), dump(a))
		}
		again, err := delta.MarshalAction(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, again)
		}
	})
}

// FuzzParseLogName checks that every name ParseLogName accepts formats back to itself.
func FuzzParseLogName(f *testing.F) {
	for _, name := range []string{
		"00000000000000000000.json",
		"00000000000000000010.checkpoint.parquet",
		"00000000000000000010.checkpoint.0000000001.0000000003.parquet",
		"00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json",
		"00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.parquet",
		"00000000000000000007.crc",
		"00000000000000000001.00000000000000000004.compacted.json",
		"_last_checkpoint",
		"00000000000000000001.json.tmp",
		"00000000000000000010.checkpoint.0000000000.0000000003.parquet",
		"00000000000000000004.00000000000000000001.compacted.json",
		"09223372036854775808.json",
		"_sidecars",
		"",
	} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		lf, ok := delta.ParseLogName(name)
		if key, kok := delta.ParseLogKey(delta.LogDir + name); !strings.Contains(name, "/") && (kok != ok || key != lf) {
			t.Fatalf("ParseLogKey(%q) = %+v, %v; ParseLogName = %+v, %v", delta.LogDir+name, key, kok, lf, ok)
		}
		if !ok {
			if lf != (delta.LogFile{}) {
				t.Fatalf("ParseLogName(%q) rejected the name but returned %+v", name, lf)
			}
			return
		}
		if lf.Kind == delta.KindUnknown {
			t.Fatalf("ParseLogName(%q) accepted a name of unknown kind", name)
		}
		if got := lf.Name(); got != name {
			t.Fatalf("ParseLogName(%q).Name() = %q", name, got)
		}
		if lf.Kind != delta.KindLastCheckpoint && lf.Version < 0 {
			t.Fatalf("ParseLogName(%q) has version %d", name, lf.Version)
		}
	})
}

// FuzzParseStats checks that the stats decoder never panics and that accepted stats encode and
// decode to the same values.
func FuzzParseStats(f *testing.F) {
	for _, s := range []string{
		`{"numRecords":10,"minValues":{"value":0},"maxValues":{"value":9},"nullCount":{"value":0},"tightBounds":false}`,
		`{"numRecords":2,"nullCount":{"value":0},"minValues":{"value": 2},"maxValues":{"value":4}}`,
		`{"numRecords":3,"minValues":{"x":1,"big":12345678901234567890,"s":"a","n":{"y":"2024-01-01T00:00:00.000Z"}},"maxValues":{"x":3.5e10},"nullCount":{"x":0,"n":{"y":1}}}`,
		`{"numRecords":0,"minValues":{},"maxValues":{},"nullCount":{}}`,
		`{"numRecords":1.5}`,
		`{"numRecords":`,
		`null`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := delta.ParseStats(s)
		if err != nil {
			return
		}
		enc := st.String()
		if enc == "" {
			t.Fatalf("String() of stats parsed from %q is empty", s)
		}
		back, err := delta.ParseStats(enc)
		if err != nil {
			t.Fatalf("ParseStats(%s) of encoded stats: %v (from %q)", enc, err, s)
		}
		if !reflect.DeepEqual(normalizeStats(back), normalizeStats(st)) {
			t.Fatalf("stats round trip of %q through %s:\n got %+v\nwant %+v", s, enc, back, st)
		}
	})
}

func normalizeStats(s delta.Stats) delta.Stats {
	for _, m := range []*map[string]any{&s.MinValues, &s.MaxValues, &s.NullCount} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	return s
}
