package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/deltaraster/deltaraster/delta"
)

// ErrInjected is the error a FaultStore returns from the operation it was told to fail (and,
// in crash mode, from every operation after it). Tests check for it with errors.Is.
var ErrInjected = errors.New("testutil: injected fault")

// Op is a kind of store operation, as a FaultStore counts them.
type Op int

// The operations a FaultStore counts. A listing counts once, when its iteration starts; on a
// writer that Create returned, each Write and the Close count as operations of their own.
const (
	OpList Op = iota
	OpStat
	OpReadRange
	OpPut
	OpPutIfAbsent
	OpCreate
	OpWrite
	OpClose
	OpDelete
	numOps
)

func (o Op) String() string {
	switch o {
	case OpList:
		return "list"
	case OpStat:
		return "stat"
	case OpReadRange:
		return "read"
	case OpPut:
		return "put"
	case OpPutIfAbsent:
		return "put-if-absent"
	case OpCreate:
		return "create"
	case OpWrite:
		return "write"
	case OpClose:
		return "close"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// FaultStore wraps a delta.Store, numbers every operation made through it (0, 1, 2, ... in
// the order they start), and fails the one numbered by FailAt with ErrInjected, in the manner
// of pebble's error_test.go: run the code under test with i = 0, 1, 2, ... until it completes
// without reaching operation i, and check after each run that the failure surfaced and left a
// readable table.
//
// How an injected failure looks:
//   - List: the listing yields ListFailAfter objects (0 by default), then ErrInjected; it never
//     ends early without an error.
//   - Put, PutIfAbsent, Delete: nothing is stored or deleted.
//   - Create: no writer is returned. Write on a writer: nothing of that call is written, and the
//     object can no longer be published. Close on a writer: the object is not published (the
//     inner writer is closed with a cancelled context, which aborts it).
//   - Stat, ReadRange, ReadPinned: an error, nothing read.
//
// ReadPinned counts as OpReadRange, CreateIfAbsent as OpCreate and ListTemp as OpList.
//
// Writers pass every Write through as one operation, unless WriteBuffer sets a chunk size:
// then writes are gathered and each full chunk (and the rest, at Close) is forwarded as one
// Write operation, as object-store writers upload in parts. A sweep over every operation then
// costs one run per chunk rather than one per small write of an encoder.
//
// With LoseAnswer, the failing Put, PutIfAbsent, Delete or writer Close is carried out on the
// wrapped store before ErrInjected is returned: a request that landed but whose answer was
// lost (a timeout after it left). Only the operation numbered FailAt lands; in crash mode the
// ones after it fail without landing.
//
// In crash mode every operation from the failing one on fails as well, as if the process died
// there: nothing after the fault reaches the inner store (writers are still closed unpublished,
// so no descriptor leaks). Without crash mode only the one operation fails.
//
// Hook, when set, is called before every operation with its number, kind and key (the prefix
// for a listing); an error it returns fails the operation as an injected one would (crash mode
// does not apply). Tests use it to pause an operation or fail on a chosen key.
//
// A FaultStore is safe for concurrent use: numbering and counters are atomic with respect to
// one another, so when goroutines race which operation gets number i may vary between runs,
// but every number is given exactly once.
type FaultStore struct {
	inner delta.Store

	// Hook, when set, runs before each operation; see the type comment. Set it before use.
	Hook func(n int64, op Op, key string) error

	mu            sync.Mutex
	writeBuffer   int
	next          int64
	failAt        int64
	crash         bool
	listFailAfter int
	loseAnswer    bool
	hit           bool
	hitOp         Op
	hitKey        string
	counts        [numOps]int64
}

// NewFaultStore wraps s. It fails nothing until FailAt is called.
func NewFaultStore(s delta.Store) *FaultStore {
	return &FaultStore{inner: s, failAt: -1}
}

// FailAt arms the store: operation number i (counting from 0, from the last Reset) fails with
// ErrInjected, and with crash every operation after it too. A negative i disarms it.
func (f *FaultStore) FailAt(i int64, crash bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAt, f.crash = i, crash
}

// LoseAnswer sets whether the failing mutation lands before its error is returned (see the
// type comment).
func (f *FaultStore) LoseAnswer(lose bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseAnswer = lose
}

// ListFailAfter sets how many objects a failing listing yields before its error (default 0).
func (f *FaultStore) ListFailAfter(k int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listFailAfter = k
}

// WriteBuffer sets the chunk size of writers created from now on (0, the default: every Write
// is forwarded, and counted, as it comes).
func (f *FaultStore) WriteBuffer(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeBuffer = n
}

// Reset restarts the numbering and the counts and clears the record of a fault; the armed
// fault, crash mode and ListFailAfter are kept.
func (f *FaultStore) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next, f.hit, f.hitOp, f.hitKey, f.counts = 0, false, 0, "", [numOps]int64{}
}

// Ops is the number of operations started so far.
func (f *FaultStore) Ops() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

// Count is the number of operations of kind op started so far.
func (f *FaultStore) Count(op Op) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// Hit reports whether the armed fault fired, and on which operation and key.
func (f *FaultStore) Hit() (bool, Op, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit, f.hitOp, f.hitKey
}

// Unwrap returns the wrapped store.
func (f *FaultStore) Unwrap() delta.Store { return f.inner }

// begin numbers one operation and decides whether it fails.
func (f *FaultStore) begin(op Op, key string) error {
	_, err := f.beginLanding(op, key)
	return err
}

// beginLanding is begin for a mutation: land reports that the operation fails with its answer
// lost, so it must be carried out before the error is returned.
func (f *FaultStore) beginLanding(op Op, key string) (land bool, err error) {
	f.mu.Lock()
	n := f.next
	f.next++
	f.counts[op]++
	fail := false
	switch {
	case f.failAt >= 0 && n == f.failAt:
		fail, land = true, f.loseAnswer
		f.hit, f.hitOp, f.hitKey = true, op, key
	case f.failAt >= 0 && n > f.failAt && f.crash:
		fail = true
	}
	hook := f.Hook
	f.mu.Unlock()
	if fail {
		return land, fmt.Errorf("%s %s (operation %d): %w", op, key, n, ErrInjected)
	}
	if hook != nil {
		if err := hook(n, op, key); err != nil {
			return false, fmt.Errorf("%s %s (operation %d): %w", op, key, n, err)
		}
	}
	return false, nil
}

// URL is the wrapped store's URL.
func (f *FaultStore) URL() string { return f.inner.URL() }

// Close closes the wrapped store; it is not counted.
func (f *FaultStore) Close() error { return f.inner.Close() }

// List implements delta.Store.
func (f *FaultStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[delta.ObjectInfo, error] {
	return func(yield func(delta.ObjectInfo, error) bool) {
		err := f.begin(OpList, prefix)
		if err == nil {
			for o, lerr := range f.inner.List(ctx, prefix, startAfter) {
				if !yield(o, lerr) || lerr != nil {
					return
				}
			}
			return
		}
		f.mu.Lock()
		k := f.listFailAfter
		f.mu.Unlock()
		if k > 0 && errors.Is(err, ErrInjected) {
			n := 0
			for o, lerr := range f.inner.List(ctx, prefix, startAfter) {
				if lerr != nil || n >= k {
					break
				}
				n++
				if !yield(o, nil) {
					return
				}
			}
		}
		yield(delta.ObjectInfo{}, err)
	}
}

// Stat implements delta.Store.
func (f *FaultStore) Stat(ctx context.Context, key string) (delta.ObjectInfo, error) {
	if err := f.begin(OpStat, key); err != nil {
		return delta.ObjectInfo{}, err
	}
	return f.inner.Stat(ctx, key)
}

// ReadRange implements delta.Store.
func (f *FaultStore) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := f.begin(OpReadRange, key); err != nil {
		return nil, err
	}
	return f.inner.ReadRange(ctx, key, offset, length)
}

// Put implements delta.Store.
func (f *FaultStore) Put(ctx context.Context, key string, data []byte) error {
	if land, err := f.beginLanding(OpPut, key); err != nil {
		if land {
			_ = f.inner.Put(ctx, key, data)
		}
		return err
	}
	return f.inner.Put(ctx, key, data)
}

// PutIfAbsent implements delta.Store.
func (f *FaultStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if land, err := f.beginLanding(OpPutIfAbsent, key); err != nil {
		if land {
			_ = f.inner.PutIfAbsent(ctx, key, data)
		}
		return err
	}
	return f.inner.PutIfAbsent(ctx, key, data)
}

// ReadPinned implements delta.Store; it counts as a read (OpReadRange).
func (f *FaultStore) ReadPinned(ctx context.Context, key, gen string, offset, length int64) (io.ReadCloser, delta.ObjectInfo, error) {
	if err := f.begin(OpReadRange, key); err != nil {
		return nil, delta.ObjectInfo{}, err
	}
	return f.inner.ReadPinned(ctx, key, gen, offset, length)
}

// ListTemp implements delta.Store; it counts as a listing (OpList) and fails as one.
func (f *FaultStore) ListTemp(ctx context.Context, prefix string) iter.Seq2[delta.ObjectInfo, error] {
	return func(yield func(delta.ObjectInfo, error) bool) {
		if err := f.begin(OpList, prefix); err != nil {
			yield(delta.ObjectInfo{}, err)
			return
		}
		for o, err := range f.inner.ListTemp(ctx, prefix) {
			if !yield(o, err) || err != nil {
				return
			}
		}
	}
}

// Delete implements delta.Store.
func (f *FaultStore) Delete(ctx context.Context, key string) error {
	if land, err := f.beginLanding(OpDelete, key); err != nil {
		if land {
			_ = f.inner.Delete(ctx, key)
		}
		return err
	}
	return f.inner.Delete(ctx, key)
}

// Create implements delta.Store. The inner writer gets a context of its own, so a failed Write
// or Close can abort it whatever the caller does next.
func (f *FaultStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	return f.create(ctx, key, f.inner.Create)
}

// CreateIfAbsent implements delta.Store; it counts and fails as Create does (OpCreate).
func (f *FaultStore) CreateIfAbsent(ctx context.Context, key string) (io.WriteCloser, error) {
	return f.create(ctx, key, f.inner.CreateIfAbsent)
}

func (f *FaultStore) create(ctx context.Context, key string, open func(context.Context, string) (io.WriteCloser, error)) (io.WriteCloser, error) {
	if err := f.begin(OpCreate, key); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := open(wctx, key)
	if err != nil {
		cancel()
		return nil, err
	}
	f.mu.Lock()
	chunk := f.writeBuffer
	f.mu.Unlock()
	return &faultWriter{f: f, key: key, w: w, cancel: cancel, chunk: chunk}, nil
}

type faultWriter struct {
	f      *FaultStore
	key    string
	w      io.WriteCloser
	cancel context.CancelFunc
	failed error // a Write failed: the object must never be published
	closed bool
	chunk  int    // > 0: forward writes in chunks of this size
	buf    []byte // pending bytes when chunked
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if w.failed != nil {
		return 0, w.failed
	}
	if w.chunk <= 0 {
		return w.forward(p)
	}
	w.buf = append(w.buf, p...)
	for len(w.buf) >= w.chunk {
		if _, err := w.forward(w.buf[:w.chunk]); err != nil {
			return 0, err
		}
		w.buf = w.buf[w.chunk:]
	}
	return len(p), nil
}

// forward counts one Write operation and passes p to the inner writer.
func (w *faultWriter) forward(p []byte) (int, error) {
	if err := w.f.begin(OpWrite, w.key); err != nil {
		w.failed = err
		return 0, err
	}
	n, err := w.w.Write(p)
	if err != nil {
		w.failed = err
	}
	return n, err
}

func (w *faultWriter) Close() error {
	if w.closed {
		return fmt.Errorf("close %s: already closed", w.key)
	}
	w.closed = true
	defer w.cancel()
	if len(w.buf) > 0 && w.failed == nil {
		_, _ = w.forward(w.buf)
		w.buf = nil
	}
	land, err := w.f.beginLanding(OpClose, w.key)
	if land && w.failed == nil {
		_ = w.w.Close() // published; the answer is lost
		return err
	}
	if err == nil && w.failed != nil {
		err = w.failed
	}
	if err != nil {
		w.cancel() // abort: the inner writer publishes nothing
		_ = w.w.Close()
		return err
	}
	return w.w.Close()
}

var _ delta.Store = (*FaultStore)(nil)
