package checkpoint_test

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// TestSoftMemoryLimit: with Options.SoftMemoryLimit, Write runs under a soft memory limit at
// least as large as its working-set allowance and restores the one it found; two at once
// restore it after the last; a limit already set (GOMEMLIMIT or the program's) is left alone.
func TestSoftMemoryLimit(t *testing.T) {
	ctx := context.Background()
	s, clock := bigV2Table(t, 3000, 0)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const minNeed = 2*checkpoint.DefaultRowGroupBytes + 64*4<<10 + 24<<20
	limitNow := func() int64 { return debug.SetMemoryLimit(-1) }

	t.Run("set while writing, then restored", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		var during []int64
		for _, format := range []checkpoint.Format{checkpoint.FormatClassic, checkpoint.FormatV2} {
			o := checkpoint.Options{Now: clock.Now, BatchRows: 64, Format: format, SoftMemoryLimit: true,
				Progress: func(int64) { during = append(during, limitNow()) }}
			if _, err := checkpoint.Write(ctx, s, -1, o); err != nil {
				t.Fatal(err)
			}
			if got := limitNow(); got != math.MaxInt64 {
				t.Fatalf("format %d: limit after Write = %d, want none (MaxInt64)", format, got)
			}
			// The next format writes the next version.
			commit(t, s, delta.TxnOptions{Now: clock.Now}, func(tx *delta.Txn) {
				tx.Add(newAdd(fmt.Sprintf("more-%d.parquet", format), 1, clock.Now(), nil))
			})
		}
		if len(during) == 0 {
			t.Fatal("Progress never called")
		}
		for _, l := range during {
			if l == math.MaxInt64 || l < minNeed {
				t.Fatalf("limit during Write = %d, want at least the allowance %d", l, minNeed)
			}
		}
	})

	t.Run("a limit already set is kept", func(t *testing.T) {
		const own = 3 << 30
		debug.SetMemoryLimit(own)
		var during []int64
		o := checkpoint.Options{Now: clock.Now, BatchRows: 64, SoftMemoryLimit: true,
			Progress: func(int64) { during = append(during, limitNow()) }}
		if _, err := checkpoint.Write(ctx, s, -1, o); err != nil {
			t.Fatal(err)
		}
		for _, l := range append(during, limitNow()) {
			if l != own {
				t.Fatalf("limit = %d, want the program's own %d throughout", l, own)
			}
		}
	})

	t.Run("two at once", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = checkpoint.Write(ctx, s, -1, checkpoint.Options{Now: clock.Now, BatchRows: 64, Format: checkpoint.FormatV2, SoftMemoryLimit: true})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := limitNow(); got != math.MaxInt64 {
			t.Fatalf("limit after both = %d, want none (MaxInt64)", got)
		}
	})
}
