package checkpoint_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// TestPostCommitCRCAfterKill: a writer killed between a commit and its .crc leaves that
// version without one; the hook of the next commits still writes theirs, matching the
// snapshot, with no checkpoint in between (interval 5 with DisableAuto).
//   - one .crc missing: rolled forward from the one before it;
//   - a run of more than ten missing: replayed;
//   - the commit in between written by another engine that re-adds a live file (as a stats
//     recompute does): rolling forward would count that file twice, so it is replayed.
func TestPostCommitCRCAfterKill(t *testing.T) {
	for _, tc := range []struct {
		name   string
		killed []int // commits (1-based) made without the hook
		spark  int   // a commit made by another engine (re-adding a live file), 0: none
	}{
		{"one-missing", []int{4}, 0},
		{"two-apart", []int{3, 6}, 0},
		{"run-of-twelve", []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 0},
		{"foreign-commit", nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, opts, clock := hookTable(t, checkpoint.HookOptions{DisableAuto: true})
			noHook := opts
			noHook.PostCommit = nil
			var live []*delta.Add
			const commits = 16
			missing := map[int64]bool{}
			for n := 1; n <= commits; n++ {
				o := opts
				for _, k := range tc.killed {
					if k == n {
						o = noHook
					}
				}
				if n == tc.spark {
					v := foreignReadd(t, s, live[0], clock)
					missing[v] = true
					continue
				}
				v, err := hookCommit(t, s, o, clock, n, &live)
				if err != nil {
					t.Fatalf("commit %d: %v", n, err)
				}
				if o.PostCommit == nil {
					missing[v] = true
				}
			}
			for v := int64(0); v <= commits; v++ {
				if missing[v] {
					if _, err := s.Stat(ctx, delta.CRCKey(v)); err == nil {
						t.Errorf("version %d, committed without the hook, has a .crc", v)
					}
					continue
				}
				checkCRC(t, s, v)
			}
		})
	}
}

// foreignReadd commits, as another engine would, a re-add of the live file a with
// dataChange=false (a stats recompute), without a .crc, and returns its version.
func foreignReadd(t *testing.T, s delta.Store, a *delta.Add, clock *testClock) int64 {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	v := snap.Version() + 1
	clock.Advance(time.Hour)
	re := *a
	re.DataChange = false
	ci := fmt.Sprintf(`{"commitInfo":{"timestamp":%d,"operation":"ANALYZE STATS","engineInfo":"Apache-Spark/3.5.1 Delta-Lake/3.2.0","isBlindAppend":false}}`, clock.Now().UnixMilli())
	line, err := delta.MarshalAction(delta.Action{Add: &re})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, delta.CommitKey(v), []byte(ci+"\n"+string(line)+"\n")); err != nil {
		t.Fatal(err)
	}
	return v
}
