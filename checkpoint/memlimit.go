package checkpoint

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A checkpoint's working set is bounded by its options (one batch in, one batch out, one row
// group of encoded pages, a page and a read buffer per column), not by the table: the heap live
// after a collection is the same at 100k and 2M files (bench/RESULTS.md). The Go collector lets
// the heap grow to twice what its last mark found live (GOGC=100), and what the mark finds
// includes what was allocated while it ran; the writer allocates fast (every record batch is
// built anew), so that figure, and with it the peak, wanders with the collector's timing, and a
// long run meets its worst cycles more often. A soft memory limit caps the heap goal instead:
// Options.SoftMemoryLimit sets one derived from the working set for the duration of Write.

// Per-row and fixed allowances of memoryNeed, above what the row groups take. A batch is held
// about four times at once (the reader's record, the rows kept of it, the output builder and
// its growth); the fixed part covers the previous checkpoint's file when it is small enough to
// be read whole (delta reads up to 8 MiB so), the reader's per-chunk buffers, the encoders'
// page buffers and the decompressors.
const (
	needPerRow = 4 << 10
	needFixed  = 24 << 20
)

// memoryNeed is the memory the writer may hold at once with options o: the row group held
// encoded (its buffers grow by doubling, so up to twice RowGroupBytes), a batch of rows a few
// times over, and the fixed buffers.
func memoryNeed(o Options) int64 {
	return 2*o.RowGroupBytes + int64(o.BatchRows)*needPerRow + needFixed
}

// softLimit is the process-wide soft memory limit the running checkpoints set, shared so that
// two at once add their needs and the last one to finish restores the caller's setting.
var softLimit struct {
	sync.Mutex
	active int
	base   int64 // the runtime's own memory and the live heap when the first one started
	need   int64 // sum of the active checkpoints' needs
	raised int64 // added when the live heap came close to the limit (see check)
	// lastCycle is the collection check last looked at; highRun counts the collections in a
	// row that found the live heap near the limit.
	lastCycle uint64
	highRun   int
}

// limitGuard is one Write's share of the soft limit; a nil guard does nothing.
type limitGuard struct{ need int64 }

// startSoftLimit sets the soft memory limit to the memory the Go runtime holds for itself and
// for live objects now, plus memoryNeed(o) (plus that of any other checkpoint running). It does
// nothing, and returns nil, when a limit is already in force: GOMEMLIMIT or the program's own
// debug.SetMemoryLimit take precedence.
func startSoftLimit(o Options) *limitGuard {
	l := &softLimit
	l.Lock()
	defer l.Unlock()
	if l.active == 0 {
		prev := debug.SetMemoryLimit(-1)
		if prev != math.MaxInt64 {
			return nil
		}
		l.base, l.need, l.raised, l.highRun = memoryInUse(), 0, 0, 0
	}
	g := &limitGuard{need: memoryNeed(o)}
	l.active++
	l.need += g.need
	debug.SetMemoryLimit(l.base + l.need + l.raised)
	return g
}

// check raises the limit when the heap found live by highCycles collections in a row comes
// within a quarter of it: the rows are larger than the allowance assumed, and a limit below
// what the writer holds would only make the collector run without end. One collection is not
// enough: what a mark finds live swings with the moment it ran (the transients of a batch,
// what was allocated during the mark), and a raise on one high cycle would undo the cap that
// this limit exists for. Called once a batch.
func (g *limitGuard) check() {
	if g == nil {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	live, cycle := int64(s[0].Value.Uint64()), s[1].Value.Uint64()
	l := &softLimit
	l.Lock()
	defer l.Unlock()
	if cycle == l.lastCycle {
		return
	}
	l.lastCycle = cycle
	limit := l.base + l.need + l.raised
	if live <= limit/4*3 {
		l.highRun = 0
		return
	}
	if l.highRun++; l.highRun >= highCycles {
		l.raised += live*2 - limit
		l.highRun = 0
		debug.SetMemoryLimit(l.base + l.need + l.raised)
	}
}

// highCycles is how many collections in a row must find the live heap near the limit before
// check raises it.
const highCycles = 4

// stop gives back this Write's share; the last one lifts the limit (there was none when the
// first one started: see startSoftLimit).
func (g *limitGuard) stop() {
	if g == nil {
		return
	}
	l := &softLimit
	l.Lock()
	defer l.Unlock()
	l.active--
	l.need -= g.need
	if l.active == 0 {
		debug.SetMemoryLimit(math.MaxInt64)
		return
	}
	debug.SetMemoryLimit(l.base + l.need + l.raised)
}

// memoryInUse is what the Go runtime holds apart from free heap and garbage: its own structures
// and stacks, plus the heap live at the last collection (all objects before the first one).
func memoryInUse() int64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	v := func(i int) int64 { return int64(s[i].Value.Uint64()) }
	live := v(4)
	if live == 0 || live > v(3) {
		live = v(3)
	}
	return v(0) - v(1) - v(2) - v(3) + live
}
