package delta_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// bdSmallTable makes a local table of five versions without a checkpoint:
//
//	v0 create; v1 add a, b; v2 add c; v3 remove a, add d; v4 add e
//
// so the live files at v4 are b, c, d, e.
func bdSmallTable(t *testing.T) (delta.Store, string) {
	t.Helper()
	s, dir := txNewTable(t, delta.TableSpec{Name: "small"}, delta.TxnOptions{})
	a := txAdd("a.parquet")
	txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(a, txAdd("b.parquet")) })
	txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("c.parquet")) })
	txCommit(t, s, "DELETE", func(tx *delta.Txn) { tx.Remove(txRemove(a)); tx.Add(txAdd("d.parquet")) })
	txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("e.parquet")) })
	return s, dir
}

var bdSmallFiles = map[int64][]string{
	0: {},
	1: {"a.parquet", "b.parquet"},
	2: {"a.parquet", "b.parquet", "c.parquet"},
	3: {"b.parquet", "c.parquet", "d.parquet"},
	4: {"b.parquet", "c.parquet", "d.parquet", "e.parquet"},
}

// bdCheckpointTable copies delta-rs/simple_table_with_checkpoint (commits 0..10, a classic
// checkpoint at 10, one add per commit) and returns its store and directory.
func bdCheckpointTable(t *testing.T) (delta.Store, string) {
	t.Helper()
	dir := testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", "simple_table_with_checkpoint"))
	return txOpenStore(t, dir), dir
}

// bdReadAll opens a snapshot and streams everything it can: files, tombstones, app
// transactions and domains. It returns the first error.
func bdReadAll(t *testing.T, s delta.Store, opts ...delta.SnapshotOption) (n int, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic reading the table: %v", r)
		}
	}()
	ctx := t.Context()
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		return 0, err
	}
	for _, err := range snap.Files(ctx) {
		if err != nil {
			return n, err
		}
		n++
	}
	for _, err := range snap.Tombstones(ctx) {
		if err != nil {
			return n, err
		}
	}
	if _, err := snap.AppTransactions(ctx); err != nil {
		return n, err
	}
	if _, err := snap.DomainMetadata(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// bdWantCorrupt checks that err is a *delta.CorruptError naming key and version v, and that
// its message names both.
func bdWantCorrupt(t *testing.T, err error, key string, v int64) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s (version %d)", key, v)
	}
	var ce *delta.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %q (%T) is not a *delta.CorruptError", err, err)
	}
	if ce.Path != key || ce.Version != v {
		t.Errorf("CorruptError{Path: %q, Version: %d}, want {%q, %d}: %v", ce.Path, ce.Version, key, v, err)
	}
	if !errors.Is(err, delta.ErrCorrupt) {
		t.Errorf("error %q does not match delta.ErrCorrupt", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, key) || !strings.Contains(msg, fmt.Sprintf("version %d", v)) {
		t.Errorf("error %q does not name %s and version %d", msg, key, v)
	}
}

func bdCheckFiles(t *testing.T, s delta.Store, v int64, want []string) {
	t.Helper()
	files, got := txLiveFiles(t, s, delta.AtVersion(v))
	if got != v {
		t.Errorf("AtVersion(%d) opened version %d", v, got)
	}
	txSamePaths(t, files, want...)
}

// TestBadInput damages small local tables in the ways storage and foreign writers do and
// checks that every read fails with an error naming the file and version (a *CorruptError
// where the log is damaged), or tolerates the damage where the protocol says to, and that
// nothing panics.
func TestBadInput(t *testing.T) {
	t.Run("truncated commit", testBadTruncatedCommit)
	t.Run("corrupt checkpoint", testBadCheckpoint)
	t.Run("bad _last_checkpoint", testBadLastCheckpoint)
	t.Run("missing commit", testBadMissingCommit)
	t.Run("escaping path", testBadEscapingPath)
	t.Run("not a table", testBadNotATable)
	t.Run("version out of range", testBadVersion)
}

// testBadTruncatedCommit cuts the last commit in the middle of a line: opening the table or
// streaming its files fails naming that commit and version, and older versions still read.
func testBadTruncatedCommit(t *testing.T) {
	cases := []struct {
		name string
		line func(lines int) int // which line (0-based) the cut falls in
	}{
		{"in the last line", func(n int) int { return n - 1 }},
		{"in a middle line", func(n int) int { return n / 2 }},
		// The commitInfo line: every reader skips it by its first key, so a cut there must still
		// be noticed (the commit's adds are lost with the rest of the file).
		{"in the first line", func(n int) int { return 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, dir := bdSmallTable(t)
			key := delta.CommitKey(4)
			path := filepath.Join(dir, filepath.FromSlash(key))
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
			if len(lines) < 2 {
				t.Fatalf("commit 4 has %d lines, want at least 2", len(lines))
			}
			i := c.line(len(lines))
			cut := 0
			for _, l := range lines[:i] {
				cut += len(l)
			}
			cut += len(lines[i]) / 2
			if err := os.WriteFile(path, body[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = bdReadAll(t, s)
			bdWantCorrupt(t, err, key, 4)
			bdCheckFiles(t, s, 3, bdSmallFiles[3])
		})
	}
	t.Run("bad line in an older commit", func(t *testing.T) {
		s, dir := bdSmallTable(t)
		path := filepath.Join(dir, filepath.FromSlash(delta.CommitKey(2)))
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"add":{"path":"x.parquet","size":"not a number"}}` + "\n")
		f.Close()
		_, err = bdReadAll(t, s)
		bdWantCorrupt(t, err, delta.CommitKey(2), 2)
		bdCheckFiles(t, s, 1, bdSmallFiles[1])
	})
}

// testBadCheckpoint damages the Parquet checkpoint at version 10 of a copied delta-rs table
// (with one more commit on top): reading fails naming the checkpoint and version 10; version
// 9, read from commits alone, still works.
func testBadCheckpoint(t *testing.T) {
	cases := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"middle bytes overwritten", func(b []byte) []byte {
			for i := len(b)/2 - 64; i < len(b)/2+64; i++ {
				b[i] = 0xA5
			}
			return b
		}},
		{"add.path data overwritten", func(b []byte) []byte {
			// Bytes 91..763 hold the add.path column chunk (SNAPPY pages).
			for i := 120; i < 700; i++ {
				b[i] ^= 0x5A
			}
			return b
		}},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"garbage of the same size", func(b []byte) []byte {
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}},
		{"magic kept, garbage between", func(b []byte) []byte {
			for i := 4; i < len(b)-8; i++ {
				b[i] = byte(i * 7)
			}
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, dir := bdCheckpointTable(t)
			txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("extra.parquet")) })
			key := delta.CheckpointKey(10)
			path := filepath.Join(dir, filepath.FromSlash(key))
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, c.damage(body), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, opts := range [][]delta.SnapshotOption{nil, {delta.AtVersion(10)}} {
				_, err := bdReadAll(t, s, opts...)
				bdWantCorrupt(t, err, key, 10)
			}
			if n, err := bdReadAll(t, s, delta.AtVersion(9)); err != nil || n != 10 {
				t.Errorf("AtVersion(9): %d files, %v; want 10 files", n, err)
			}
		})
	}
}

// testBadLastCheckpoint replaces _delta_log/_last_checkpoint by garbage, by a hint at a
// checkpoint that does not exist, and by a hint past the end of the log: it is only a hint,
// so the table opens at the right version with the right files.
func testBadLastCheckpoint(t *testing.T) {
	garbage := make([]byte, 200)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"random bytes", garbage},
		{"empty", nil},
		{"truncated JSON", []byte(`{"version":10,"si`)},
		{"missing checkpoint version", []byte(`{"version":7,"size":13}`)},
		{"missing multi-part checkpoint", []byte(`{"version":5,"size":13,"parts":3}`)},
		{"future version", []byte(`{"version":100,"size":13}`)},
		{"negative version", []byte(`{"version":-4,"size":13}`)},
		{"version of the wrong type", []byte(`{"version":"10","size":13}`)},
		{"huge version", []byte(`{"version":9223372036854775807,"size":1}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, dir := bdCheckpointTable(t)
			if err := os.WriteFile(filepath.Join(dir, "_delta_log", "_last_checkpoint"), c.body, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, v := range []int64{-1, 10, 8, 6, 0} {
				var opts []delta.SnapshotOption
				want := v
				if v >= 0 {
					opts = append(opts, delta.AtVersion(v))
				} else {
					want = 10
				}
				files, got := txLiveFiles(t, s, opts...)
				if got != want || len(files) != int(want)+1 {
					t.Errorf("open at %d: version %d with %d files; want version %d with %d", v, got, len(files), want, want+1)
				}
			}
			// A writer still commits after the right version.
			if v := txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("extra.parquet")) }); v != 11 {
				t.Errorf("commit after a bad _last_checkpoint landed at version %d, want 11", v)
			}
		})
	}
}

// testBadMissingCommit deletes commit 2 of a five-version table without a checkpoint: reading
// versions 2 and later fails naming 00000000000000000002.json and version 2; version 1 reads.
func testBadMissingCommit(t *testing.T) {
	s, dir := bdSmallTable(t)
	key := delta.CommitKey(2)
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]delta.SnapshotOption{nil, {delta.AtVersion(2)}, {delta.AtVersion(4)}} {
		_, err := bdReadAll(t, s, opts...)
		bdWantCorrupt(t, err, key, 2)
		if err != nil && !strings.Contains(err.Error(), "00000000000000000002.json") {
			t.Errorf("error %q does not name 00000000000000000002.json", err)
		}
	}
	if _, err := delta.Begin(t.Context(), s, delta.TxnOptions{}); err == nil {
		t.Errorf("Begin on a log with a hole succeeded")
	}
	bdCheckFiles(t, s, 1, bdSmallFiles[1])
	bdCheckFiles(t, s, 0, bdSmallFiles[0])
}

// testBadEscapingPath writes, by hand, commits whose add or remove path leaves the table root:
// Files fails with an error matching ErrInvalidPath that names the commit and version.
func testBadEscapingPath(t *testing.T) {
	paths := []string{"../x.parquet", "/etc/passwd", "s3://other-bucket/x.parquet", "%2E%2E/x.parquet",
		"a/%2e%2e/%2E%2E/x.parquet", "file:///etc/passwd", `..\x.parquet`}
	for _, p := range paths {
		for _, kind := range []string{"add", "remove"} {
			t.Run(kind+" "+p, func(t *testing.T) {
				s, _ := bdSmallTable(t)
				var action map[string]any
				if kind == "add" {
					action = map[string]any{"add": map[string]any{"path": p, "partitionValues": map[string]any{},
						"size": 1, "modificationTime": 1, "dataChange": true}}
				} else {
					action = map[string]any{"remove": map[string]any{"path": p, "deletionTimestamp": 1, "dataChange": true}}
				}
				body := bdLines(t,
					map[string]any{"commitInfo": map[string]any{"timestamp": 1, "operation": "WRITE"}},
					map[string]any{"add": map[string]any{"path": "fine.parquet", "partitionValues": map[string]any{},
						"size": 1, "modificationTime": 1, "dataChange": true}},
					action)
				if err := s.PutIfAbsent(t.Context(), delta.CommitKey(5), body); err != nil {
					t.Fatal(err)
				}
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("panic: %v", r)
						}
					}()
					snap, oerr := delta.Open(t.Context(), s)
					if oerr != nil {
						err = oerr
						return
					}
					for a, ferr := range snap.Files(t.Context()) {
						if ferr != nil {
							err = ferr
							break
						}
						if a.Path == p {
							t.Errorf("Files yielded the escaping path %q", p)
						}
					}
				}()
				if !errors.Is(err, delta.ErrInvalidPath) {
					t.Errorf("error %v does not match delta.ErrInvalidPath", err)
				}
				bdWantCorrupt(t, err, delta.CommitKey(5), 5)
				bdCheckFiles(t, s, 4, bdSmallFiles[4])
			})
		}
	}
}

func bdLines(t *testing.T, actions ...map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, a := range actions {
		b, err := jsonMarshalNoEscape(a)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// testBadNotATable opens directories that hold no Delta log.
func testBadNotATable(t *testing.T) {
	cases := []struct {
		name string
		make func(dir string) error
	}{
		{"empty directory", func(dir string) error { return os.MkdirAll(dir, 0o755) }},
		{"missing directory", func(dir string) error { return nil }},
		{"data files but no _delta_log", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "tile_id=1"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "tile_id=1", "part-0.parquet"), []byte("PAR1"), 0o644)
		}},
		{"empty _delta_log", func(dir string) error { return os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755) }},
		{"_delta_log with only foreign files", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "_delta_log", "README.txt"), []byte("x"), 0o644)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t")
			if err := c.make(dir); err != nil {
				t.Fatal(err)
			}
			s := txOpenStore(t, dir)
			if _, err := delta.Open(t.Context(), s); !errors.Is(err, delta.ErrNotATable) {
				t.Errorf("Open: %v, want ErrNotATable", err)
			}
			if _, err := delta.Begin(t.Context(), s, delta.TxnOptions{}); !errors.Is(err, delta.ErrNotATable) {
				t.Errorf("Begin: %v, want ErrNotATable", err)
			}
		})
	}
}

// testBadVersion asks for versions past the latest and negative ones.
func testBadVersion(t *testing.T) {
	s, _ := bdSmallTable(t)
	for _, v := range []int64{5, 6, 1000, math.MaxInt64, -1, -2, math.MinInt64} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			snap, err := delta.Open(t.Context(), s, delta.AtVersion(v))
			if !errors.Is(err, delta.ErrVersionNotFound) {
				got := int64(-1)
				if snap != nil {
					got = snap.Version()
				}
				t.Errorf("AtVersion(%d): opened version %d, err %v; want ErrVersionNotFound", v, got, err)
			}
		})
	}
}

// TestTimestampTravel sets commit modification times with os.Chtimes and checks that
// AtTimestamp picks the newest version committed at or before a time, that a time before the
// first commit is ErrVersionNotFound, and that a commit whose mtime went backwards still orders
// after its predecessor (Spark's monotonization: it takes the previous time + 1 ms).
func TestTimestampTravel(t *testing.T) {
	ctx := t.Context()
	s, dir := bdSmallTable(t)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	mtimes := []time.Time{t0, t0.Add(10 * time.Second), t0.Add(20 * time.Second), t0.Add(15 * time.Second), t0.Add(40 * time.Second)}
	for v, mt := range mtimes {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(delta.CommitKey(int64(v)))), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		at   time.Time
		want int64 // -1: ErrVersionNotFound
	}{
		{t0.Add(-time.Millisecond), -1},
		{t0.Add(-time.Hour), -1},
		{t0, 0},
		{t0.Add(5 * time.Second), 0},
		{t0.Add(10*time.Second - time.Millisecond), 0},
		{t0.Add(10 * time.Second), 1},
		{t0.Add(15 * time.Second), 1}, // v3's own mtime, but v3 comes after v2 (20 s)
		{t0.Add(20 * time.Second), 2},
		{t0.Add(20*time.Second + time.Millisecond), 3},
		{t0.Add(39 * time.Second), 3},
		{t0.Add(40 * time.Second), 4},
		{t0.Add(1000 * time.Hour), 4},
	}
	for _, c := range cases {
		snap, err := delta.Open(ctx, s, delta.AtTimestamp(c.at))
		if c.want < 0 {
			if !errors.Is(err, delta.ErrVersionNotFound) {
				t.Errorf("AtTimestamp(t0%+v): %v, want ErrVersionNotFound", c.at.Sub(t0), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("AtTimestamp(t0%+v): %v", c.at.Sub(t0), err)
			continue
		}
		if snap.Version() != c.want {
			t.Errorf("AtTimestamp(t0%+v) = version %d, want %d", c.at.Sub(t0), snap.Version(), c.want)
		}
		files, _ := txLiveFiles(t, s, delta.AtTimestamp(c.at))
		txSamePaths(t, files, bdSmallFiles[c.want]...)
	}
	ts, err := delta.CommitTimestamps(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ts); i++ {
		if !ts[i].Time.After(ts[i-1].Time) || ts[i].Version != ts[i-1].Version+1 {
			t.Errorf("CommitTimestamps not strictly increasing: %v then %v", ts[i-1], ts[i])
		}
	}
	// Time travel by timestamp on a table whose log starts at a checkpoint-only prefix still
	// refuses times before the oldest readable commit.
	t.Run("checkpoint table", func(t *testing.T) {
		s, dir := bdCheckpointTable(t)
		for v := int64(0); v <= 10; v++ {
			mt := t0.Add(time.Duration(v) * time.Minute)
			if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(delta.CommitKey(v))), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			at   time.Time
			want int64
		}{{t0.Add(-time.Second), -1}, {t0, 0}, {t0.Add(5*time.Minute + time.Second), 5}, {t0.Add(time.Hour), 10}} {
			snap, err := delta.Open(t.Context(), s, delta.AtTimestamp(c.at))
			switch {
			case c.want < 0 && !errors.Is(err, delta.ErrVersionNotFound):
				t.Errorf("AtTimestamp(t0%+v): %v, want ErrVersionNotFound", c.at.Sub(t0), err)
			case c.want >= 0 && err != nil:
				t.Errorf("AtTimestamp(t0%+v): %v", c.at.Sub(t0), err)
			case c.want >= 0 && snap.Version() != c.want:
				t.Errorf("AtTimestamp(t0%+v) = version %d, want %d", c.at.Sub(t0), snap.Version(), c.want)
			}
		}
	})
}

// jsonMarshalNoEscape encodes v as one line of JSON without HTML escaping, as Delta writers do.
func jsonMarshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
