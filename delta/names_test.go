package delta_test

import (
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

func TestParseLogName(t *testing.T) {
	const id = "3a0d65cd-4056-49b8-937b-95f9e3ee90e5"
	tests := []struct {
		name string
		want delta.LogFile
	}{
		{"00000000000000000000.json", delta.LogFile{Kind: delta.KindCommit, Version: 0}},
		{"00000000000000000001.json", delta.LogFile{Kind: delta.KindCommit, Version: 1}},
		{"09223372036854775807.json", delta.LogFile{Kind: delta.KindCommit, Version: 1<<63 - 1}},
		{"00000000000000000010.checkpoint.parquet", delta.LogFile{Kind: delta.KindCheckpoint, Version: 10}},
		{"00000000000000000010.checkpoint.0000000001.0000000003.parquet",
			delta.LogFile{Kind: delta.KindMultiPartCheckpoint, Version: 10, Part: 1, Parts: 3}},
		{"00000000000000000010.checkpoint.0000000003.0000000003.parquet",
			delta.LogFile{Kind: delta.KindMultiPartCheckpoint, Version: 10, Part: 3, Parts: 3}},
		{"00000000000000000010.checkpoint.0000000001.0000000001.parquet",
			delta.LogFile{Kind: delta.KindMultiPartCheckpoint, Version: 10, Part: 1, Parts: 1}},
		{"00000000000000000002.checkpoint." + id + ".json",
			delta.LogFile{Kind: delta.KindUUIDCheckpoint, Version: 2, UUID: id, Ext: "json"}},
		{"00000000000000000002.checkpoint." + id + ".parquet",
			delta.LogFile{Kind: delta.KindUUIDCheckpoint, Version: 2, UUID: id, Ext: "parquet"}},
		{"00000000000000000002.checkpoint.3A0D65CD-4056-49B8-937B-95F9E3EE90E5.parquet",
			delta.LogFile{Kind: delta.KindUUIDCheckpoint, Version: 2, UUID: "3A0D65CD-4056-49B8-937B-95F9E3EE90E5", Ext: "parquet"}},
		{"00000000000000000007.crc", delta.LogFile{Kind: delta.KindCRC, Version: 7}},
		{"00000000000000000001.00000000000000000004.compacted.json",
			delta.LogFile{Kind: delta.KindCompacted, Version: 1, EndVersion: 4}},
		{"00000000000000000004.00000000000000000004.compacted.json",
			delta.LogFile{Kind: delta.KindCompacted, Version: 4, EndVersion: 4}},
		{"_last_checkpoint", delta.LogFile{Kind: delta.KindLastCheckpoint, Version: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := delta.ParseLogName(tc.name)
			if !ok {
				t.Fatalf("ParseLogName(%q) failed", tc.name)
			}
			if got != tc.want {
				t.Fatalf("ParseLogName(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
			if n := got.Name(); n != tc.name {
				t.Errorf("ParseLogName(%q).Name() = %q", tc.name, n)
			}
			if k := got.Key(); k != delta.LogDir+tc.name {
				t.Errorf("Key() = %q, want %q", k, delta.LogDir+tc.name)
			}
			if back, ok := delta.ParseLogKey(got.Key()); !ok || back != got {
				t.Errorf("ParseLogKey(%q) = %+v, %v; want %+v", got.Key(), back, ok, got)
			}
			wantCheckpoint := tc.want.Kind == delta.KindCheckpoint || tc.want.Kind == delta.KindMultiPartCheckpoint ||
				tc.want.Kind == delta.KindUUIDCheckpoint
			if got.IsCheckpoint() != wantCheckpoint {
				t.Errorf("IsCheckpoint() = %v, want %v", got.IsCheckpoint(), wantCheckpoint)
			}
		})
	}
}

func TestParseLogNameRejects(t *testing.T) {
	const id = "3a0d65cd-4056-49b8-937b-95f9e3ee90e5"
	for _, name := range []string{
		"",
		".json",
		"json",
		"0.json",
		"1.json",
		"0000000000000000001.json",   // 19 digits
		"000000000000000000001.json", // 21 digits
		"0000000000000000000a.json",
		"-0000000000000000001.json",
		"+0000000000000000001.json",
		" 0000000000000000001.json",
		"09223372036854775808.json", // overflows int64
		"99999999999999999999.json",
		"00000000000000000001.json.tmp",
		"00000000000000000001.json~",
		".00000000000000000001.json.swp",
		"00000000000000000001.JSON",
		"00000000000000000001.jso",
		"00000000000000000001.",
		"00000000000000000001",
		"00000000000000000001.parquet",
		"00000000000000000001.crc.tmp",
		"00000000000000000001_json",
		"00000000000000000001.checkpoint",
		"00000000000000000001.checkpoint.",
		"00000000000000000001.checkpoint.json",
		"00000000000000000001.checkpoint.parquet.tmp",
		"00000000000000000001.checkpoint.parquet.crc",
		// multi-part
		"00000000000000000010.checkpoint.0000000000.0000000003.parquet", // part 0
		"00000000000000000010.checkpoint.0000000004.0000000003.parquet", // part > parts
		"00000000000000000010.checkpoint.0000000000.0000000000.parquet",
		"00000000000000000010.checkpoint.000000001.0000000003.parquet", // 9 digits
		"00000000000000000010.checkpoint.0000000001.000000003.parquet",
		"00000000000000000010.checkpoint.00000000001.0000000003.parquet",
		"00000000000000000010.checkpoint.0000000001.0000000003.json",
		"00000000000000000010.checkpoint.0000000001-0000000003.parquet",
		"00000000000000000010.checkpoint.000000000a.0000000003.parquet",
		"00000000000000000010.checkpoint.0000000001.0000000003.parquet.tmp",
		// UUID checkpoints
		"00000000000000000002.checkpoint.not-a-uuid.json",
		"00000000000000000002.checkpoint.3a0d65cd40564-9b8-937b-95f9e3ee90e5.json",   // dash misplaced
		"00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e.json",   // 35 characters
		"00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e55.json", // 37 characters
		"00000000000000000002.checkpoint.3a0d65cg-4056-49b8-937b-95f9e3ee90e5.json",  // g
		"00000000000000000002.checkpoint.{3a0d65cd-4056-49b8-937b-95f9e3ee90e}.json",
		"00000000000000000002.checkpoint." + id + ".avro",
		"00000000000000000002.checkpoint." + id,
		"00000000000000000002.checkpoint." + id + ".json.tmp",
		"00000000000000000002." + id + ".json",
		// compacted
		"00000000000000000004.00000000000000000001.compacted.json", // end < start
		"00000000000000000001.0000000000000000004.compacted.json",  // 19 digits
		"00000000000000000001.000000000000000000004.compacted.json",
		"00000000000000000001.0000000000000000000x.compacted.json",
		"00000000000000000001.00000000000000000004.compacted.parquet",
		"00000000000000000001.00000000000000000004.json",
		"00000000000000000001.00000000000000000004.compacted.json.tmp",
		// _last_checkpoint
		"_last_checkpoint.tmp",
		"_last_checkpoint ",
		"_LAST_CHECKPOINT",
		"x_last_checkpoint",
		// other files in _delta_log
		"_sidecars",
		".00000000000000000001.json.crc",
		"_commits",
	} {
		if f, ok := delta.ParseLogName(name); ok {
			t.Errorf("ParseLogName(%q) = %+v, want a rejection", name, f)
		}
	}
}

func TestLogNameParseKey(t *testing.T) {
	tests := []struct {
		key  string
		ok   bool
		want delta.LogFile
	}{
		{"_delta_log/00000000000000000003.json", true, delta.LogFile{Kind: delta.KindCommit, Version: 3}},
		{"_delta_log/_last_checkpoint", true, delta.LogFile{Kind: delta.KindLastCheckpoint, Version: -1}},
		{"00000000000000000003.json", false, delta.LogFile{}},
		{"_delta_log/_sidecars/00000000000000000003.json", false, delta.LogFile{}},
		{"_delta_log/_commits/00000000000000000003.json", false, delta.LogFile{}},
		{"x/_delta_log/00000000000000000003.json", false, delta.LogFile{}},
		{"_delta_log00000000000000000003.json", false, delta.LogFile{}},
	}
	for _, tc := range tests {
		got, ok := delta.ParseLogKey(tc.key)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseLogKey(%q) = %+v, %v; want %+v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLogNameKeys(t *testing.T) {
	tests := []struct{ got, want string }{
		{delta.CommitKey(0), "_delta_log/00000000000000000000.json"},
		{delta.CommitKey(12345), "_delta_log/00000000000000012345.json"},
		{delta.CheckpointKey(10), "_delta_log/00000000000000000010.checkpoint.parquet"},
		{delta.CRCKey(7), "_delta_log/00000000000000000007.crc"},
		{delta.LastCheckpointKey, "_delta_log/_last_checkpoint"},
		{delta.SidecarDir, "_delta_log/_sidecars/"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestLogNameOrder checks that names sort by version in byte order, the property listings of
// _delta_log rely on.
func TestLogNameOrder(t *testing.T) {
	versions := []int64{0, 1, 9, 10, 99, 100, 1 << 40}
	for i := 1; i < len(versions); i++ {
		a, b := delta.CommitKey(versions[i-1]), delta.CommitKey(versions[i])
		if a >= b {
			t.Errorf("CommitKey(%d) = %q sorts at or after CommitKey(%d) = %q", versions[i-1], a, versions[i], b)
		}
	}
}

func TestLogNameKindString(t *testing.T) {
	kinds := map[delta.LogFileKind]string{
		delta.KindUnknown:             "unknown",
		delta.KindCommit:              "commit",
		delta.KindCheckpoint:          "checkpoint",
		delta.KindMultiPartCheckpoint: "multi-part checkpoint",
		delta.KindUUIDCheckpoint:      "v2 checkpoint",
		delta.KindCRC:                 "crc",
		delta.KindCompacted:           "compacted commits",
		delta.KindLastCheckpoint:      "_last_checkpoint",
		delta.LogFileKind(99):         "unknown",
	}
	for k, want := range kinds {
		if got := k.String(); got != want {
			t.Errorf("LogFileKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
	if got := (delta.LogFile{}).Name(); got != "" {
		t.Errorf("LogFile{}.Name() = %q, want \"\"", got)
	}
}
