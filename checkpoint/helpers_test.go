package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// Helpers shared by random_test.go, crash_test.go, hook_test.go and cleanup_test.go.

// testClock is an injected clock that only moves when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// epoch is the start of every test clock: a fixed instant, so runs are reproducible.
var epoch = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func tableSchema(partitioned bool) delta.StructType {
	fields := []delta.StructField{delta.NewField("id", "long"), delta.NewField("name", "string")}
	if partitioned {
		fields = append(fields, delta.NewField("part", "string"))
	}
	return delta.StructType{Fields: fields}
}

// openDir opens the local store of dir and closes it when the test ends.
func openDir(t testing.TB, dir string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), dir)
	if err != nil {
		t.Fatalf("OpenStore(%q): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newDir returns a fresh table directory (not created yet).
func newDir(t testing.TB) string { return filepath.Join(t.TempDir(), "table") }

// commit begins a transaction with opts, lets build fill it, and commits it.
func commit(t testing.TB, s delta.Store, opts delta.TxnOptions, build func(*delta.Txn)) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := delta.Begin(ctx, s, opts)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	build(tx)
	v, err := tx.Commit(ctx, "WRITE", nil)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return v
}

// newAdd makes an add with stats over the test schema.
func newAdd(p string, size int64, now time.Time, part *string) *delta.Add {
	pv := delta.PartitionValues{}
	if part != nil {
		pv["part"] = part
	}
	return &delta.Add{Path: p, PartitionValues: pv, Size: size, ModificationTime: now.UnixMilli(), DataChange: true,
		Stats: fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"name":"a"},"maxValues":{"id":%d,"name":"z"},"nullCount":{"id":0,"name":1}}`, size/10, size, size*2)}
}

// removeOf is the remove of a live add, with its size and partition values, as Spark writes it.
func removeOf(a *delta.Add) *delta.Remove {
	size := a.Size
	ext := true
	return &delta.Remove{Path: a.Path, DataChange: true, ExtendedFileMetadata: &ext,
		PartitionValues: a.PartitionValues, Size: &size, DeletionVector: a.DeletionVector}
}

// observed is what a reader sees of a snapshot through the public API.
type observed struct {
	st  tableState
	lus map[string]int64 // txn lastUpdated by appId (-1 when absent)
}

// observe reads the snapshot's files (Files), tombstones (Tombstones), app transactions,
// protocol and metadata in the comparable form of stateOf.
func observe(t testing.TB, ctx context.Context, snap *delta.Snapshot) observed {
	t.Helper()
	o := observed{st: tableState{Version: snap.Version(), Protocol: snap.Protocol(), Metadata: snap.Metadata(),
		Files: map[string]string{}, Tombstones: map[string]string{}, Txns: map[string]int64{}}, lus: map[string]int64{}}
	norm(&o.st.Protocol)
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatalf("files at version %d: %v", snap.Version(), err)
		}
		k := fileKey(a.Path, a.DeletionVector)
		if _, dup := o.st.Files[k]; dup {
			t.Fatalf("version %d: file %q listed twice", snap.Version(), k)
		}
		o.st.Files[k] = addJSON(*a)
	}
	for r, err := range snap.Tombstones(ctx) {
		if err != nil {
			t.Fatalf("tombstones at version %d: %v", snap.Version(), err)
		}
		k := fileKey(r.Path, r.DeletionVector)
		if _, dup := o.st.Tombstones[k]; dup {
			t.Fatalf("version %d: tombstone %q listed twice", snap.Version(), k)
		}
		o.st.Tombstones[k] = removeJSON(*r)
	}
	txns, err := snap.AppTransactions(ctx)
	if err != nil {
		t.Fatalf("app transactions at version %d: %v", snap.Version(), err)
	}
	for id, x := range txns {
		o.st.Txns[id] = x.Version
		o.lus[id] = -1
		if x.LastUpdated != nil {
			o.lus[id] = *x.LastUpdated
		}
	}
	return o
}

// observeAt opens the table at version v (latest when v < 0) and observes it.
func observeAt(t testing.TB, ctx context.Context, s delta.Store, v int64) observed {
	t.Helper()
	var opts []delta.SnapshotOption
	if v >= 0 {
		opts = append(opts, delta.AtVersion(v))
	}
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		t.Fatalf("open at version %d: %v", v, err)
	}
	return observe(t, ctx, snap)
}

func addJSON(a delta.Add) string {
	a.DataChange = false // checkpoints may rewrite dataChange
	b, _ := json.Marshal(a)
	return string(b)
}

func removeJSON(r delta.Remove) string {
	r.DataChange = false
	r.Stats = "" // checkpoints keep no stats of tombstones
	b, _ := json.Marshal(r)
	return string(b)
}

// diffObserved is diffState plus the txns' lastUpdated.
func diffObserved(got, want observed) string {
	if d := diffState(got.st, want.st); d != "" {
		return d
	}
	if !reflect.DeepEqual(got.lus, want.lus) {
		return fmt.Sprintf("txn lastUpdated %v vs %v", got.lus, want.lus)
	}
	return ""
}

// listLog returns the keys under _delta_log (sidecars included), sorted.
func listLog(t testing.TB, ctx context.Context, s delta.Store) []string {
	t.Helper()
	var keys []string
	for o, err := range s.List(ctx, delta.LogDir, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

// readHint reads and checks _last_checkpoint: it must parse and its checksum must match.
func readHint(t testing.TB, ctx context.Context, s delta.Store) (delta.LastCheckpoint, bool) {
	t.Helper()
	b, err := delta.ReadAll(ctx, s, delta.LastCheckpointKey)
	if err != nil {
		return delta.LastCheckpoint{}, false
	}
	lc, err := delta.ParseLastCheckpoint(b)
	if err != nil {
		t.Fatalf("_last_checkpoint %s: %v", b, err)
	}
	sum, err := delta.LastCheckpointChecksum(b)
	if err != nil || sum != lc.Checksum {
		t.Fatalf("_last_checkpoint checksum %q, computed %q (%v): %s", lc.Checksum, sum, err, b)
	}
	return lc, true
}
