package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// errKilled stands for a process killed midway: every operation it would have made after
// fails.
var errKilled = errors.New("killed")

// crashedV2Sidecars runs a V2 checkpoint of version v that dies before its top-level file is
// published and before it can remove its sidecars, and returns the sidecar keys it left.
func crashedV2Sidecars(t *testing.T, s delta.Store, v int64) []string {
	t.Helper()
	had := unreferencedSidecars(t, context.Background(), s)
	fst := testutil.NewFaultStore(s)
	fst.Hook = func(_ int64, op testutil.Op, key string) error {
		top := strings.Contains(key, ".checkpoint.") && !strings.HasPrefix(key, delta.SidecarDir)
		if (op == testutil.OpCreate && top) || op == testutil.OpDelete {
			return errKilled
		}
		return nil
	}
	if _, err := checkpoint.Write(context.Background(), fst, v, checkpoint.Options{Sidecars: 2, Now: func() time.Time { return versionTime(v) }}); !errors.Is(err, errKilled) {
		t.Fatalf("crashed V2 checkpoint: %v", err)
	}
	var left []string
	for _, k := range unreferencedSidecars(t, context.Background(), s) {
		if !slices.Contains(had, k) {
			left = append(left, delta.SidecarDir+k)
		}
	}
	if len(left) != 2 {
		t.Fatalf("the crashed checkpoint left sidecars %v, want 2", left)
	}
	return left
}

// tempFile writes a temporary file as the local store names them (a writer killed before it
// published) at key's place, modified at mt, and returns its key.
func tempFile(t *testing.T, dir, key string, mt time.Time) string {
	t.Helper()
	d, base := filepath.Split(filepath.FromSlash(key))
	name := ".deltaraster-" + base + ".0123456789abcdef.tmp"
	p := filepath.Join(dir, d, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("PAR1 half written"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(filepath.Join(d, name))
}

// TestCleanupCrashLeftovers: metadata cleanup removes what a crash leaves in _delta_log: the
// sidecars of a V2 checkpoint that never got its top-level file, once a day old (even when
// younger than the retention), and the local store's temporary files older than the cutoff;
// with or without a checkpoint to keep. Young ones, referenced sidecars and temporary files
// outside _delta_log stay; a dry run lists the same keys and deletes nothing.
func TestCleanupCrashLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		now      time.Time
		kept     int64
		wantLogs func(f *cleanupFixture) []string // log files and sidecars of old checkpoints
	}{
		// Cutoff 2030-01-11: checkpoint 8 is kept, 0..7 go with checkpoint 4's sidecars.
		{"with-kept-checkpoint", time.Date(2030, 2, 10, 18, 0, 0, 0, time.UTC), 8, func(f *cleanupFixture) []string {
			return append(logKeys(t, f.s, 0, 8), f.sidecars[4]...)
		}},
		// Cutoff 2030-01-03: only commits 0 and 1 are before it, no checkpoint to keep.
		{"no-kept-checkpoint", time.Date(2030, 2, 2, 18, 0, 0, 0, time.UTC), -1, func(*cleanupFixture) []string { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newCleanupFixture(t, true, nil)
			crashed := crashedV2Sidecars(t, f.s, 12)
			for _, k := range crashed {
				f.touch(t, k, tc.now.Add(-2*24*time.Hour)) // a day old, younger than the retention
			}
			young := crashedV2Sidecars(t, f.s, 12)
			for _, k := range young {
				f.touch(t, k, tc.now.Add(-time.Hour))
			}
			old := cleanupT0.Add(-24 * time.Hour) // before every cutoff
			oldTemps := []string{
				tempFile(t, f.dir, delta.CheckpointKey(12), old),
				tempFile(t, f.dir, delta.SidecarDir+"5d2f8a58-0d7c-4a53-8d0e-2c0b8d3e1f00.parquet", old),
				tempFile(t, f.dir, delta.CommitKey(13), old),
			}
			keptTemps := []string{
				tempFile(t, f.dir, delta.CheckpointKey(11), tc.now.Add(-time.Hour)), // a live writer's
				tempFile(t, f.dir, "part-00000-x.parquet", old),                     // not metadata
			}
			want := append(tc.wantLogs(f), crashed...)
			first := slices.IndexFunc(want, func(k string) bool { return strings.HasPrefix(k, delta.SidecarDir) })
			sort.Strings(want[first:]) // sidecars come from one listing, in key order
			sortedTemps := slices.Sorted(slices.Values(oldTemps))
			want = append(want, sortedTemps...)
			before := listLog(t, ctx, f.s)

			dry, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return tc.now }, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if dry.KeptCheckpoint != tc.kept || !slices.Equal(dry.Deleted, want) {
				t.Errorf("dry run: kept %d, deleted\n  %v\nwant kept %d, deleted\n  %v", dry.KeptCheckpoint, dry.Deleted, tc.kept, want)
			}
			for _, k := range append(slices.Clone(oldTemps), crashed...) {
				if _, err := os.Stat(filepath.Join(f.dir, filepath.FromSlash(k))); err != nil {
					t.Errorf("the dry run deleted %s: %v", k, err)
				}
			}

			res, err := checkpoint.CleanupMetadata(ctx, f.s, checkpoint.CleanupOptions{Now: func() time.Time { return tc.now }})
			if err != nil {
				t.Fatal(err)
			}
			if res.KeptCheckpoint != tc.kept || !slices.Equal(res.Deleted, want) {
				t.Errorf("cleanup: kept %d, deleted\n  %v\nwant kept %d, deleted\n  %v", res.KeptCheckpoint, res.Deleted, tc.kept, want)
			}
			for _, k := range append(slices.Clone(oldTemps), crashed...) {
				if _, err := os.Stat(filepath.Join(f.dir, filepath.FromSlash(k))); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s is still there (%v)", k, err)
				}
			}
			for _, k := range append(append(slices.Clone(keptTemps), young...), f.sidecars[8]...) {
				if _, err := os.Stat(filepath.Join(f.dir, filepath.FromSlash(k))); err != nil {
					t.Errorf("%s should be kept: %v", k, err)
				}
			}
			if gone := diffKeys(before, listLog(t, ctx, f.s)); !slices.Equal(gone, sortedCopy(slices.DeleteFunc(slices.Clone(want), func(k string) bool { return strings.Contains(k, "/.deltaraster-") }))) {
				t.Errorf("deleted from the listing: %v", gone)
			}
			if tc.kept < 0 {
				f.checkTimeTravel(t, 0)
			} else {
				f.checkTimeTravel(t, tc.kept)
			}
		})
	}
}
