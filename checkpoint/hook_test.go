package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// hookTable creates a table whose every commit runs checkpoint.PostCommit with ho, version 0
// included, with delta.checkpointInterval=5.
func hookTable(t *testing.T, ho checkpoint.HookOptions) (delta.Store, delta.TxnOptions, *testClock) {
	t.Helper()
	s := openDir(t, newDir(t))
	clock := newTestClock(epoch)
	ho.Checkpoint.Now = clock.Now
	opts := delta.TxnOptions{Now: clock.Now, PostCommit: checkpoint.PostCommit(ho)}
	spec := delta.TableSpec{Schema: tableSchema(true), PartitionColumns: []string{"part"},
		Configuration: map[string]string{"delta.checkpointInterval": "5"}}
	if _, err := delta.CreateTable(context.Background(), s, spec, opts); err != nil {
		t.Fatal(err)
	}
	return s, opts, clock
}

// hookCommit makes commit number n (1-based) of a history of adds, removes (with sizes), a
// deletion-vector update and app transactions; live holds the files added and not removed.
func hookCommit(t *testing.T, s delta.Store, opts delta.TxnOptions, clock *testClock, n int, live *[]*delta.Add) (int64, error) {
	t.Helper()
	clock.Advance(time.Hour)
	tx, err := delta.Begin(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	part := fmt.Sprintf("p%d", n%2)
	for i := range 2 {
		a := newAdd(fmt.Sprintf("part=%s/f-%02d-%d.parquet", part, n, i), int64(100*n+i), clock.Now(), &part)
		tx.Add(a)
		*live = append(*live, a)
	}
	switch {
	case n%3 == 0:
		r := (*live)[0]
		*live = (*live)[1:]
		tx.Remove(removeOf(r))
	case n%4 == 0:
		tx.SetAppTransaction("app", int64(n))
	}
	return tx.Commit(context.Background(), "WRITE", nil)
}

// checkpointVersions lists the versions that have a checkpoint file.
func checkpointVersions(t *testing.T, s delta.Store) []int64 {
	t.Helper()
	var out []int64
	for _, k := range listLog(t, context.Background(), s) {
		if f, ok := delta.ParseLogKey(k); ok && f.IsCheckpoint() && !slices.Contains(out, f.Version) {
			out = append(out, f.Version)
		}
	}
	return out
}

// checkCRC compares the .crc of v with the snapshot at v.
func checkCRC(t *testing.T, s delta.Store, v int64) {
	t.Helper()
	ctx := context.Background()
	c, ok, err := delta.ReadCRC(ctx, s, v)
	if err != nil || !ok {
		t.Fatalf("version %d: .crc present %v, err %v", v, ok, err)
	}
	snap, err := delta.Open(ctx, s, delta.AtVersion(v))
	if err != nil {
		t.Fatal(err)
	}
	var n, size int64
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		size += a.Size
	}
	if c.NumFiles != n || c.TableSizeBytes != size {
		t.Errorf("version %d: .crc has %d files, %d bytes; the snapshot %d, %d", v, c.NumFiles, c.TableSizeBytes, n, size)
	}
	if got, ok := c.NumRecords(v); ok {
		if want, known := snapshotRecords(t, snap); !known || got != want {
			t.Errorf("version %d: .crc has %d records; the snapshot %d (known %v)", v, got, want, known)
		}
	}
	gp, wp := c.Protocol, snap.Protocol()
	norm(&gp)
	norm(&wp)
	gm, wm := c.Metadata, snap.Metadata()
	if d := diffState(tableState{Protocol: gp, Metadata: gm}, tableState{Protocol: wp, Metadata: wm}); d != "" {
		t.Errorf("version %d: .crc vs snapshot: %s", v, d)
	}
	txns, err := snap.AppTransactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, x := range c.SetTransactions {
		got[x.AppID] = x.Version
	}
	want := map[string]int64{}
	for id, x := range txns {
		want[id] = x.Version
	}
	if !maps.Equal(got, want) {
		t.Errorf("version %d: .crc txns %v, snapshot %v", v, got, want)
	}
}

// TestPostCommitHook: with delta.checkpointInterval=5, twelve commits after the create give
// checkpoints at 5 and 10 and a .crc for every version, each matching the snapshot; with
// DisableAuto the .crc files and no checkpoint; a change of the interval takes effect from the
// commit that makes it.
func TestPostCommitHook(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ho      checkpoint.HookOptions
		change  bool // commit 7 sets delta.checkpointInterval=3
		wantCPs []int64
	}{
		{"interval-5", checkpoint.HookOptions{}, false, []int64{5, 10}},
		{"disable-auto", checkpoint.HookOptions{DisableAuto: true}, false, nil},
		{"interval-changes-to-3", checkpoint.HookOptions{}, true, []int64{5, 9, 12}},
		{"v2-sidecars", checkpoint.HookOptions{Checkpoint: checkpoint.Options{Sidecars: 3, BatchRows: 2}}, false, []int64{5, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, opts, clock := hookTable(t, tc.ho)
			if tc.name == "v2-sidecars" {
				if _, err := checkpoint.EnableV2(ctx, s, opts); err != nil {
					t.Fatal(err)
				}
			}
			var live []*delta.Add
			for n := 1; ; n++ {
				snap, err := delta.Open(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Version() == 12 {
					break
				}
				if tc.change && snap.Version() == 6 {
					m := snap.Metadata()
					m.Configuration = maps.Clone(m.Configuration)
					m.Configuration["delta.checkpointInterval"] = "3"
					if _, err := func() (int64, error) {
						tx, err := delta.Begin(ctx, s, opts)
						if err != nil {
							return 0, err
						}
						tx.SetMetadata(m)
						return tx.Commit(ctx, "SET TBLPROPERTIES", nil)
					}(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if _, err := hookCommit(t, s, opts, clock, n, &live); err != nil {
					t.Fatalf("commit %d: %v", n, err)
				}
			}
			if got := checkpointVersions(t, s); !slices.Equal(got, tc.wantCPs) {
				t.Errorf("checkpoints at %v, want %v", got, tc.wantCPs)
			}
			for v := int64(0); v <= 12; v++ {
				checkCRC(t, s, v)
			}
			if lc, ok := readHint(t, ctx, s); len(tc.wantCPs) > 0 && (!ok || lc.Version != tc.wantCPs[len(tc.wantCPs)-1]) {
				t.Errorf("_last_checkpoint names %d (present %v), want %d", lc.Version, ok, tc.wantCPs[len(tc.wantCPs)-1])
			}
		})
	}
}

// TestPostCommitMalformedCRC: a malformed .crc of the previous version is not used: nothing
// is derived from it, the commits do not fail, and the next versions get a .crc from the one
// before it rolled forward, which matches their snapshots; the malformed one is left alone.
func TestPostCommitMalformedCRC(t *testing.T) {
	for _, bad := range []string{`{"numFiles": 3`, `{"numFiles": 3, "tableSizeBytes": 10}`, ``} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			ctx := context.Background()
			s, opts, clock := hookTable(t, checkpoint.HookOptions{DisableAuto: true})
			var live []*delta.Add
			for n := 1; n <= 2; n++ {
				if _, err := hookCommit(t, s, opts, clock, n, &live); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Put(ctx, delta.CRCKey(2), []byte(bad)); err != nil {
				t.Fatal(err)
			}
			for n := 3; n <= 4; n++ {
				v, err := hookCommit(t, s, opts, clock, n, &live)
				if err != nil || v != int64(n) {
					t.Fatalf("commit %d after a malformed .crc: version %d, %v", n, v, err)
				}
				checkCRC(t, s, v)
			}
			if b, err := delta.ReadAll(ctx, s, delta.CRCKey(2)); err != nil || string(b) != bad {
				t.Errorf("the malformed .crc was changed: %q, %v", b, err)
			}
		})
	}
}

// TestCRCNeverOverwritten: a .crc already there (written by another writer) is left as it is,
// by the hook and by checkpoint.Write.
func TestCRCNeverOverwritten(t *testing.T) {
	ctx := context.Background()
	s, opts, clock := hookTable(t, checkpoint.HookOptions{})
	var live []*delta.Add
	for n := 1; n <= 2; n++ {
		if _, err := hookCommit(t, s, opts, clock, n, &live); err != nil {
			t.Fatal(err)
		}
	}
	// Versions 3 and 5 (a checkpoint version) get their .crc from someone else first.
	sentinel := map[int64][]byte{}
	for _, v := range []int64{3, 5} {
		c, ok, err := delta.ReadCRC(ctx, s, 2)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		c.TxnID = fmt.Sprintf("written-by-another-writer-%d", v)
		b, _ := json.Marshal(c)
		if err := s.PutIfAbsent(ctx, delta.CRCKey(v), b); err != nil {
			t.Fatal(err)
		}
		sentinel[v] = b
	}
	for n := 3; n <= 5; n++ {
		if _, err := hookCommit(t, s, opts, clock, n, &live); err != nil {
			t.Fatalf("commit %d: %v", n, err)
		}
	}
	if got := checkpointVersions(t, s); !slices.Equal(got, []int64{5}) {
		t.Fatalf("checkpoints at %v, want [5]", got)
	}
	if _, err := checkpoint.Write(ctx, s, 3, checkpoint.Options{Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	for v, want := range sentinel {
		if b, err := delta.ReadAll(ctx, s, delta.CRCKey(v)); err != nil || string(b) != string(want) {
			t.Errorf("version %d: .crc overwritten:\n  %s\nwant\n  %s", v, b, want)
		}
	}
}

// snapshotRecords sums the rows of the snapshot's live files; known is false when a file's
// stats have no numRecords.
func snapshotRecords(t *testing.T, snap *delta.Snapshot) (n int64, known bool) {
	t.Helper()
	known = true
	for a, err := range snap.Files(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		r, ok, err := delta.FileRecords(a.Stats, a.DeletionVector)
		if err != nil {
			t.Fatal(err)
		}
		known = known && ok
		n += r
	}
	return n, known
}

// TestCRCRecords: the .crc of every version carries the table's row count (this library's
// extension, stamped with its version) while every add and remove has numRecords in its
// stats: through adds, removes with stats, and a checkpoint; a remove without stats makes it
// unknown, and it stays absent from the .crc files derived from that one; a .crc written from a
// replay (no .crc to start from) has it again. Each present count equals the snapshot's.
func TestCRCRecords(t *testing.T) {
	ctx := context.Background()
	s, opts, clock := hookTable(t, checkpoint.HookOptions{})
	var live []*delta.Add
	added := 0
	commit := func(removeStats bool, adds int) int64 {
		t.Helper()
		clock.Advance(time.Hour)
		tx, err := delta.Begin(ctx, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		part := "p0"
		for i := range adds {
			a := newAdd(fmt.Sprintf("part=p0/r-%d.parquet", added), int64(100+10*added+i), clock.Now(), &part)
			added++
			tx.Add(a)
			live = append(live, a)
		}
		if len(live) > 3 {
			r := removeOf(live[0])
			if removeStats {
				r.Stats = live[0].Stats
			}
			live = live[1:]
			tx.Remove(r)
		}
		v, err := tx.Commit(ctx, "WRITE", nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	records := func(v int64) (int64, bool) {
		t.Helper()
		c, ok, err := delta.ReadCRC(ctx, s, v)
		if err != nil || !ok {
			t.Fatalf("version %d: .crc present %v, %v", v, ok, err)
		}
		checkCRC(t, s, v)
		return c.NumRecords(v)
	}
	if _, ok := records(0); !ok {
		t.Errorf("version 0: no row count in the .crc")
	}
	// Versions 1..6: adds, then removes with stats; a checkpoint at 5 (interval 5).
	for range 6 {
		if v := commit(true, 2); !func() bool { _, ok := records(v); return ok }() {
			t.Errorf("version %d: no row count in the .crc", v)
		}
	}
	if got := checkpointVersions(t, s); !slices.Equal(got, []int64{5}) {
		t.Fatalf("checkpoints at %v, want [5]", got)
	}
	// A remove without stats: unknown from then on.
	for i, removeStats := range []bool{false, true} {
		if v := commit(removeStats, 1); func() bool { _, ok := records(v); return ok }() {
			t.Errorf("version %d (%d after a remove without stats): a row count in the .crc", v, i)
		}
	}
	// Every .crc lost (none to roll forward from): the next is written from a replay, with the
	// count again.
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for v := range snap.Version() + 1 {
		if err := s.Delete(ctx, delta.CRCKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	if v := commit(true, 1); !func() bool { _, ok := records(v); return ok }() {
		t.Errorf("version %d (written from a replay): no row count in the .crc", v)
	}
}
