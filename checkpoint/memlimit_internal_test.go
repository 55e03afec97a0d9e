package checkpoint

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestSoftLimitRaised: when the heap found live comes within a quarter of the soft limit (rows
// larger than the allowance) at highCycles collections in a row, check raises the limit to
// twice the live heap, so the collector is never held below what the writer holds; fewer high
// collections leave it alone.
func TestSoftLimitRaised(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	g := startSoftLimit(Options{BatchRows: 1, RowGroupBytes: 1})
	if g == nil {
		t.Fatal("no limit set although none was in force")
	}
	stopped := false
	defer func() {
		if !stopped {
			g.stop()
		}
	}()
	before := debug.SetMemoryLimit(-1)
	ballast := make([]byte, before) // live, and larger than the limit
	for i := range ballast {
		ballast[i] = 1
	}
	runtime.GC()
	g.check() // one high collection: not yet
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit %d after one high collection, want it unchanged (%d)", got, before)
	}
	for range 4 * highCycles {
		runtime.GC()
		g.check()
	}
	after := debug.SetMemoryLimit(-1)
	runtime.KeepAlive(ballast)
	if after < 2*int64(len(ballast)) {
		t.Fatalf("limit %d after a live heap of %d (limit before %d): want at least twice the live heap", after, len(ballast), before)
	}
	stopped = true
	g.stop()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit after stop = %d, want none", got)
	}
}
