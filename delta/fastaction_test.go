package delta

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

var fastActionSeeds = []string{
	`{"add":{"path":"part_10/file_200010.parquet","partitionValues":{"partition_col":"part_10"},"size":1048576,"modificationTime":1234767900,"dataChange":true}}`,
	`{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":2,"dataChange":false,"stats":"{\"numRecords\":1}"}}`,
	`{"add":{"path":"a.parquet","partitionValues":{"p":null,"q":"x"},"size":0,"modificationTime":-5,"dataChange":true,"stats":"{}","tags":{"k":"v"},"baseRowId":7,"defaultRowCommitVersion":3,"clusteringProvider":"liquid"}}`,
	` { "remove" : { "path" : "b.parquet" , "deletionTimestamp" : 1700000000000 , "dataChange" : true , "extendedFileMetadata" : false , "partitionValues" : { "p" : "1" } , "size" : 10 , "tags" : { } } } `,
	`{"remove":{"path":"b.parquet","deletionTimestamp":1,"dataChange":false,"baseRowId":0,"defaultRowCommitVersion":1,"stats":""}}`,
	`{"add":{"path":"a","size":1,"size":2}}`,
	`{"add":{"path":"a","size":01}}`,
	`{"add":{"path":"a","size":1.5}}`,
	`{"add":{"path":"a","size":1e3}}`,
	`{"add":{"path":"a","size":1234567890123456789}}`,
	`{"add":{"path":"a","stats":null}}`,
	`{"add":{"path":"a","deletionVector":{"storageType":"u","pathOrInlineDv":"x","sizeInBytes":1,"cardinality":1}}}`,
	`{"add":{"path":"a\u0041"}}`,
	`{"add":{"path":""}}`,
	`{"add":{"path":"a"},"remove":{"path":"a"}}`,
	`{"add":{"path":"a"}}x`,
	`{"add":{"path":"a",}}`,
	`{"add":{"Path":"a"}}`,
	`{"remove":{"path":"é/ü.parquet","partitionValues":{"ü":null}}}`,
	`{"txn":{"appId":"a","version":1}}`,
	`{"add":{"path":"a","dataChange":tru}}`,
	`{"add":{"path":"a","size":-}}`,
	`{"add":{"path":"a","size":-0}}`,
	`{"add":{"path":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC","stats":"{\"minValues\":{\"a\":\"x\"}}"}}`,
	`{"add":{"path":"a\ud83d\ude00"}}`,
	`{"add":{"path":"a\x"}}`,
	`{"add":{"path":"a\u00g1"}}`,
	`{"remove":{"path":"a","deletionTimestamp":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":4,"sizeInBytes":40,"cardinality":6}}}`,
	`{"add":{"path":"a","deletionVector":{"storageType":"u","pathOrInlineDv":"x","sizeInBytes":2147483648,"cardinality":1}}}`,
	`{"add":{"path":"a","deletionVector":{"storageType":"u","pathOrInlineDv":"x","sizeInBytes":1,"cardinality":1,"maxRowIndex":9}}}`,
	`{"add":{"path":"a","deletionVector":null}}`,
}

// FuzzFastFileAction: whatever the fast path accepts is valid JSON and decodes exactly as the
// general path does.
func FuzzFastFileAction(f *testing.F) {
	for _, s := range fastActionSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if !utf8.Valid(line) {
			return
		}
		fast, ok := fastFileAction(line)
		if !ok {
			return
		}
		if !json.Valid(line) {
			t.Fatalf("fast path accepted invalid JSON %q", line)
		}
		gen, err := parseActionGeneral(line)
		if err != nil {
			if fast.validate() == nil {
				t.Fatalf("fast path accepted %q, general path: %v", line, err)
			}
			return
		}
		if !reflect.DeepEqual(fast, gen) {
			t.Fatalf("%q:\nfast    %+v %+v\ngeneral %+v %+v", line, fast.Add, fast.Remove, gen.Add, gen.Remove)
		}
	})
}

// fastAlso are the seeds after the first five that the fast path takes (the general path
// then agrees, or both refuse the action).
var fastAlso = map[int]bool{11: true, 12: true, 13: true, 18: true, 22: true, 23: true, 27: true}

// TestFastFileActionShapes: the plain shapes take the fast path, the others do not.
func TestFastFileActionShapes(t *testing.T) {
	for i, s := range fastActionSeeds {
		_, ok := fastFileAction([]byte(s))
		if want := i < 5 || fastAlso[i]; ok != want {
			t.Errorf("seed %d %s: fast path %v, want %v", i, s, ok, want)
		}
	}
}
