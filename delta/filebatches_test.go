package delta_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestFileActionBatches: the batches and the actions together are what FileActions streams;
// a batch refused by the consumer comes back as actions; a panic in the consumer is the
// consumer's, not reported as a corrupt checkpoint.
func TestFileActionBatches(t *testing.T) {
	ctx := context.Background()
	dir := testutil.CopyTable(t, filepath.Join(testutil.ConformanceDir(t), "delta-rs", "simple_table_with_checkpoint"))
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for a, err := range snap.FileActions(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		want[pathOf(a)] = a.Add != nil
	}
	for _, accept := range []bool{true, false} {
		got := map[string]bool{}
		batches := 0
		err := snap.FileActionBatches(ctx, func(a delta.Action) error {
			got[pathOf(a)] = a.Add != nil
			return nil
		}, func(b delta.CheckpointBatch) (bool, error) {
			batches++
			if !accept {
				return false, nil
			}
			for i := range b.Rows {
				if !b.Live[i] {
					continue
				}
				if b.Add != nil && b.Add.IsValid(i) {
					got[b.Add.Field(0).ValueStr(i)] = true
				} else {
					got[b.Remove.Field(0).ValueStr(i)] = false
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if batches == 0 || len(got) != len(want) {
			t.Fatalf("accept=%v: %d batches, %d file actions; want %d", accept, batches, len(got), len(want))
		}
		for p, isAdd := range want {
			if g, ok := got[p]; !ok || g != isAdd {
				t.Errorf("accept=%v: %s: got add=%v (present %v), want add=%v", accept, p, g, ok, isAdd)
			}
		}
	}

	defer func() {
		if r := recover(); r != "consumer bug" {
			t.Fatalf("recovered %v, want the consumer's panic", r)
		}
	}()
	err = snap.FileActionBatches(ctx, func(delta.Action) error { return nil },
		func(delta.CheckpointBatch) (bool, error) { panic("consumer bug") })
	var ce *delta.CorruptError
	t.Fatalf("FileActionBatches returned %v (corrupt: %v) instead of panicking", err, errors.As(err, &ce))
}

func pathOf(a delta.Action) string {
	if a.Add != nil {
		return a.Add.Path
	}
	return a.Remove.Path
}
