package maintenance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// deleteFile commits a data-changing remove of a (a DELETE by another writer).
func deleteFile(ctx context.Context, s delta.Store, a *delta.Add) (int64, error) {
	t, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		return -1, err
	}
	size := a.Size
	t.Remove(&delta.Remove{Path: a.Path, DataChange: true, Size: &size, PartitionValues: a.PartitionValues})
	return t.Commit(ctx, "DELETE", nil)
}

func withoutFile(t *testing.T, s delta.Store, want map[tileID]uint64, a *delta.Add) map[tileID]uint64 {
	t.Helper()
	tiles, err := readFile(context.Background(), s, a)
	if err != nil {
		t.Fatal(err)
	}
	out := map[tileID]uint64{}
	for id, d := range want {
		out[id] = d
	}
	for _, tl := range tiles {
		delete(out, idOf(&tl))
	}
	return out
}

// TestOptimizeConcurrentDeleteDropsBin: a file of a bin deleted after the plan drops that bin
// (before it is written, or after, when the delete wins the race for the commit) and the
// other bins are committed.
func TestOptimizeConcurrentDeleteDropsBin(t *testing.T) {
	for _, when := range []string{"before-write", "at-commit"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			mem := memStore(t)
			createTable(t, mem, nil, delta.TxnOptions{})
			want := genTable(t, mem, 7, 24, 1, 24, delta.TxnOptions{})
			var total int64
			for _, a := range liveFiles(t, mem, -1) {
				total += a.Size
			}
			fs := testutil.NewFaultStore(mem)
			plan, err := PlanOptimize(ctx, fs, OptimizeOptions{TargetSize: total / 4, CommitEveryBins: 2})
			if err != nil {
				t.Fatal(err)
			}
			bins := plan.Bins()
			if len(bins) < 4 {
				t.Fatalf("%d bins", len(bins))
			}
			victim := bins[1].Files[1] // in the first step (bins 0 and 1)
			switch when {
			case "before-write":
				if _, err := deleteFile(ctx, mem, victim); err != nil {
					t.Fatal(err)
				}
			case "at-commit":
				// The delete lands just before optimize's first commit attempt: the optimize
				// loses the race for the version, finds the conflict, drops bin 1 and commits
				// bin 0 at the next version.
				var once sync.Once
				fs.Hook = func(_ int64, op testutil.Op, key string) error {
					if op == testutil.OpPutIfAbsent && strings.HasPrefix(key, delta.LogDir) {
						var err error
						once.Do(func() { _, err = deleteFile(ctx, mem, victim) })
						return err
					}
					return nil
				}
			}
			want = withoutFile(t, mem, want, victim)
			m, err := plan.Execute(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.BinsDropped != 1 || m.BinsCommitted != len(bins)-1 {
				t.Fatalf("metrics %+v", m)
			}
			if err := sameTiles(readTable(t, mem, -1), want); err != nil {
				t.Fatal(err)
			}
			// The files of bin 1 other than the victim are still live, untouched.
			live := liveFiles(t, mem, -1)
			for _, a := range bins[1].Files {
				in := slices.ContainsFunc(live, func(b *delta.Add) bool { return b.Path == a.Path })
				if in == (a == victim) {
					t.Fatalf("%s live=%v", a.Path, in)
				}
			}
			// Nothing written for the dropped bin is left behind.
			n := 0
			for o, err := range mem.List(ctx, "", "") {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(o.Key, delta.LogDir) {
					n++
				}
			}
			if want := 24 + int(m.FilesAdded); n != want {
				t.Fatalf("%d data files stored, want %d (24 written + %d added)", n, want, m.FilesAdded)
			}
		})
	}
}

// TestOptimizeStopsOnMetadataChange: a concurrent metadata change stops the optimize with
// ErrTableChanged and leaves the table as it was.
func TestOptimizeStopsOnMetadataChange(t *testing.T) {
	ctx := context.Background()
	s := memStore(t)
	createTable(t, s, nil, delta.TxnOptions{})
	want := genTable(t, s, 8, 10, 1, 10, delta.TxnOptions{})
	plan, err := PlanOptimize(ctx, s, OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	txn, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md := txn.Snapshot().Metadata()
	md.Configuration["delta.appendOnly"] = "false"
	txn.SetMetadata(md)
	if _, err := txn.Commit(ctx, "SET TBLPROPERTIES", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Execute(ctx); !errors.Is(err, ErrTableChanged) {
		t.Fatalf("err %v, want ErrTableChanged", err)
	}
	if err := sameTiles(readTable(t, s, -1), want); err != nil {
		t.Fatal(err)
	}
	if n := len(liveFiles(t, s, -1)); n != 10 {
		t.Fatalf("%d files", n)
	}
}
