package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestOptimizeVacuum: two ingests make two files; optimize merges them into one with the same
// pixels; vacuum (full, zero retention forced) then deletes the two merged-away files.
func TestOptimizeVacuum(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	rgb := testRaster(t, "rgb.tif")
	mustRun(t, "ingest", dir, rgb)
	other := filepath.Join(filepath.Dir(rgb), "rgb-copy.tif") // another source, same layout
	b, err := os.ReadFile(rgb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ingest", dir, other)

	plan := decodeObject(t, mustRun(t, "optimize", dir, "--dry-run", "--json"))
	if num(t, plan, "filesPlanned") != 2 || num(t, plan, "binsPlanned") != 1 || plan["versions"] != nil {
		t.Fatalf("dry run: %v", plan)
	}
	m := decodeObject(t, mustRun(t, "optimize", dir, "--cluster-by", "quadbin", "--json"))
	if num(t, m, "filesRemoved") != 2 || num(t, m, "filesAdded") != 1 {
		t.Fatalf("optimize: %v", m)
	}
	// The removes of optimize carry the row count, so the new version's .crc still has it and
	// info counts from the .crc (it fell back to the file list after every optimize before).
	info := decodeObject(t, mustRun(t, "info", dir, "--json"))
	if num(t, info, "numFiles") != 1 || info["countsFrom"] != "checksum" {
		t.Fatalf("after optimize: %v", info)
	}
	if verified := decodeObject(t, mustRun(t, "info", dir, "--json", "--verify")); verified["numRecords"] != info["numRecords"] {
		t.Fatalf("after optimize: info counts %v records from the .crc, %v from the file list", info["numRecords"], verified["numRecords"])
	}
	// The size is written once, in its unit (it was "50295 bytes (49.1 KiB)").
	if text := mustRun(t, "info", dir); !regexp.MustCompile(`(?m)^size: +[0-9]+(\.[0-9])? KiB$`).MatchString(text) {
		t.Fatalf("info's size line:\n%s", text)
	}
	out := filepath.Join(t.TempDir(), "rgb.out.tif")
	mustRun(t, "export", dir, "--source", rgb, "--out", out)
	testutil.AssertSamePixels(t, rgb, out)

	// The default retention keeps the merged-away files; a shorter one needs the override.
	if r := deltactl(t, "vacuum", dir, "--retention", "1s"); r.code != exitFailure || !strings.Contains(r.stderr, "retention") {
		t.Fatalf("short retention without --force-retention: %+v", r)
	}
	dry := mustRun(t, "vacuum", dir, "--retention", "1ns", "--force-retention", "--full", "--dry-run")
	if strings.Count(dry, "would delete part-") != 2 {
		t.Fatalf("dry run lists:\n%s", dry)
	}
	// 0h is a retention of zero, not "unset" (the table's week, which would keep both files).
	v := decodeObject(t, mustRun(t, "vacuum", dir, "--retention", "0h", "--force-retention", "--full", "--json"))
	if num(t, v, "deleted") != 2 || num(t, v, "retentionNs") != 0 {
		t.Fatalf("vacuum: %v", v)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "part-") {
			parts++
		}
	}
	if parts != 1 {
		t.Fatalf("%d data files left, want 1", parts)
	}
	mustRun(t, "export", dir, "--source", rgb, "--out", out+"2.tif")
	testutil.AssertSamePixels(t, rgb, out+"2.tif")
}
