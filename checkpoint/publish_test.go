package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// memTableSeq names the mem:// tables of this test binary.
var memTableSeq atomic.Int64

// TestRacingClassicCheckpointersNeverReplace: two checkpointers write the classic checkpoint
// of one version at once (with options that give different bytes) while a reader reads the
// file as soon as it appears. Over 50 rounds: exactly one publishes, the other reports
// Existing, and the file never changes once a reader has seen it.
func TestRacingClassicCheckpointersNeverReplace(t *testing.T) {
	rounds := 50
	if testing.Short() {
		rounds = 15
	}
	for _, backend := range []string{"local", "mem"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var s delta.Store
			if backend == "local" {
				s = openDir(t, newDir(t))
			} else {
				var err error
				if s, err = delta.OpenStore(ctx, fmt.Sprintf("mem://cp-race-%d", memTableSeq.Add(1))); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
			}
			clock := newTestClock(epoch)
			opts := delta.TxnOptions{Now: clock.Now}
			if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: tableSchema(false)}, opts); err != nil {
				t.Fatal(err)
			}
			for round := range rounds {
				clock.Advance(time.Minute)
				v := commit(t, s, opts, func(tx *delta.Txn) {
					for i := range 4 {
						tx.Add(newAdd(fmt.Sprintf("f-%03d-%02d.parquet", round, i), int64(1000+i), clock.Now(), nil))
					}
				})
				key := delta.CheckpointKey(v)
				writerOpts := []checkpoint.Options{
					{Now: clock.Now, BatchRows: 3, RowGroupBytes: 2048},
					{Now: clock.Now, BatchRows: 7},
				}
				var (
					wg      sync.WaitGroup
					results [2]checkpoint.Result
					errs    [2]error
					done    = make(chan struct{})
					seen    [][]byte
					readErr error
				)
				reader := make(chan struct{})
				go func() {
					defer close(reader)
					for {
						select {
						case <-done:
							return
						default:
						}
						b, err := delta.ReadAll(ctx, s, key)
						if errors.Is(err, delta.ErrNotFound) {
							time.Sleep(100 * time.Microsecond)
							continue
						}
						if err != nil {
							readErr = err
							return
						}
						if len(seen) == 0 || !bytes.Equal(seen[len(seen)-1], b) {
							seen = append(seen, b)
						}
					}
				}()
				for w := range 2 {
					wg.Go(func() { results[w], errs[w] = checkpoint.Write(ctx, s, v, writerOpts[w]) })
				}
				wg.Wait()
				close(done)
				<-reader
				for w, err := range errs {
					if err != nil {
						t.Fatalf("round %d: writer %d: %v", round, w, err)
					}
				}
				if readErr != nil {
					t.Fatalf("round %d: reader: %v", round, readErr)
				}
				if results[0].Existing == results[1].Existing {
					t.Fatalf("round %d: Existing %v and %v: want exactly one writer to publish %s", round, results[0].Existing, results[1].Existing, key)
				}
				final, err := delta.ReadAll(ctx, s, key)
				if err != nil {
					t.Fatal(err)
				}
				for i, b := range seen {
					if !bytes.Equal(b, final) {
						t.Fatalf("round %d: %s was replaced: a reader saw version %d of %d (%d bytes), it now holds %d bytes", round, key, i+1, len(seen), len(b), len(final))
					}
				}
				if lc, ok := readHint(t, ctx, s); !ok || lc.Version != v {
					t.Fatalf("round %d: _last_checkpoint names %d (present %v), want %d", round, lc.Version, ok, v)
				}
			}
		})
	}
}

// TestExistingCheckpointReadFails: the footer read of an existing classic checkpoint fails
// once (a transient error). checkpoint.Write fails with an error naming the checkpoint and its
// version, and leaves the file as it was; a retry reports it as Existing.
func TestExistingCheckpointReadFails(t *testing.T) {
	ctx := context.Background()
	dir, clock := crashTable(t, false, false)
	s := openDir(t, dir)
	const v = 9
	key := delta.CheckpointKey(v)
	if _, err := checkpoint.Write(ctx, s, v, checkpoint.Options{Now: func() time.Time { return epoch }}); err != nil {
		t.Fatal(err)
	}
	before, err := delta.ReadAll(ctx, s, key)
	if err != nil {
		t.Fatal(err)
	}
	// Opening the snapshot reads the checkpoint too: count those reads, so the fault hits
	// the first read made after them, the footer read of the existing checkpoint.
	counter := testutil.NewFaultStore(s)
	var opens atomic.Int64
	counter.Hook = func(_ int64, op testutil.Op, k string) error {
		if op == testutil.OpReadRange && k == key {
			opens.Add(1)
		}
		return nil
	}
	if _, err := delta.Open(ctx, counter, delta.AtVersion(v)); err != nil {
		t.Fatal(err)
	}
	fst := testutil.NewFaultStore(s)
	var reads atomic.Int64
	fst.Hook = func(_ int64, op testutil.Op, k string) error {
		if op == testutil.OpReadRange && k == key && reads.Add(1) == opens.Load()+1 {
			return fmt.Errorf("connection reset: %w", testutil.ErrInjected)
		}
		return nil
	}
	clock.Advance(72 * time.Hour) // a later clock would drop tombstones: another file
	res, err := checkpoint.Write(ctx, fst, v, checkpoint.Options{Now: clock.Now, BatchRows: 2})
	if err == nil {
		t.Fatalf("checkpoint.Write over an existing checkpoint whose footer read failed returned %+v, nil", res)
	}
	if !errors.Is(err, testutil.ErrInjected) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", v)) {
		t.Errorf("error %q: want the injected fault, naming %s and version %d", err, key, v)
	}
	if after, err := delta.ReadAll(ctx, s, key); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the existing checkpoint was overwritten (%d bytes before, %d after, %v)", len(before), len(after), err)
	}
	res, err = checkpoint.Write(ctx, s, v, checkpoint.Options{Now: clock.Now, BatchRows: 2})
	if err != nil || !res.Existing {
		t.Fatalf("retry: %+v, %v; want Existing", res, err)
	}
	if after, err := delta.ReadAll(ctx, s, key); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the retry changed the existing checkpoint: %v", err)
	}
}

// TestReaderFailsOnReplacedCheckpoint: a checkpoint file replaced (by something other than
// this package, which never replaces one) after the reader listed it makes the read fail
// with delta.ErrChanged rather than read another file than the snapshot's. (A small file is
// read with one request, so no read mixes two files; delta's TestRangedReadOfReplacedCheckpoint
// replaces one between the ranged reads of a large one.)
func TestReaderFailsOnReplacedCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir, clock := crashTable(t, false, false)
	s := openDir(t, dir)
	const v = 9
	key := delta.CheckpointKey(v)
	if _, err := checkpoint.Write(ctx, s, v, checkpoint.Options{Now: func() time.Time { return epoch }, BatchRows: 1, RowGroupBytes: 1}); err != nil {
		t.Fatal(err)
	}
	// The replacement: a checkpoint of the same version with a later clock, from a copy.
	other := openDir(t, testutil.CopyTable(t, dir))
	if err := other.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	clock.Advance(72 * time.Hour)
	if _, err := checkpoint.Write(ctx, other, v, checkpoint.Options{Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	replacement, err := delta.ReadAll(ctx, other, key)
	if err != nil {
		t.Fatal(err)
	}
	if original, err := delta.ReadAll(ctx, s, key); err != nil || len(original) == len(replacement) {
		t.Fatalf("the replacement has the original's size (%d bytes, %v): the test needs another", len(replacement), err)
	}
	fst := testutil.NewFaultStore(s)
	var once sync.Once
	var reads atomic.Int64
	fst.Hook = func(_ int64, op testutil.Op, k string) error {
		if op == testutil.OpReadRange && k == key && reads.Add(1) == 1 {
			once.Do(func() {
				if err := s.Put(ctx, key, replacement); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	}
	snap, err := delta.Open(ctx, fst)
	for a, ferr := range func() func(func(delta.Action, error) bool) {
		if err != nil {
			return func(yield func(delta.Action, error) bool) { yield(delta.Action{}, err) }
		}
		return snap.FileActions(ctx)
	}() {
		_ = a
		if ferr != nil {
			err = ferr
			break
		}
	}
	if reads.Load() < 1 {
		t.Fatalf("the reader did not read %s: the test replaces it before the first read", key)
	}
	if !errors.Is(err, delta.ErrChanged) {
		t.Fatalf("reading a checkpoint replaced midway: error %v, want delta.ErrChanged", err)
	}
}
