package delta_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// Helpers shared by txn_test.go, badinput_test.go and replay_test.go carry the tx prefix.

var txSchema = delta.StructType{Fields: []delta.StructField{
	delta.NewField("tile_id", "long"),
	delta.NewField("data", "binary"),
}}

// txOpenStore opens the store of a table URL and closes it when the test ends.
func txOpenStore(t testing.TB, rawURL string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("OpenStore(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// txNewTable creates a table in a fresh local directory and returns its store and directory.
func txNewTable(t testing.TB, spec delta.TableSpec, opts delta.TxnOptions) (delta.Store, string) {
	t.Helper()
	return txNewTableAt(t, filepath.Join(t.TempDir(), "table"), spec, opts)
}

// txNewTableAt creates a table at a URL and returns its store and the URL.
func txNewTableAt(t testing.TB, dir string, spec delta.TableSpec, opts delta.TxnOptions) (delta.Store, string) {
	t.Helper()
	s := txOpenStore(t, dir)
	if spec.Schema.Fields == nil {
		spec.Schema = txSchema
	}
	if _, err := delta.CreateTable(context.Background(), s, spec, opts); err != nil {
		t.Fatalf("CreateTable(%s): %v", dir, err)
	}
	return s, dir
}

func txAdd(p string) *delta.Add {
	return &delta.Add{Path: p, PartitionValues: delta.PartitionValues{}, Size: int64(100 + len(p)),
		ModificationTime: 1_700_000_000_000, DataChange: true}
}

func txRemove(a *delta.Add) *delta.Remove {
	size := a.Size
	ext := true
	return &delta.Remove{Path: a.Path, DataChange: true, ExtendedFileMetadata: &ext,
		PartitionValues: a.PartitionValues, Size: &size, DeletionVector: a.DeletionVector}
}

// txCommit begins a transaction, lets build fill it, and commits it.
func txCommit(t testing.TB, s delta.Store, op string, build func(*delta.Txn)) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	build(tx)
	v, err := tx.Commit(ctx, op, nil)
	if err != nil {
		t.Fatalf("Commit %s: %v", op, err)
	}
	return v
}

func txKey(p string, dv *delta.DeletionVector) string {
	if dv == nil {
		return p
	}
	return p + "\x00" + dv.UniqueID()
}

// txLiveFiles reads the live files of a snapshot, keyed by path and deletion vector, failing
// the test on an error or on a key yielded twice.
func txLiveFiles(t testing.TB, s delta.Store, opts ...delta.SnapshotOption) (map[string]delta.Add, int64) {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	out := map[string]delta.Add{}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatalf("Files at version %d: %v", snap.Version(), err)
		}
		k := txKey(a.Path, a.DeletionVector)
		if _, dup := out[k]; dup {
			t.Errorf("Files at version %d yields %q twice", snap.Version(), k)
		}
		out[k] = *a
	}
	return out, snap.Version()
}

func txSamePaths(t testing.TB, got map[string]delta.Add, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for _, p := range want {
		if _, found := got[p]; !found {
			ok = false
		}
	}
	if !ok {
		var have []string
		for k := range got {
			have = append(have, k)
		}
		t.Errorf("live files %v, want %v", sorted(have), sorted(want))
	}
}

func txCommitInfo(t testing.TB, s delta.Store, v int64) delta.CommitInfo {
	t.Helper()
	ci, err := delta.ReadCommitInfo(context.Background(), s, v)
	if err != nil {
		t.Fatalf("ReadCommitInfo(%d): %v", v, err)
	}
	if ci == nil {
		t.Fatalf("commit %d has no commitInfo", v)
	}
	return ci
}

func txBool(t testing.TB, ci delta.CommitInfo, k string) bool {
	t.Helper()
	var b bool
	if err := json.Unmarshal(ci[k], &b); err != nil {
		t.Fatalf("commitInfo.%s = %s: not a boolean: %v", k, ci[k], err)
	}
	return b
}

// TestTxnCommitInfo checks the commitInfo of CREATE TABLE, a blind append and a remove: the
// timestamp from the injected clock, operation, operationParameters (strings, non-strings
// JSON-encoded), engineInfo, isBlindAppend and a txnId unique to each commit.
func TestTxnCommitInfo(t *testing.T) {
	ctx := t.Context()
	now := time.UnixMilli(1_700_000_000_123)
	clock := delta.TxnOptions{Now: func() time.Time { return now }}
	s, _ := txNewTable(t, delta.TableSpec{Name: "tiles", PartitionColumns: []string{"tile_id"}}, clock)

	commit := func(op string, params map[string]any, build func(*delta.Txn)) int64 {
		t.Helper()
		tx, err := delta.Begin(ctx, s, clock)
		if err != nil {
			t.Fatal(err)
		}
		build(tx)
		v, err := tx.Commit(ctx, op, params)
		if err != nil {
			t.Fatalf("Commit %s: %v", op, err)
		}
		return v
	}
	a, b := txAdd("a.parquet"), txAdd("b.parquet")
	v1 := commit("WRITE", map[string]any{"mode": "Append", "partitionBy": []string{"tile_id"}, "n": 2},
		func(tx *delta.Txn) {
			tx.Add(a, b)
			tx.SetOperationMetrics(map[string]int64{"numFiles": 1, "numOutputRows": 10})
			tx.SetOperationMetrics(map[string]int64{"numFiles": 2}) // later calls override
		})
	v2 := commit("DELETE", map[string]any{"predicate": `["tile_id = 1"]`},
		func(tx *delta.Txn) { tx.Remove(txRemove(a)); tx.Add(txAdd("c.parquet")) })
	if v1 != 1 || v2 != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", v1, v2)
	}

	cases := []struct {
		v       int64
		op      string
		params  map[string]string
		blind   bool
		metrics string // operationMetrics as written, "" for none
	}{
		{0, "CREATE TABLE", map[string]string{"partitionBy": `["tile_id"]`, "description": "", "properties": "{}", "isManaged": "false"}, false, ""},
		{1, "WRITE", map[string]string{"mode": "Append", "partitionBy": `["tile_id"]`, "n": "2"}, true, `{"numFiles":"2","numOutputRows":"10"}`},
		{2, "DELETE", map[string]string{"predicate": `["tile_id = 1"]`}, false, ""},
	}
	ids := map[string]int64{}
	for _, c := range cases {
		ci := txCommitInfo(t, s, c.v)
		if ts, ok := ci.Int("timestamp"); !ok || ts != now.UnixMilli() {
			t.Errorf("v%d: timestamp %s, want %d", c.v, ci["timestamp"], now.UnixMilli())
		}
		if op, _ := ci.String("operation"); op != c.op {
			t.Errorf("v%d: operation %q, want %q", c.v, op, c.op)
		}
		var params map[string]string
		if err := json.Unmarshal(ci["operationParameters"], &params); err != nil {
			t.Errorf("v%d: operationParameters %s is not a map of strings: %v", c.v, ci["operationParameters"], err)
		}
		if fmt.Sprint(params) != fmt.Sprint(c.params) {
			t.Errorf("v%d: operationParameters %v, want %v", c.v, params, c.params)
		}
		if e, _ := ci.String("engineInfo"); e != delta.EngineInfo {
			t.Errorf("v%d: engineInfo %q, want %q", c.v, e, delta.EngineInfo)
		}
		if got := txBool(t, ci, "isBlindAppend"); got != c.blind {
			t.Errorf("v%d: isBlindAppend %v, want %v", c.v, got, c.blind)
		}
		if got := string(ci["operationMetrics"]); got != c.metrics {
			t.Errorf("v%d: operationMetrics %s, want %q", c.v, got, c.metrics)
		}
		id, ok := ci.String("txnId")
		if !ok || id == "" {
			t.Errorf("v%d: txnId %s, want a non-empty string", c.v, ci["txnId"])
		} else if prev, dup := ids[id]; dup {
			t.Errorf("v%d: txnId %s already used by version %d", c.v, id, prev)
		}
		ids[id] = c.v
	}
	// The commitInfo is the first line of each commit, as in-commit timestamps require.
	body, err := delta.ReadAll(ctx, s, delta.CommitKey(2))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body, []byte(`{"commitInfo":`)) {
		t.Errorf("commit 2 does not start with commitInfo: %.80s", body)
	}
	files, _ := txLiveFiles(t, s)
	txSamePaths(t, files, "b.parquet", "c.parquet")
}

// TestTxnAppTransactions checks that txn actions read back newest-first per appId, at the
// latest version and by time travel.
func TestTxnAppTransactions(t *testing.T) {
	ctx := t.Context()
	s, _ := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
	txCommit(t, s, "STREAMING UPDATE", func(tx *delta.Txn) {
		tx.SetAppTransaction("ingest-a", 1)
		tx.Add(txAdd("a1.parquet"))
	})
	txCommit(t, s, "STREAMING UPDATE", func(tx *delta.Txn) {
		tx.SetAppTransaction("ingest-a", 2)
		tx.SetAppTransaction("ingest-b", 7)
		tx.Add(txAdd("a2.parquet"), txAdd("b7.parquet"))
	})
	txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("plain.parquet")) })

	want := map[int64]map[string]int64{
		0: {},
		1: {"ingest-a": 1},
		2: {"ingest-a": 2, "ingest-b": 7},
		3: {"ingest-a": 2, "ingest-b": 7},
	}
	for v, w := range want {
		snap, err := delta.Open(ctx, s, delta.AtVersion(v))
		if err != nil {
			t.Fatal(err)
		}
		got, err := snap.AppTransactions(ctx)
		if err != nil {
			t.Fatalf("v%d: AppTransactions: %v", v, err)
		}
		if len(got) != len(w) {
			t.Errorf("v%d: AppTransactions %v, want %v", v, got, w)
		}
		for app, ver := range w {
			if got[app].Version != ver || got[app].AppID != app {
				t.Errorf("v%d: %s = %+v, want version %d", v, app, got[app], ver)
			}
			if got[app].LastUpdated == nil {
				t.Errorf("v%d: %s has no lastUpdated", v, app)
			}
		}
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := snap.AppTransactionVersion(ctx, "ingest-b"); err != nil || v != 7 {
		t.Errorf("AppTransactionVersion(ingest-b) = %d, %v; want 7", v, err)
	}
	if v, err := snap.AppTransactionVersion(ctx, "nobody"); err != nil || v != -1 {
		t.Errorf("AppTransactionVersion(nobody) = %d, %v; want -1", v, err)
	}
	// Setting an app transaction alone keeps a pure append blind.
	if !txBool(t, txCommitInfo(t, s, 1), "isBlindAppend") {
		t.Errorf("an append with a txn action is not recorded as a blind append")
	}
}

// TestTxnCommitTwice commits one transaction, then calls Commit on it again, as a caller
// retrying after an error would (Commit returns the version and an error when the PostCommit
// hook fails): the second call must fail and write nothing, or the adds are in the table twice.
func TestTxnCommitTwice(t *testing.T) {
	ctx := t.Context()
	s, _ := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
	tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.Add(txAdd("a.parquet"))
	if v, err := tx.Commit(ctx, "WRITE", nil); err != nil || v != 1 {
		t.Fatalf("first Commit = %d, %v; want 1", v, err)
	}
	if v, err := tx.Commit(ctx, "WRITE", nil); err == nil {
		t.Errorf("second Commit of the same transaction succeeded at version %d", v)
	}
	if _, latest := txLiveFiles(t, s); latest != 1 {
		t.Errorf("latest version %d after a second Commit, want 1: the transaction's actions were written twice", latest)
	}
}

var txDomainProtocol = &delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 7, WriterFeatures: []string{"domainMetadata"}}

// TestTxnDomainMetadata sets, updates and removes a metadata domain and reads it back at each
// version; domain metadata is refused on a table without the domainMetadata writer feature.
func TestTxnDomainMetadata(t *testing.T) {
	ctx := t.Context()
	t.Run("set update remove", func(t *testing.T) {
		s, _ := txNewTable(t, delta.TableSpec{Protocol: txDomainProtocol}, delta.TxnOptions{})
		txCommit(t, s, "SET DOMAIN", func(tx *delta.Txn) {
			tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{"zoom":3}`})
			tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.other", Configuration: `{}`})
		})
		txCommit(t, s, "SET DOMAIN", func(tx *delta.Txn) {
			tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{"zoom":4}`})
		})
		txCommit(t, s, "REMOVE DOMAIN", func(tx *delta.Txn) {
			tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{"zoom":4}`, Removed: true})
		})
		want := map[int64]map[string]string{
			0: {},
			1: {"deltaraster.tiling": `{"zoom":3}`, "deltaraster.other": `{}`},
			2: {"deltaraster.tiling": `{"zoom":4}`, "deltaraster.other": `{}`},
			3: {"deltaraster.other": `{}`},
		}
		for v, w := range want {
			snap, err := delta.Open(ctx, s, delta.AtVersion(v))
			if err != nil {
				t.Fatal(err)
			}
			got, err := snap.DomainMetadata(ctx)
			if err != nil {
				t.Fatalf("v%d: DomainMetadata: %v", v, err)
			}
			if len(got) != len(w) {
				t.Errorf("v%d: domains %v, want %v", v, got, w)
			}
			for d, conf := range w {
				if got[d].Configuration != conf || got[d].Removed {
					t.Errorf("v%d: domain %s = %+v, want configuration %s", v, d, got[d], conf)
				}
			}
		}
	})
	t.Run("refused without the feature", func(t *testing.T) {
		// PROTOCOL.md, Domain Metadata: "The table must be on Writer Version 7. A feature name
		// domainMetadata must exist in the table's writerFeatures." Delta Kernel refuses the
		// commit (DomainMetadataUtils.validateDomainMetadatas).
		s, _ := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
		tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{}`})
		v, err := tx.Commit(ctx, "SET DOMAIN", nil)
		if !errors.Is(err, delta.ErrUnsupportedFeature) || !strings.Contains(fmt.Sprint(err), "domainMetadata") {
			t.Errorf("domainMetadata on a reader 1 / writer 2 table: Commit = %d, %v; want an error matching "+
				"delta.ErrUnsupportedFeature naming domainMetadata", v, err)
		}
	})
}

// TestTxnCreateTableExists checks that CreateTable refuses a URL that already holds a table,
// sequentially and when several creators race.
func TestTxnCreateTableExists(t *testing.T) {
	ctx := t.Context()
	s, dir := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
	if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: txSchema}, delta.TxnOptions{}); !errors.Is(err, delta.ErrTableExists) {
		t.Errorf("second CreateTable on %s: %v, want ErrTableExists", dir, err)
	}
	txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(txAdd("x.parquet")) })
	other := txOpenStore(t, dir)
	if _, err := delta.CreateTable(ctx, other, delta.TableSpec{Schema: txSchema}, delta.TxnOptions{}); !errors.Is(err, delta.ErrTableExists) {
		t.Errorf("CreateTable through a second store on %s: %v, want ErrTableExists", dir, err)
	}
	if files, v := txLiveFiles(t, s); v != 1 || len(files) != 1 {
		t.Errorf("after refused creates: version %d with %d files, want version 1 with 1 file", v, len(files))
	}

	t.Run("race", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "table")
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			st := txOpenStore(t, dir)
			wg.Go(func() {
				<-start
				_, errs[i] = delta.CreateTable(ctx, st, delta.TableSpec{Schema: txSchema, Name: fmt.Sprint(i)}, delta.TxnOptions{})
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, delta.ErrTableExists):
				t.Errorf("creator %d: %v, want nil or ErrTableExists", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d creators won, want exactly 1", won)
		}
	})
}

// TestTxnRefusesEscapingPaths checks that adds and removes whose path leaves the table root
// are refused at commit with ErrInvalidPath and write nothing.
func TestTxnRefusesEscapingPaths(t *testing.T) {
	ctx := t.Context()
	s, _ := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
	bad := []string{"../x", "/etc/x", "s3://other-bucket/x", "%2E%2E/x.parquet", "a/../../x.parquet",
		"file:///etc/passwd", `..\x.parquet`, ""}
	for _, p := range bad {
		for _, kind := range []string{"add", "remove"} {
			tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if kind == "add" {
				tx.Add(txAdd(p))
			} else {
				tx.Remove(txRemove(txAdd(p)))
			}
			v, err := tx.Commit(ctx, "WRITE", nil)
			if !errors.Is(err, delta.ErrInvalidPath) {
				t.Errorf("%s %q: Commit = %d, %v; want ErrInvalidPath", kind, p, v, err)
			}
		}
	}
	if _, v := txLiveFiles(t, s); v != 0 {
		t.Errorf("refused commits wrote versions up to %d", v)
	}
	good := []string{"a.parquet", "tile_id=1/part-0.parquet", "x%20y.parquet", "dir/..data.parquet"}
	v := txCommit(t, s, "WRITE", func(tx *delta.Txn) {
		for _, p := range good {
			tx.Add(txAdd(p))
		}
	})
	files, _ := txLiveFiles(t, s, delta.AtVersion(v))
	txSamePaths(t, files, good...)
}

// txBlindAppend commits one add of path p as a blind append and returns the version.
func txBlindAppend(ctx context.Context, s delta.Store, p string) (int64, error) {
	return txBlindAppendOpts(ctx, s, p, delta.TxnOptions{})
}

func txBlindAppendOpts(ctx context.Context, s delta.Store, p string, opts delta.TxnOptions) (int64, error) {
	tx, err := delta.Begin(ctx, s, opts)
	if err != nil {
		return -1, err
	}
	tx.Add(txAdd(p))
	return tx.Commit(ctx, "WRITE", map[string]any{"mode": "Append"})
}

// txCheckAppendLog checks a table written by concurrent blind appends: commit files 0..n all
// present and nothing beyond, no temporary files left, each committed version holding the add
// its writer was told, and every add live exactly once at the latest version.
func txCheckAppendLog(t *testing.T, s delta.Store, committed map[int64]string, n int) {
	t.Helper()
	ctx := t.Context()
	if len(committed) != n {
		t.Errorf("%d distinct versions reported by the writers, want %d", len(committed), n)
	}
	present := map[int64]bool{}
	for obj, err := range s.List(ctx, "_delta_log/", "") {
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := delta.ParseLogName(path.Base(obj.Key)); ok && f.Kind == delta.KindCommit {
			present[f.Version] = true
		}
	}
	for obj, err := range s.ListTemp(ctx, "_delta_log/") {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("temporary file left in the log: %s", obj.Key)
	}
	var missing []int64
	for v := int64(0); v <= int64(n); v++ {
		if !present[v] {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d commits missing: %s", len(missing), txRanges(missing))
	}
	if len(present) != n+1 {
		t.Errorf("%d commit files, want %d (versions 0..%d)", len(present), n+1, n)
	}
	for v, p := range committed {
		body, err := delta.ReadAll(ctx, s, delta.CommitKey(v))
		if err != nil {
			t.Errorf("read commit %d: %v", v, err)
			continue
		}
		if !bytes.Contains(body, []byte(`"path":`+strconv.Quote(p))) {
			t.Errorf("commit %d does not hold %s, which its writer was told it committed there", v, p)
		}
		if !bytes.Contains(body, []byte(`"isBlindAppend":true`)) {
			t.Errorf("commit %d is not recorded as a blind append", v)
		}
	}
	files, latest := txLiveFiles(t, s)
	if latest != int64(n) {
		t.Errorf("latest version %d, want %d", latest, n)
	}
	want := make([]string, 0, n)
	for _, p := range committed {
		want = append(want, p)
	}
	txSamePaths(t, files, want...)
}

// txRanges shortens ascending integers to ranges: "3-7, 9".
func txRanges(nums []int64) string {
	var out []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%d-%d", nums[i], nums[j]))
		} else {
			out = append(out, fmt.Sprint(nums[i]))
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}

// TestWritersGoroutines runs 8 goroutines, each with its own store, committing 50 blind appends
// each to one local table; all 400 commits land at distinct, contiguous versions.
func TestWritersGoroutines(t *testing.T) {
	txWritersGoroutines(t, filepath.Join(t.TempDir(), "table"), 50, delta.TxnOptions{})
}

func txWritersGoroutines(t *testing.T, table string, perWriter int, opts delta.TxnOptions) {
	const writers = 8
	ctx := t.Context()
	s, dir := txNewTableAt(t, table, delta.TableSpec{}, delta.TxnOptions{})
	var (
		mu        sync.Mutex
		committed = map[int64]string{}
		wg        sync.WaitGroup
	)
	start := make(chan struct{})
	for w := range writers {
		st := txOpenStore(t, dir)
		wg.Go(func() {
			<-start
			for i := range perWriter {
				p := fmt.Sprintf("writer=%d/part-%05d.parquet", w, i)
				v, err := txBlindAppendOpts(ctx, st, p, opts)
				if err != nil {
					t.Errorf("writer %d, append %d: %v", w, i, err)
					return
				}
				mu.Lock()
				if prev, dup := committed[v]; dup {
					t.Errorf("version %d reported to two writers: %s and %s", v, prev, p)
				}
				committed[v] = p
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	txCheckAppendLog(t, s, committed, writers*perWriter)
}

const (
	txHelperEnv   = "DELTARASTER_TEST_HELPER"
	txHelperTable = "DELTARASTER_TEST_TABLE"
	txHelperID    = "DELTARASTER_TEST_WRITER"
	txHelperN     = "DELTARASTER_TEST_APPENDS"
	txHelperStart = "DELTARASTER_TEST_START"
)

// TestHelperProcess is not a test: TestWritersProcesses runs the test binary with it as a
// writer process. It waits for the start file, commits the blind appends and prints
// "committed VERSION PATH" for each.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(txHelperEnv) != "writer" {
		return
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	id := os.Getenv(txHelperID)
	n, err := strconv.Atoi(os.Getenv(txHelperN))
	if err != nil {
		fail("bad %s: %v", txHelperN, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(os.Getenv(txHelperStart)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fail("writer %s: no start signal", id)
		}
		time.Sleep(time.Millisecond)
	}
	s, err := delta.OpenStore(ctx, os.Getenv(txHelperTable))
	if err != nil {
		fail("writer %s: %v", id, err)
	}
	defer s.Close()
	out := bufio.NewWriter(os.Stdout)
	for i := range n {
		p := fmt.Sprintf("process=%s/part-%05d.parquet", id, i)
		v, err := txBlindAppend(ctx, s, p)
		if err != nil {
			out.Flush()
			fail("writer %s, append %d: %v", id, i, err)
		}
		fmt.Fprintf(out, "committed %d %s\n", v, p)
	}
	out.Flush()
	os.Exit(0)
}

// TestWritersProcesses runs 4 OS processes (this test binary, as TestHelperProcess) committing
// 50 blind appends each to one local table; all 200 commits land at distinct, contiguous
// versions.
func TestWritersProcesses(t *testing.T) {
	const procs, perProc = 4, 50
	s, dir := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
	startFile := filepath.Join(t.TempDir(), "start")
	type child struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	children := make([]*child, procs)
	for i := range children {
		c := &child{}
		c.cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		c.cmd.Env = append(os.Environ(), txHelperEnv+"=writer", txHelperTable+"="+dir, txHelperID+"="+strconv.Itoa(i),
			txHelperN+"="+strconv.Itoa(perProc), txHelperStart+"="+startFile)
		c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
		if err := c.cmd.Start(); err != nil {
			t.Fatalf("start writer %d: %v", i, err)
		}
		children[i] = c
	}
	if err := os.WriteFile(startFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	committed := map[int64]string{}
	for i, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v\nstderr:\n%s", i, err, c.stderr.String())
		}
		sc := bufio.NewScanner(&c.stdout)
		for sc.Scan() {
			var v int64
			var p string
			if _, err := fmt.Sscanf(sc.Text(), "committed %d %s", &v, &p); err != nil {
				continue
			}
			if prev, dup := committed[v]; dup {
				t.Errorf("version %d reported to two writers: %s and %s", v, prev, p)
			}
			committed[v] = p
		}
	}
	txCheckAppendLog(t, s, committed, procs*perProc)
}

// TestConflictRemoveSameFile starts 8 transactions at the same version, each removing file F
// and adding its own file: exactly one commits, the other 7 fail with ErrConflict, and the
// table holds the winner's file and not F.
func TestConflictRemoveSameFile(t *testing.T) {
	txConflictRemoveSameFile(t, filepath.Join(t.TempDir(), "table"))
}

func txConflictRemoveSameFile(t *testing.T, table string) {
	const n = 8
	ctx := t.Context()
	s, dir := txNewTableAt(t, table, delta.TableSpec{}, delta.TxnOptions{})
	f := txAdd("F.parquet")
	base := txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(f) })

	var began, wg sync.WaitGroup
	began.Add(n)
	start := make(chan struct{})
	versions := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		st := txOpenStore(t, dir)
		wg.Go(func() {
			tx, err := delta.Begin(ctx, st, delta.TxnOptions{})
			began.Done()
			<-start
			if err != nil {
				versions[i], errs[i] = -1, fmt.Errorf("begin: %w", err)
				return
			}
			if tx.ReadVersion() != base {
				t.Errorf("transaction %d read version %d, want %d", i, tx.ReadVersion(), base)
			}
			tx.Remove(txRemove(f))
			tx.Add(txAdd(fmt.Sprintf("own-%d.parquet", i)))
			versions[i], errs[i] = tx.Commit(ctx, "DELETE", nil)
		})
	}
	began.Wait()
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("transactions %d and %d both committed (versions %d and %d)", winner, i, versions[winner], versions[i])
			}
			winner = i
		case !errors.Is(err, delta.ErrConflict):
			t.Errorf("transaction %d: %v, want an error matching ErrConflict", i, err)
		case !strings.Contains(err.Error(), fmt.Sprintf("version %d", base+1)):
			t.Errorf("transaction %d: conflict %q does not name the winning version %d", i, err, base+1)
		}
	}
	if winner < 0 {
		t.Fatal("no transaction committed")
	}
	if versions[winner] != base+1 {
		t.Errorf("winner committed version %d, want %d", versions[winner], base+1)
	}
	files, latest := txLiveFiles(t, s)
	if latest != base+1 {
		t.Errorf("latest version %d, want %d: a loser committed anyway", latest, base+1)
	}
	txSamePaths(t, files, fmt.Sprintf("own-%d.parquet", winner))
}

// TestConflictRules checks the WriteSerializable rules one at a time: t1 begins, t2 begins and
// commits, then t1 commits.
func TestConflictRules(t *testing.T) {
	type setup struct {
		f, g *delta.Add // live files at the read version
	}
	cases := []struct {
		name     string
		protocol *delta.Protocol
		t1, t2   func(tx *delta.Txn, s setup)
		conflict bool
		want     []string // live files at the end
	}{
		{
			name: "metadata change conflicts with a blind append",
			t1:   func(tx *delta.Txn, s setup) { tx.Add(txAdd("t1.parquet")) },
			t2: func(tx *delta.Txn, s setup) {
				m := tx.Snapshot().Metadata()
				m.Configuration = map[string]string{"delta.checkpointInterval": "10"}
				tx.SetMetadata(m)
			},
			conflict: true, want: []string{"F.parquet", "G.parquet"},
		},
		{
			name: "protocol change conflicts with a blind append",
			t1:   func(tx *delta.Txn, s setup) { tx.Add(txAdd("t1.parquet")) },
			t2: func(tx *delta.Txn, s setup) {
				tx.SetProtocol(delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 7, WriterFeatures: []string{"appendOnly", "invariants"}})
			},
			conflict: true, want: []string{"F.parquet", "G.parquet"},
		},
		{
			name: "same appId advanced conflicts",
			t1: func(tx *delta.Txn, s setup) {
				tx.SetAppTransaction("ingest", 5)
				tx.Add(txAdd("t1.parquet"))
			},
			t2: func(tx *delta.Txn, s setup) {
				tx.SetAppTransaction("ingest", 5)
				tx.Add(txAdd("t2.parquet"))
			},
			conflict: true, want: []string{"F.parquet", "G.parquet", "t2.parquet"},
		},
		{
			name: "different appIds do not conflict",
			t1: func(tx *delta.Txn, s setup) {
				tx.SetAppTransaction("ingest-1", 5)
				tx.Add(txAdd("t1.parquet"))
			},
			t2: func(tx *delta.Txn, s setup) {
				tx.SetAppTransaction("ingest-2", 9)
				tx.Add(txAdd("t2.parquet"))
			},
			want: []string{"F.parquet", "G.parquet", "t1.parquet", "t2.parquet"},
		},
		{
			name: "blind append does not fail a remove",
			t1: func(tx *delta.Txn, s setup) {
				tx.Remove(txRemove(s.f))
				tx.Add(txAdd("t1.parquet"))
			},
			t2:   func(tx *delta.Txn, s setup) { tx.Add(txAdd("t2.parquet")) },
			want: []string{"G.parquet", "t1.parquet", "t2.parquet"},
		},
		{
			name: "removes of different files do not conflict",
			t1:   func(tx *delta.Txn, s setup) { tx.Remove(txRemove(s.f)) },
			t2:   func(tx *delta.Txn, s setup) { tx.Remove(txRemove(s.g)) },
			want: []string{},
		},
		{
			name: "MarkRead of a file removed concurrently conflicts",
			t1: func(tx *delta.Txn, s setup) {
				tx.MarkRead(s.f.Path, nil)
				tx.Add(txAdd("t1.parquet"))
			},
			t2:       func(tx *delta.Txn, s setup) { tx.Remove(txRemove(s.f)) },
			conflict: true, want: []string{"G.parquet"},
		},
		{
			name: "MarkRead of another file does not conflict",
			t1: func(tx *delta.Txn, s setup) {
				tx.MarkRead(s.g.Path, nil)
				tx.Add(txAdd("t1.parquet"))
			},
			t2:   func(tx *delta.Txn, s setup) { tx.Remove(txRemove(s.f)) },
			want: []string{"G.parquet", "t1.parquet"},
		},
		{
			name: "MarkReadAll conflicts with a concurrent remove",
			t1: func(tx *delta.Txn, s setup) {
				tx.MarkReadAll()
				tx.Add(txAdd("t1.parquet"))
			},
			t2:       func(tx *delta.Txn, s setup) { tx.Remove(txRemove(s.g)) },
			conflict: true, want: []string{"F.parquet"},
		},
		{
			name: "MarkReadAll does not conflict with a concurrent append",
			t1: func(tx *delta.Txn, s setup) {
				tx.MarkReadAll()
				tx.Add(txAdd("t1.parquet"))
			},
			t2:   func(tx *delta.Txn, s setup) { tx.Add(txAdd("t2.parquet")) },
			want: []string{"F.parquet", "G.parquet", "t1.parquet", "t2.parquet"},
		},
		{
			// PROTOCOL.md, Domain Metadata: "Two overlapping transactions conflict if they both
			// contain a domain metadata action for the same metadata domain."
			name:     "same metadata domain conflicts",
			protocol: txDomainProtocol,
			t1: func(tx *delta.Txn, s setup) {
				tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{"zoom":1}`})
			},
			t2: func(tx *delta.Txn, s setup) {
				tx.SetDomainMetadata(delta.DomainMetadata{Domain: "deltaraster.tiling", Configuration: `{"zoom":2}`})
			},
			conflict: true, want: []string{"F.parquet", "G.parquet"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := txNewTable(t, delta.TableSpec{Protocol: c.protocol}, delta.TxnOptions{})
			st := setup{f: txAdd("F.parquet"), g: txAdd("G.parquet")}
			base := txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(st.f, st.g) })
			t1, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.t1(t1, st)
			if v2 := txCommit(t, s, "T2", func(tx *delta.Txn) { c.t2(tx, st) }); v2 != base+1 {
				t.Fatalf("t2 committed version %d, want %d", v2, base+1)
			}
			v1, err := t1.Commit(ctx, "T1", nil)
			if c.conflict {
				if !errors.Is(err, delta.ErrConflict) {
					t.Errorf("t1: Commit = %d, %v; want an error matching ErrConflict", v1, err)
				}
			} else if err != nil {
				t.Errorf("t1: Commit: %v; want it to retry and succeed at version %d", err, base+2)
			} else if v1 != base+2 {
				t.Errorf("t1 committed version %d, want %d", v1, base+2)
			}
			files, _ := txLiveFiles(t, s)
			txSamePaths(t, files, c.want...)
		})
	}
}
