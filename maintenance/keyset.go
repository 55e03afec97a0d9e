package maintenance

import (
	"bufio"
	"container/heap"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
)

// sortedRuns collects entries and yields them sorted by their normal form (spillEntry.norm),
// in the byte order of strings.Compare, which is the order of store listings. Up to limit
// entries (and runMemBytes) are kept in memory; past that they are sorted and written as a run to a temporary
// file, and All merges the runs. Memory is O(limit) however many entries are added; All can
// be called any number of times. Duplicates are yielded as often as they were added.
type sortedRuns struct {
	dir   string
	limit int
	mem   []spillEntry
	bytes int64 // memory of the entries in mem (keys and entry headers)
	peak  int64 // the largest bytes seen
	runs  []keyRun
	n     int64
	buf   []byte
}

// keyRun is a sorted run in a temporary file (already unlinked: the open file is all there is).
type keyRun struct {
	f *os.File
	n int64
}

// maxRuns is how many runs may wait before they are merged into one, which bounds the files
// open and the read buffers of a merge (runReadBuffer each).
const maxRuns = 64

const runReadBuffer = 64 << 10

// runMemBytes bounds the memory of the entries kept in memory, whatever their count: a run is
// written once they take this much (about 30,000 keys of 75 bytes).
const runMemBytes = 4 << 20

// entryBytes approximates the memory of an entry in mem: the struct and its strings.
func entryBytes(e spillEntry) int64 {
	n := int64(len(e.Key)) + 64
	if e.Norm != e.Key {
		n += int64(len(e.Norm))
	}
	return n
}

func newSortedRuns(dir string, limit int) *sortedRuns {
	return &sortedRuns{dir: dir, limit: max(limit, 1)}
}

// Len is the number of entries added.
func (s *sortedRuns) Len() int64 { return s.n }

// Runs is the number of runs written to temporary files so far.
func (s *sortedRuns) Runs() int { return len(s.runs) }

// PeakBytes is the most memory the entries held in memory took at once.
func (s *sortedRuns) PeakBytes() int64 { return s.peak }

// Add adds e. Its strings are copied: a key read from the log may share the memory of a whole
// decoded batch, which must not stay alive for the sake of one key.
func (s *sortedRuns) Add(e spillEntry) error {
	s.n++
	e.Key, e.Norm = strings.Clone(e.Key), strings.Clone(e.Norm)
	s.mem = append(s.mem, e)
	s.bytes += entryBytes(e)
	s.peak = max(s.peak, s.bytes)
	if len(s.mem) >= s.limit || s.bytes >= runMemBytes {
		return s.spill()
	}
	return nil
}

func compareNorm(a, b spillEntry) int { return strings.Compare(a.norm(), b.norm()) }

// spill sorts the entries in memory and writes them as a run.
func (s *sortedRuns) spill() error {
	if len(s.mem) == 0 {
		return nil
	}
	slices.SortFunc(s.mem, compareNorm)
	r, err := s.writeRun(slices.Values(s.mem), int64(len(s.mem)))
	if err != nil {
		return err
	}
	clear(s.mem)
	s.mem, s.bytes = s.mem[:0], 0
	s.runs = append(s.runs, r)
	if len(s.runs) >= maxRuns {
		return s.compact()
	}
	return nil
}

// compact merges every run into one.
func (s *sortedRuns) compact() error {
	var n int64
	for _, r := range s.runs {
		n += r.n
	}
	var merr error
	merged := func(yield func(spillEntry) bool) {
		for e, err := range mergeRuns(s.runs, nil) {
			if err != nil {
				merr = err
				return
			}
			if !yield(e) {
				return
			}
		}
	}
	r, err := s.writeRun(merged, n)
	if merr != nil {
		if err == nil {
			r.f.Close()
		}
		return merr
	}
	if err != nil {
		return err
	}
	for _, old := range s.runs {
		old.f.Close()
	}
	s.runs = []keyRun{r}
	return nil
}

// writeRun writes n entries, sorted, to a new temporary file, unlinked as soon as it is
// created so that nothing is left behind if the process dies.
func (s *sortedRuns) writeRun(entries iter.Seq[spillEntry], n int64) (keyRun, error) {
	f, err := createUnlinked(s.dir, "deltaraster-vacuum-*")
	if err != nil {
		return keyRun{}, fmt.Errorf("spill sorted vacuum keys: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var written int64
	for e := range entries {
		s.buf = appendSpill(s.buf[:0], e)
		if _, err := w.Write(s.buf); err != nil {
			f.Close()
			return keyRun{}, fmt.Errorf("spill sorted vacuum keys: %w", err)
		}
		written++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return keyRun{}, fmt.Errorf("spill sorted vacuum keys: %w", err)
	}
	if written != n {
		f.Close()
		return keyRun{}, fmt.Errorf("spill sorted vacuum keys: merged %d of %d entries", written, n)
	}
	return keyRun{f: f, n: n}, nil
}

// All yields the entries sorted by normal form. The entries still in memory are sorted in
// place and merged with the runs.
func (s *sortedRuns) All() iter.Seq2[spillEntry, error] {
	slices.SortFunc(s.mem, compareNorm)
	return mergeRuns(s.runs, s.mem)
}

// mergeRuns merges sorted runs and a sorted slice into one sorted sequence.
func mergeRuns(runs []keyRun, mem []spillEntry) iter.Seq2[spillEntry, error] {
	return func(yield func(spillEntry, error) bool) {
		if len(runs) == 0 {
			for _, e := range mem {
				if !yield(e, nil) {
					return
				}
			}
			return
		}
		h := make(mergeHeap, 0, len(runs)+1)
		for _, r := range runs {
			c := &runCursor{r: bufio.NewReaderSize(io.NewSectionReader(r.f, 0, 1<<62), runReadBuffer), left: r.n}
			ok, err := c.next()
			if err != nil {
				yield(spillEntry{}, err)
				return
			}
			if ok {
				h = append(h, c)
			}
		}
		if len(mem) > 0 {
			c := &runCursor{mem: mem}
			c.next()
			h = append(h, c)
		}
		heap.Init(&h)
		for len(h) > 0 {
			c := h[0]
			if !yield(c.cur, nil) {
				return
			}
			ok, err := c.next()
			if err != nil {
				yield(spillEntry{}, err)
				return
			}
			if ok {
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
	}
}

// runCursor reads one run (r, left entries) or walks one slice (mem).
type runCursor struct {
	r    *bufio.Reader
	left int64
	mem  []spillEntry
	cur  spillEntry
	key  []byte
}

func (c *runCursor) next() (bool, error) {
	if c.r == nil {
		if len(c.mem) == 0 {
			return false, nil
		}
		c.cur, c.mem = c.mem[0], c.mem[1:]
		return true, nil
	}
	if c.left == 0 {
		return false, nil
	}
	e, err := readSpill(c.r, &c.key)
	if err != nil {
		return false, fmt.Errorf("read sorted vacuum keys: %w", err)
	}
	c.left--
	c.cur = e
	return true, nil
}

type mergeHeap []*runCursor

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].cur.norm() < h[j].cur.norm() }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*runCursor)) }
func (h *mergeHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// Close closes the runs' files (already unlinked) and drops the entries in memory.
func (s *sortedRuns) Close() error {
	var first error
	for _, r := range s.runs {
		if err := r.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.runs, s.mem = nil, nil
	return first
}

// keyCursor walks a sorted sequence of keys (normal forms) forward, for merging it with
// another sorted sequence: Seek(k) reports whether k is in the sequence, for k at least the
// previous key sought. It counts the distinct keys it passes.
type keyCursor struct {
	next     func() (spillEntry, error, bool)
	stop     func()
	cur      string
	ok       bool
	err      error
	distinct int
	started  bool
}

func newKeyCursor(seq iter.Seq2[spillEntry, error]) *keyCursor {
	next, stop := iter.Pull2(seq)
	return &keyCursor{next: next, stop: stop}
}

// advance moves to the next distinct key.
func (c *keyCursor) advance() {
	for {
		e, err, ok := c.next()
		if !ok {
			c.ok = false
			return
		}
		if err != nil {
			c.ok, c.err = false, err
			return
		}
		if c.started && c.ok && e.norm() == c.cur {
			continue
		}
		c.started, c.ok, c.cur = true, true, e.norm()
		c.distinct++
		return
	}
}

// Seek reports whether key is in the sequence. Keys must be sought in non-decreasing order.
func (c *keyCursor) Seek(key string) (bool, error) {
	if !c.started {
		c.advance()
	}
	for c.ok && c.cur < key {
		c.advance()
	}
	if c.err != nil {
		return false, c.err
	}
	return c.ok && c.cur == key, nil
}

// Drain walks to the end, so that Distinct counts every key.
func (c *keyCursor) Drain() error {
	if !c.started {
		c.advance()
	}
	for c.ok {
		c.advance()
	}
	return c.err
}

// Distinct is the number of distinct keys passed so far.
func (c *keyCursor) Distinct() int { return c.distinct }

func (c *keyCursor) Close() { c.stop() }
