package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(childArgs) != "" {
		runChild()
	}
	code := testservers.Main(m)
	testutil.Cleanup()
	removeTestRasters()
	os.Exit(code)
}

// result is what one in-process run of deltactl printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// deltactl runs the CLI in process, as main does.
func deltactl(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{out.String(), errb.String(), code}
}

// mustRun runs deltactl and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := deltactl(t, args...)
	if r.code != exitOK {
		t.Fatalf("deltactl %s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// decodeObject decodes output that must be exactly one JSON object on one line.
func decodeObject(t *testing.T, out string) map[string]any {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one line of JSON, got:\n%s", out)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return m
}

// decodeLines decodes JSON Lines output, one object per line.
func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		objs = append(objs, decodeObject(t, line))
	}
	return objs
}

// commitTime is when fixture commit v was made: noon UTC on 1 March 2024 plus v days.
func commitTime(v int64) time.Time {
	return time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, int(v))
}

// setCommitTimes sets the modification time of every commit file to commitTime(v).
func setCommitTimes(t *testing.T, dir string, versions ...int64) {
	t.Helper()
	for _, v := range versions {
		p := filepath.Join(dir, filepath.FromSlash(delta.CommitKey(v)))
		if err := os.Chtimes(p, commitTime(v), commitTime(v)); err != nil {
			t.Fatal(err)
		}
	}
}

func str(s string) *string { return &s }

func stats(n int) string { return fmt.Sprintf(`{"numRecords":%d}`, n) }

// Fixture file paths: b is in the null partition and URI-encodes a space.
const (
	pathA = "day=2024-01-01/part-a.parquet"
	pathB = "day=__HIVE_DEFAULT_PARTITION__/part-b%20x.parquet"
	pathC = "day=2024-01-02/part-c.parquet"
)

// newTable creates a table through the CLI and commits, through the delta API:
//
//	v0 CREATE TABLE
//	v1 WRITE  add a (100 bytes, 10 rows), b (200 bytes, 20 rows, day null)
//	v2 WRITE  add c (300 bytes, 30 rows)
//	v3 DELETE remove a
//
// Commit v is dated commitTime(v). It returns the table directory and its id.
func newTable(t *testing.T) (dir, id string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "table")
	out := mustRun(t, "create", dir, "--schema", "id:long,value:string,day:date", "--partition-by", "day", "--json")
	id, _ = decodeObject(t, out)["id"].(string)
	commit(t, dir, "WRITE", map[string]any{"mode": "Append"}, []*delta.Add{
		{Path: pathA, PartitionValues: delta.PartitionValues{"day": str("2024-01-01")}, Size: 100, ModificationTime: 1000, DataChange: true, Stats: stats(10)},
		{Path: pathB, PartitionValues: delta.PartitionValues{"day": nil}, Size: 200, ModificationTime: 2000, DataChange: true, Stats: stats(20)},
	}, nil)
	commit(t, dir, "WRITE", map[string]any{"mode": "Append"}, []*delta.Add{
		{Path: pathC, PartitionValues: delta.PartitionValues{"day": str("2024-01-02")}, Size: 300, ModificationTime: 3000, DataChange: true, Stats: stats(30)},
	}, nil)
	ts := int64(4000)
	commit(t, dir, "DELETE", map[string]any{"predicate": `["day = '2024-01-01'"]`}, nil, []*delta.Remove{
		{Path: pathA, DeletionTimestamp: &ts, DataChange: true, PartitionValues: delta.PartitionValues{"day": str("2024-01-01")}},
	})
	setCommitTimes(t, dir, 0, 1, 2, 3)
	return dir, id
}

// commit writes one version through the delta API.
func commit(t *testing.T, dir, op string, params map[string]any, adds []*delta.Add, removes []*delta.Remove) int64 {
	t.Helper()
	ctx := context.Background()
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	txn, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	txn.Add(adds...)
	txn.Remove(removes...)
	if op == "WRITE" {
		txn.SetOperationMetrics(map[string]int64{"numFiles": int64(len(adds))})
	}
	v, err := txn.Commit(ctx, op, params)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExitStatus(t *testing.T) {
	dir, _ := newTable(t)
	missing := filepath.Join(t.TempDir(), "no-table")
	tests := []struct {
		name string
		args []string
		code int
		// stderr must contain each of these
		stderr []string
	}{
		{"info", []string{"info", dir}, exitOK, nil},
		{"help", []string{"--help"}, exitOK, nil},
		{"not a table", []string{"info", missing}, exitFailure, []string{missing, "not a delta table"}},
		{"version beyond the log", []string{"files", dir, "--version", "99"}, exitFailure, []string{dir, "version 99"}},
		{"timestamp before the log", []string{"info", dir, "--timestamp", "2020-01-01"}, exitFailure, []string{dir, "2020-01-01T00:00:00Z"}},
		{"history of no table", []string{"history", missing}, exitFailure, []string{missing}},
		{"no command", nil, exitUsage, []string{"missing command"}},
		{"unknown command", []string{"inf", dir}, exitUsage, []string{`unknown command "inf"`}},
		{"unknown flag", []string{"info", dir, "--verbose"}, exitUsage, []string{"--verbose"}},
		{"no URL", []string{"info"}, exitUsage, []string{"one table URL, got 0"}},
		{"two URLs", []string{"files", dir, dir}, exitUsage, []string{"one table URL, got 2"}},
		{"version and timestamp", []string{"info", dir, "--version", "1", "--timestamp", "2024-03-02"}, exitUsage, []string{"--version and --timestamp"}},
		{"negative version", []string{"info", dir, "--version", "-1"}, exitUsage, []string{"--version"}},
		{"version not a number", []string{"info", dir, "--version", "one"}, exitUsage, []string{"--version"}},
		{"bad timestamp", []string{"files", dir, "--timestamp", "yesterday"}, exitUsage, []string{"--timestamp", "RFC 3339"}},
		{"negative limit", []string{"history", dir, "--limit", "-1"}, exitUsage, []string{"--limit"}},
		{"create without schema", []string{"create", missing}, exitUsage, []string{"schema"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := deltactl(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if tt.code == exitOK {
				if r.stderr != "" {
					t.Errorf("stderr on success: %q", r.stderr)
				}
				return
			}
			if !strings.HasPrefix(r.stderr, "deltactl: ") {
				t.Errorf("stderr does not start with \"deltactl: \": %q", r.stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
}

// TestRootCommand runs the command tree directly, as embedding it would.
func TestRootCommand(t *testing.T) {
	dir, _ := newTable(t)
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs([]string{"info", dir, "--json"})
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := decodeObject(t, out.String())["version"]; got != json.Number("3") {
		t.Errorf("version = %v, want 3", got)
	}
}

func TestHelp(t *testing.T) {
	for _, c := range newRootCmd().Commands() {
		if c.Name() == "help" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			if c.Long == "" || c.RunE == nil {
				t.Errorf("%s: Long or RunE missing", c.Name())
			}
			out := mustRun(t, c.Name(), "--help")
			for _, want := range []string{"Examples:", "deltactl " + c.Name() + " ./", "file://", "s3://"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s --help does not show %q:\n%s", c.Name(), want, out)
				}
			}
		})
	}
}

// TestUnsupportedReaderFeature hand-writes a table that needs columnMapping.
func TestUnsupportedReaderFeature(t *testing.T) {
	dir := t.TempDir()
	log := `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["columnMapping"],"writerFeatures":["columnMapping"]}}
{"metaData":{"id":"cm-table","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{\"delta.columnMapping.id\":1,\"delta.columnMapping.physicalName\":\"col-1\"}}]}","partitionColumns":[],"configuration":{"delta.columnMapping.mode":"name","delta.columnMapping.maxColumnId":"1"},"createdTime":1700000000000}}
`
	if err := os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_delta_log", "00000000000000000000.json"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"info", "files"} {
		r := deltactl(t, cmd, dir, "--json")
		if r.code != exitFailure {
			t.Fatalf("%s: exit %d, want 1; stderr: %s", cmd, r.code, r.stderr)
		}
		for _, want := range []string{"columnMapping", dir, "unsupported feature"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr %q does not name %q", cmd, r.stderr, want)
			}
		}
		if r.stdout != "" {
			t.Errorf("%s: stdout %q, want nothing", cmd, r.stdout)
		}
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
