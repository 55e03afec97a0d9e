package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// cleanupT0 is the modification time of version 0's files; version v's are v days later.
var cleanupT0 = time.Date(2030, 1, 1, 6, 0, 0, 0, time.UTC)

func versionTime(v int64) time.Time { return cleanupT0.Add(time.Duration(v) * 24 * time.Hour) }

// cleanupFixture is a table of versions 0 to 12 with a .crc for every version, checkpoints
// at 4 and 8 (V2 with two sidecars each when v2; the upgrade is version 1), and every log
// file of version v (its sidecars included) modified at versionTime(v).
type cleanupFixture struct {
	dir      string
	s        delta.Store
	sidecars map[int64][]string // checkpoint version -> sidecar keys
	states   map[int64]observed
}

func newCleanupFixture(t *testing.T, v2 bool, conf map[string]string) *cleanupFixture {
	t.Helper()
	ctx := context.Background()
	f := &cleanupFixture{dir: newDir(t), sidecars: map[int64][]string{}, states: map[int64]observed{}}
	f.s = openDir(t, f.dir)
	clock := newTestClock(cleanupT0)
	opts := delta.TxnOptions{Now: clock.Now, PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{DisableAuto: true})}
	if _, err := delta.CreateTable(ctx, f.s, delta.TableSpec{Schema: tableSchema(false), Configuration: conf}, opts); err != nil {
		t.Fatal(err)
	}
	var live []*delta.Add
	for v := int64(1); v <= 12; v++ {
		clock.Advance(24 * time.Hour)
		if v == 1 && v2 {
			if _, err := checkpoint.EnableV2(ctx, f.s, opts); err != nil {
				t.Fatal(err)
			}
			continue
		}
		commit(t, f.s, opts, func(tx *delta.Txn) {
			a := newAdd(fmt.Sprintf("f-%02d.parquet", v), 100+v, clock.Now(), nil)
			tx.Add(a)
			live = append(live, a)
			if v%3 == 0 {
				tx.Remove(removeOf(live[0]))
				live = live[1:]
			}
		})
		if v == 4 || v == 8 {
			res, err := checkpoint.Write(ctx, f.s, v, checkpoint.Options{Now: clock.Now, Sidecars: 2})
			if err != nil {
				t.Fatal(err)
			}
			if v2 != (res.Format == "v2") {
				t.Fatalf("checkpoint format %s", res.Format)
			}
			if v2 {
				f.sidecars[v] = res.Keys[:len(res.Keys)-1]
			}
		}
	}
	for _, key := range listLog(t, ctx, f.s) {
		lf, ok := delta.ParseLogKey(key)
		if !ok {
			continue
		}
		f.touch(t, key, versionTime(lf.Version))
	}
	for v, keys := range f.sidecars {
		for _, k := range keys {
			f.touch(t, k, versionTime(v))
		}
	}
	for v := int64(0); v <= 12; v++ {
		f.states[v] = observeAt(t, ctx, f.s, v)
	}
	return f
}

func (f *cleanupFixture) touch(t *testing.T, key string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(f.dir, filepath.FromSlash(key)), mt, mt); err != nil {
		t.Fatal(err)
	}
}

// orphanSidecar writes an unreferenced sidecar modified at mt and returns its key.
func (f *cleanupFixture) orphanSidecar(t *testing.T, mt time.Time) string {
	t.Helper()
	key := delta.SidecarDir + uuid.NewString() + ".parquet"
	if err := f.s.Put(context.Background(), key, []byte("PAR1 not really PAR1")); err != nil {
		t.Fatal(err)
	}
	f.touch(t, key, mt)
	return key
}

// logKeys are the keys of the commit, .crc and checkpoint files of versions [from, to).
func logKeys(t *testing.T, s delta.Store, from, to int64) []string {
	t.Helper()
	var out []string
	for _, k := range listLog(t, context.Background(), s) {
		if lf, ok := delta.ParseLogKey(k); ok && lf.Kind != delta.KindLastCheckpoint && lf.Version >= from && lf.Version < to {
			out = append(out, k)
		}
	}
	return out
}

// checkTimeTravel: every version from kept on opens with the state it had; every earlier
// one is ErrVersionNotFound.
func (f *cleanupFixture) checkTimeTravel(t *testing.T, kept int64) {
	t.Helper()
	ctx := context.Background()
	for v := int64(0); v <= 12; v++ {
		snap, err := delta.Open(ctx, f.s, delta.AtVersion(v))
		if v < kept {
			if !errors.Is(err, delta.ErrVersionNotFound) {
				t.Errorf("version %d, before the kept checkpoint %d: err %v, want ErrVersionNotFound", v, kept, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("version %d: %v", v, err)
			continue
		}
		if d := diffObserved(observe(t, ctx, snap), f.states[v]); d != "" {
			t.Errorf("version %d after cleanup: %s", v, d)
		}
	}
	if d := diffObserved(observeAt(t, ctx, f.s, -1), f.states[12]); d != "" {
		t.Errorf("latest after cleanup: %s", d)
	}
}

func TestCleanupMetadata(t *testing.T) {
	// now - 30 days = 2030-01-11 18:00, truncated to 2030-01-11: commits 0..9 are at or before
	// it, and 8 is the newest checkpoint at or before commit 9.
	now := time.Date(2030, 2, 10, 18, 0, 0, 0, time.UTC)
	wantCutoff := time.Date(2030, 1, 11, 0, 0, 0, 0, time.UTC)
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			ctx := context.Background()
			f := newCleanupFixture(t, v2, nil)
			// A .crc of an old version modified recently is younger than the retention: kept.
			f.touch(t, delta.CRCKey(6), now.Add(-time.Hour))
			var orphanOld string
			if v2 {
				orphanOld = f.orphanSidecar(t, versionTime(2))
			}
			want := slices.DeleteFunc(logKeys(t, f.s, 0, 8), func(k string) bool { return k == delta.CRCKey(6) })
			if v2 {
				sc := append(slices.Clone(f.sidecars[4]), orphanOld)
				sort.Strings(sc)
				want = append(want, sc...)
			}
			before := listLog(t, ctx, f.s)

			// A dry run lists the same keys and deletes nothing.
			dry, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now }, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if !dry.DryRun || dry.KeptCheckpoint != 8 || !dry.Cutoff.Equal(wantCutoff) || !slices.Equal(dry.Deleted, want) {
				t.Errorf("dry run: %+v\nwant kept 8, cutoff %s, deleted\n  %v", dry, wantCutoff, want)
			}
			if got := listLog(t, ctx, f.s); !slices.Equal(got, before) {
				t.Fatalf("the dry run deleted %v", diffKeys(before, got))
			}

			var progress []int
			res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now },
				Progress: func(done, total int) { progress = append(progress, done, total) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.DryRun || res.KeptCheckpoint != 8 || !res.Cutoff.Equal(wantCutoff) || !slices.Equal(res.Deleted, want) {
				t.Errorf("cleanup: %+v\nwant kept 8, cutoff %s, deleted\n  %v", res, wantCutoff, want)
			}
			if len(progress) != 2*len(want) || progress[len(progress)-2] != len(want) {
				t.Errorf("progress calls %v for %d deletions", progress, len(want))
			}
			if gone := diffKeys(before, listLog(t, ctx, f.s)); !slices.Equal(gone, sortedCopy(want)) {
				t.Errorf("deleted from the store:\n  %v\nwant\n  %v", gone, sortedCopy(want))
			}
			for _, k := range f.sidecars[8] {
				if _, err := f.s.Stat(ctx, k); err != nil {
					t.Errorf("referenced sidecar %s: %v", k, err)
				}
			}
			f.checkTimeTravel(t, 8)

			// A second run finds nothing more to do.
			again, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now }})
			if err != nil || len(again.Deleted) != 0 {
				t.Errorf("second run: %+v, %v", again, err)
			}
		})
	}
}

// TestCleanupTableRetention: without CleanupOptions.Retention the table's
// delta.logRetentionDuration decides.
func TestCleanupTableRetention(t *testing.T) {
	ctx := context.Background()
	f := newCleanupFixture(t, false, map[string]string{"delta.logRetentionDuration": "interval 35 days"})
	// now - 35 days = 2030-01-06 18:00 -> 2030-01-06: commits 0..4, checkpoint 4.
	now := time.Date(2030, 2, 10, 18, 0, 0, 0, time.UTC)
	want := logKeys(t, f.s, 0, 4) // commits and .crc of 0..3
	res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeptCheckpoint != 4 || !res.Cutoff.Equal(time.Date(2030, 1, 6, 0, 0, 0, 0, time.UTC)) || !slices.Equal(res.Deleted, want) {
		t.Errorf("cleanup: %+v\nwant kept 4, deleted\n  %v", res, want)
	}
	f.checkTimeTravel(t, 4)
}

// TestCleanupNothingBeforeCutoff: no complete checkpoint at or before the newest commit older
// than the cutoff: nothing is deleted.
func TestCleanupNothingBeforeCutoff(t *testing.T) {
	ctx := context.Background()
	f := newCleanupFixture(t, false, nil)
	before := listLog(t, ctx, f.s)
	// now - 30 days = 2030-01-03 18:00 -> 2030-01-03: commits 0..1 only, no checkpoint.
	now := time.Date(2030, 2, 2, 18, 0, 0, 0, time.UTC)
	for _, dry := range []bool{true, false} {
		res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now }, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if res.KeptCheckpoint != -1 || len(res.Deleted) != 0 {
			t.Errorf("dry run %v: %+v, want nothing", dry, res)
		}
	}
	// A clock before every commit: nothing either.
	res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return cleanupT0 }})
	if err != nil || res.KeptCheckpoint != -1 || len(res.Deleted) != 0 {
		t.Errorf("clock before the table: %+v, %v", res, err)
	}
	if got := listLog(t, ctx, f.s); !slices.Equal(got, before) {
		t.Errorf("deleted %v", diffKeys(before, got))
	}
	f.checkTimeTravel(t, 0)
}

// TestCleanupSidecarGrace: with a retention under a day, an unreferenced sidecar older than
// the cutoff but younger than a day is kept (a V2 checkpoint being written has sidecars its
// top-level file does not name yet); one older than a day is deleted; referenced ones stay.
func TestCleanupSidecarGrace(t *testing.T) {
	ctx := context.Background()
	f := newCleanupFixture(t, true, nil)
	now := time.Date(2030, 1, 20, 18, 0, 0, 0, time.UTC) // cutoff (1 hour): 2030-01-20 00:00
	young := f.orphanSidecar(t, now.Add(-20*time.Hour))  // 2030-01-19 22:00: before the cutoff
	old := f.orphanSidecar(t, now.Add(-3*24*time.Hour))
	sc := append(slices.Clone(f.sidecars[4]), old)
	sort.Strings(sc)
	want := append(logKeys(t, f.s, 0, 8), sc...)
	res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return now }, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeptCheckpoint != 8 || !slices.Equal(res.Deleted, want) {
		t.Errorf("cleanup: %+v\nwant kept 8, deleted\n  %v", res, want)
	}
	for _, k := range append([]string{young}, f.sidecars[8]...) {
		if _, err := f.s.Stat(ctx, k); err != nil {
			t.Errorf("sidecar %s should be kept: %v", k, err)
		}
	}
	f.checkTimeTravel(t, 8)
}

func diffKeys(before, after []string) []string {
	var gone []string
	for _, k := range before {
		if !slices.Contains(after, k) {
			gone = append(gone, k)
		}
	}
	return gone
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
