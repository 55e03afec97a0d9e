package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckpointCommand(t *testing.T) {
	dir, _ := newTable(t)
	out := decodeObject(t, mustRun(t, "checkpoint", dir, "--json"))
	if fmt.Sprint(out["version"]) != "3" || out["format"] != "classic" || fmt.Sprint(out["numAddFiles"]) != "2" {
		t.Fatalf("checkpoint summary %v", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "_delta_log", "00000000000000000003.checkpoint.parquet")); err != nil {
		t.Fatal(err)
	}
	info := decodeObject(t, mustRun(t, "info", dir, "--json"))
	if fmt.Sprint(info["lastCheckpointVersion"]) != "3" || fmt.Sprint(info["numFiles"]) != "2" {
		t.Fatalf("info after checkpoint %v", info)
	}
	// An older version, then V2 (the protocol upgrade is version 4).
	out = decodeObject(t, mustRun(t, "checkpoint", dir, "--version", "1", "--json"))
	if fmt.Sprint(out["version"]) != "1" {
		t.Fatalf("checkpoint --version 1: %v", out)
	}
	out = decodeObject(t, mustRun(t, "checkpoint", dir, "--v2", "--json"))
	if fmt.Sprint(out["version"]) != "4" || out["format"] != "v2" {
		t.Fatalf("checkpoint --v2: %v", out)
	}
	if r := deltactl(t, "checkpoint", dir, "--version", "9"); r.code != exitFailure || !strings.Contains(r.stderr, "version 9") {
		t.Fatalf("checkpoint of a missing version: %+v", r)
	}
	if r := deltactl(t, "checkpoint"); r.code != exitUsage {
		t.Fatalf("checkpoint without URL: %+v", r)
	}
}

func TestCleanupMetadataCommand(t *testing.T) {
	dir, _ := newTable(t)
	mustRun(t, "checkpoint", dir, "--version", "2")
	// Commits are dated March 2024 (setCommitTimes): all older than 30 days.
	old := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"00000000000000000002.checkpoint.parquet", "00000000000000000002.crc"} {
		if err := os.Chtimes(filepath.Join(dir, "_delta_log", name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	dry := decodeObject(t, mustRun(t, "cleanup-metadata", dir, "--dry-run", "--json"))
	if fmt.Sprint(dry["keptCheckpoint"]) != "2" || len(dry["deleted"].([]any)) != 2 {
		t.Fatalf("dry run: %v", dry)
	}
	if _, err := os.Stat(filepath.Join(dir, "_delta_log", "00000000000000000000.json")); err != nil {
		t.Fatal("dry run deleted a commit")
	}
	got := decodeObject(t, mustRun(t, "cleanup-metadata", dir, "--json"))
	want := []any{"_delta_log/00000000000000000000.json", "_delta_log/00000000000000000001.json"}
	if d := got["deleted"].([]any); len(d) != 2 || d[0] != want[0] || d[1] != want[1] {
		t.Fatalf("deleted %v, want %v", d, want)
	}
	if r := deltactl(t, "info", dir, "--version", "1"); r.code != exitFailure {
		t.Fatalf("version 1 still readable after cleanup: %+v", r)
	}
	if info := decodeObject(t, mustRun(t, "info", dir, "--version", "2", "--json")); fmt.Sprint(info["numFiles"]) != "3" {
		t.Fatalf("version 2 after cleanup: %v", info)
	}
}
