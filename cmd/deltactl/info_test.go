package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func TestInfoJSON(t *testing.T) {
	dir, id := newTable(t)
	info := decodeObject(t, mustRun(t, "info", dir, "--json"))
	want := map[string]any{
		"version":               json.Number("3"),
		"numFiles":              json.Number("2"),
		"sizeInBytes":           json.Number("500"),
		"numRecords":            json.Number("50"),
		"lastCheckpointVersion": nil,
		"url":                   dir,
	}
	for k, v := range want {
		got, ok := info[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if got := info["protocol"]; !equalJSON(got, map[string]any{
		"minReaderVersion": 1, "minWriterVersion": 2, "readerFeatures": []string{}, "writerFeatures": []string{},
	}) {
		t.Errorf("protocol = %v", got)
	}
	md := info["metadata"].(map[string]any)
	if md["id"] != id || id == "" {
		t.Errorf("metadata.id = %v, want %q", md["id"], id)
	}
	if !equalJSON(md["partitionColumns"], []string{"day"}) || !equalJSON(md["configuration"], map[string]string{}) {
		t.Errorf("metadata = %v", md)
	}
	if fields, _ := md["schema"].(map[string]any)["fields"].([]any); len(fields) != 3 {
		t.Errorf("metadata.schema = %v", md["schema"])
	}
}

func TestInfoTimeTravel(t *testing.T) {
	dir, _ := newTable(t)
	tests := []struct {
		args                       []string
		version, files, size, rows int
	}{
		{[]string{"--version", "0"}, 0, 0, 0, 0},
		{[]string{"--version", "1"}, 1, 2, 300, 30},
		{[]string{"--version", "2"}, 2, 3, 600, 60},
		{[]string{"--version", "3"}, 3, 2, 500, 50},
		// Commit v is at noon UTC on 1+v March 2024.
		{[]string{"--timestamp", "2024-03-01T12:00:00Z"}, 0, 0, 0, 0},
		{[]string{"--timestamp", "2024-03-03"}, 1, 2, 300, 30},                // midnight UTC, before v2
		{[]string{"--timestamp", "2024-03-03T13:00:00+01:00"}, 2, 3, 600, 60}, // exactly v2
		{[]string{"--timestamp", "2024-03-03T11:59:59.999Z"}, 1, 2, 300, 30},
		{[]string{"--timestamp", "2030-01-01T00:00:00Z"}, 3, 2, 500, 50},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "="), func(t *testing.T) {
			info := decodeObject(t, mustRun(t, append([]string{"info", dir, "--json"}, tt.args...)...))
			for k, want := range map[string]int{"version": tt.version, "numFiles": tt.files, "sizeInBytes": tt.size, "numRecords": tt.rows} {
				if got := info[k]; got != json.Number(itoa(want)) {
					t.Errorf("%s = %v, want %d", k, got, want)
				}
			}
		})
	}
}

func TestInfoNumRecordsUnknown(t *testing.T) {
	dir, _ := newTable(t)
	commit(t, dir, "WRITE", map[string]any{"mode": "Append"}, []*delta.Add{
		{Path: "day=2024-01-03/part-d.parquet", PartitionValues: delta.PartitionValues{"day": str("2024-01-03")}, Size: 400, DataChange: true},
	}, nil)
	info := decodeObject(t, mustRun(t, "info", dir, "--json"))
	if v, ok := info["numRecords"]; !ok || v != nil {
		t.Errorf("numRecords = %v (present %v), want null", v, ok)
	}
	if info["numFiles"] != json.Number("3") || info["sizeInBytes"] != json.Number("900") {
		t.Errorf("numFiles, sizeInBytes = %v, %v; want 3, 900", info["numFiles"], info["sizeInBytes"])
	}
	if out := mustRun(t, "info", dir); !strings.Contains(out, "records:") || !strings.Contains(out, "unknown") {
		t.Errorf("human output does not say the record count is unknown:\n%s", out)
	}
	// Before the file without stats, the count is known.
	if got := decodeObject(t, mustRun(t, "info", dir, "--json", "--version", "3"))["numRecords"]; got != json.Number("50") {
		t.Errorf("numRecords at version 3 = %v, want 50", got)
	}
}

func TestInfoHuman(t *testing.T) {
	dir, id := newTable(t)
	out := mustRun(t, "info", dir)
	for _, want := range []string{
		"version:           3\n", "files:             2\n", "size:              500 bytes\n",
		"records:           50\n", "protocol:          reader 1, writer 2\n",
		"checkpoint:        none\n", "id:                " + id + "\n", "partition columns: day\n",
		"schema:            id long, value string, day date\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output does not contain %q:\n%s", want, out)
		}
	}
}

// TestInfoConformance reads tables other engines wrote.
func TestInfoConformance(t *testing.T) {
	tests := []struct {
		table                string
		version, files       int
		checkpoint           any
		minReader, minWriter int
	}{
		{"simple_table", 4, 5, nil, 1, 2},
		{"simple_table_with_checkpoint", 10, 11, json.Number("10"), 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			dir := testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", tt.table))
			info := decodeObject(t, mustRun(t, "info", dir, "--json"))
			if info["version"] != json.Number(itoa(tt.version)) || info["numFiles"] != json.Number(itoa(tt.files)) {
				t.Errorf("version, numFiles = %v, %v; want %d, %d", info["version"], info["numFiles"], tt.version, tt.files)
			}
			if got := info["lastCheckpointVersion"]; got != tt.checkpoint {
				t.Errorf("lastCheckpointVersion = %v, want %v", got, tt.checkpoint)
			}
			p := info["protocol"].(map[string]any)
			if p["minReaderVersion"] != json.Number(itoa(tt.minReader)) || p["minWriterVersion"] != json.Number(itoa(tt.minWriter)) {
				t.Errorf("protocol = %v", p)
			}
			if lines := decodeLines(t, mustRun(t, "files", dir, "--json")); len(lines) != tt.files {
				t.Errorf("files --json: %d lines, want %d", len(lines), tt.files)
			}
		})
	}
}

// TestInfoChecksum: on a table whose commits leave .crc files (the post-commit hook), info
// takes its counts from the latest .crc (countsFrom "checksum"), the same figures --verify
// reads from the file list; a .crc without this tool's row count (another engine's) or with
// one stamped for another version makes info count from the file list; a .crc that disagrees
// with the log is shown as it is (the protocol requires writers to keep it exact) and --verify
// fails, naming the difference.
func TestInfoChecksum(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "table")
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts := delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{})}
	spec := delta.TableSpec{Schema: delta.StructType{Fields: []delta.StructField{delta.NewField("id", "long")}}}
	if _, err := delta.CreateTable(ctx, s, spec, opts); err != nil {
		t.Fatal(err)
	}
	var live []*delta.Add
	for i := range 4 {
		tx, err := delta.Begin(ctx, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		a := &delta.Add{Path: fmt.Sprintf("part-%d.parquet", i), Size: int64(100 * (i + 1)), DataChange: true, Stats: stats(10 * (i + 1))}
		tx.Add(a)
		if i == 3 {
			size := live[0].Size
			tx.Remove(&delta.Remove{Path: live[0].Path, DataChange: true, Size: &size, Stats: live[0].Stats})
			live = live[1:]
		}
		live = append(live, a)
		if _, err := tx.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Version 4: files 2, 3, 4 of 200, 300, 400 bytes and 20, 30, 40 rows.
	want := map[string]any{"version": json.Number("4"), "numFiles": json.Number("3"), "sizeInBytes": json.Number("900"), "numRecords": json.Number("90")}
	check := func(name string, info map[string]any, from string) {
		t.Helper()
		for k, v := range want {
			if info[k] != v {
				t.Errorf("%s: %s = %v, want %v", name, k, info[k], v)
			}
		}
		if info["countsFrom"] != from {
			t.Errorf("%s: countsFrom = %v, want %s", name, info["countsFrom"], from)
		}
	}
	check("info", decodeObject(t, mustRun(t, "info", dir, "--json")), "checksum")
	check("info --verify", decodeObject(t, mustRun(t, "info", dir, "--json", "--verify")), "log")
	if out := mustRun(t, "info", dir); !strings.Contains(out, "counted from:      the version checksum (_delta_log/00000000000000000004.crc)\n") {
		t.Errorf("info output does not name the .crc:\n%s", out)
	}

	crc, ok, err := delta.ReadCRC(ctx, s, 4)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	put := func(c delta.CRC) {
		t.Helper()
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, delta.CRCKey(4), b); err != nil {
			t.Fatal(err)
		}
	}
	foreign := crc
	foreign.DeltaRaster = nil
	put(foreign)
	check("another engine's .crc", decodeObject(t, mustRun(t, "info", dir, "--json")), "log")
	copied := crc
	copied.DeltaRaster = &delta.CRCExtension{Version: 3, NumRecords: 60}
	put(copied)
	check("a row count stamped for version 3", decodeObject(t, mustRun(t, "info", dir, "--json")), "log")

	wrong := crc
	wrong.NumFiles = 5
	put(wrong)
	if got := decodeObject(t, mustRun(t, "info", dir, "--json"))["numFiles"]; got != json.Number("5") {
		t.Errorf("numFiles from a .crc of 5 files = %v", got)
	}
	r := deltactl(t, "info", dir, "--verify")
	if r.code != exitFailure || !strings.Contains(r.stderr, "numFiles 5 in the .crc, 3 in the log") || !strings.Contains(r.stderr, dir) {
		t.Errorf("info --verify with a wrong .crc: exit %d, stderr %q", r.code, r.stderr)
	}
}
