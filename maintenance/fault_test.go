package maintenance

import (
	"context"
	"errors"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestOptimizeInterrupted fails each store operation of an optimize in turn (i = 0, 1, 2, ...
// until the optimize completes without reaching operation i), as a crash there (that
// operation and every later one fail) and as a single failure. After each run the failure
// has surfaced, the table reads with all its data, and an optimize without faults completes.
func TestOptimizeInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
		opts  OptimizeOptions
	}{
		{"crash", true, OptimizeOptions{CommitEveryBins: 1}},
		{"single", false, OptimizeOptions{CommitEveryBins: 1}},
		{"crash-cluster", true, OptimizeOptions{ClusterBy: "quadbin", MaxFanIn: 2, CommitEveryBins: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tmpl := memStore(t)
			createTable(t, tmpl, nil, delta.TxnOptions{})
			want := genTable(t, tmpl, 6, 9, 2, 3, delta.TxnOptions{})
			var total int64
			for _, a := range liveFiles(t, tmpl, -1) {
				total += a.Size
			}
			tc.opts.TargetSize = total / 3
			tc.opts.TempDir = t.TempDir()
			runs := 0
			for i := int64(0); ; i++ {
				s := memStore(t)
				copyStore(t, tmpl, s)
				fs := testutil.NewFaultStore(s)
				fs.WriteBuffer(1 << 20)
				fs.FailAt(i, tc.crash)
				m, err := Optimize(ctx, fs, tc.opts)
				hit, op, key := fs.Hit()
				runs++
				if !hit {
					if err != nil {
						t.Fatalf("no fault, err %v", err)
					}
					if m.BinsCommitted < 3 {
						t.Fatalf("completed run: %+v", m)
					}
					t.Logf("%d runs, the last one without a fault (%d operations)", runs, fs.Ops())
					break
				}
				if err == nil && tc.crash {
					t.Fatalf("fault at operation %d (%s %s) did not surface", i, op, key)
				}
				if err != nil && !errors.Is(err, testutil.ErrInjected) {
					t.Fatalf("fault at operation %d (%s %s): err %v does not wrap the injected fault", i, op, key, err)
				}
				if err := sameTiles(readTable(t, s, -1), want); err != nil {
					t.Fatalf("after a fault at operation %d (%s %s): %v", i, op, key, err)
				}
				for _, v := range m.Versions {
					if _, err := tryReadTable(s, v); err != nil {
						t.Fatalf("after a fault at operation %d (%s %s): version %d: %v", i, op, key, v, err)
					}
				}
				if _, err := Optimize(ctx, s, tc.opts); err != nil {
					t.Fatalf("optimize after a fault at operation %d (%s %s): %v", i, op, key, err)
				}
				if err := sameTiles(readTable(t, s, -1), want); err != nil {
					t.Fatalf("optimize after a fault at operation %d (%s %s): %v", i, op, key, err)
				}
				if i > 2000 {
					t.Fatal("too many operations")
				}
			}
		})
	}
}

// TestVacuumInterrupted fails each store operation of a vacuum in turn. After each run the
// failure has surfaced, every version inside the retention reads completely, the files a
// vacuum must keep are there, and a vacuum without faults completes.
func TestVacuumInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
		mode  VacuumMode
	}{
		{"crash-full", true, VacuumFull},
		{"single-full", false, VacuumFull},
		{"crash-lite", true, VacuumLite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			runs := 0
			for i := int64(0); ; i++ {
				vt := newVacuumTable(t)
				fs := testutil.NewFaultStore(vt.store)
				fs.FailAt(i, tc.crash)
				m, err := Vacuum(ctx, fs, vt.opts(VacuumOptions{Mode: tc.mode, Parallelism: 1}))
				hit, op, key := fs.Hit()
				runs++
				if !hit {
					if err != nil {
						t.Fatalf("no fault, err %v", err)
					}
					t.Logf("%d runs, the last without a fault (%d operations, %d deleted)", runs, fs.Ops(), m.Deleted)
					break
				}
				if err == nil && tc.crash {
					t.Fatalf("fault at operation %d (%s %s) did not surface", i, op, key)
				}
				if err != nil && !errors.Is(err, testutil.ErrInjected) {
					t.Fatalf("fault at operation %d (%s %s): err %v", i, op, key, err)
				}
				vt.checkVersions(t, vt.t0.Add(-DefaultRetention))
				for _, name := range []string{"b", "c", "d", "e", "pending", "_tmp/x.parquet", ".hidden", "sub/_SUCCESS", "_delta_log/junk.parquet"} {
					if !vt.exists(name) {
						t.Fatalf("fault at operation %d (%s %s): %s is gone", i, op, key, name)
					}
				}
				if _, err := Vacuum(ctx, vt.store, vt.opts(VacuumOptions{Mode: tc.mode})); err != nil {
					t.Fatalf("vacuum after a fault at operation %d (%s %s): %v", i, op, key, err)
				}
				if tc.mode == VacuumFull {
					vt.checkRemaining(t, "a", "orphan", "cdc")
				} else {
					vt.checkRemaining(t, "a")
				}
				if i > 500 {
					t.Fatal("too many operations")
				}
			}
		})
	}
}
