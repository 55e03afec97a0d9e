package delta_test

import (
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

func TestLastCheckpointChecksum(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"protocol spec example",
			`{"k0":"'v 0'", "checksum": "adsaskfljadfkjadfkj", "k1":{"k2": 2, "k3": ["v3", [1, 2], {"k4": "v4", "k5": ["v5", "v6", "v7"]}]}}`,
			"6a92d155a59bf2eecbd4b4ec7fd1f875"},
		{"written by Delta-Spark (golden table v2-checkpoint-json)",
			`{"version":2,"size":9,"sizeInBytes":19554,"numOfAddFiles":4,"v2Checkpoint":{"path":"00000000000000000002.checkpoint.6374b053-df23-479b-b2cf-c9c550132b49.json","sizeInBytes":891,"modificationTime":1714496115810,"nonFileActions":[{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint","appendOnly","invariants"]}},{"metaData":{"id":"8a390218-e4ee-4341-b6de-4920e27d3f78","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{"delta.checkpointInterval":"2","delta.checkpointPolicy":"v2"},"createdTime":1714496114564}},{"checkpointMetadata":{"version":2}}],"sidecarFiles":[{"path":"00000000000000000002.checkpoint.0000000001.0000000002.bd1885fd-6ec0-4370-b0f5-43b5162fd4de.parquet","sizeInBytes":9367,"modificationTime":1714496115780},{"path":"00000000000000000002.checkpoint.0000000002.0000000002.0a8d73ee-aa83-49d0-9583-c99db75b89b2.parquet","sizeInBytes":9296,"modificationTime":1714496115788}]},"checksum":"d09f95a326aab562c60d415a32ddd216"}`,
			"d09f95a326aab562c60d415a32ddd216"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := delta.LastCheckpointChecksum([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("checksum %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := delta.LastCheckpointChecksum([]byte(`{"a":1,"a":2}`)); err == nil {
		t.Error("duplicate keys accepted")
	}
}
