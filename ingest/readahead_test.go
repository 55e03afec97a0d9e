package ingest

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// rangeCounter counts a store's ranged reads, and can break the bodies it returns after some
// bytes.
type rangeCounter struct {
	delta.Store
	reads atomic.Int64
	// breakAfter, when > 0, makes every body fail after that many bytes.
	breakAfter int64
}

func (s *rangeCounter) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.reads.Add(1)
	rc, err := s.Store.ReadRange(ctx, key, off, n)
	if err != nil || s.breakAfter <= 0 {
		return rc, err
	}
	return &brokenBody{ReadCloser: rc, left: s.breakAfter}, nil
}

type brokenBody struct {
	io.ReadCloser
	left int64
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.ReadCloser.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

// TestReadAhead reads an object through a readAhead with a small ring: sequentially by two
// readers taking turns (as the workers do), with small and block reads far ahead and behind,
// and at random; every read returns the object's bytes, whether the ring or the store served
// it. Sequential reading takes one stream (a few requests), not one request per read; a
// stream broken every few hundred KiB resumes and still serves the reads.
func TestReadAhead(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 3<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	mem := openStore(t, "mem://readahead/")
	if err := mem.Put(ctx, "src.tif", data); err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, st delta.Store) *readAhead {
		t.Helper()
		ra, err := newReadAhead(&sourceRef{store: st, key: "src.tif", size: int64(len(data))}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ra.ring, ra.lead, ra.seekMin = 512<<10, 256<<10, 16<<10
		ra.begin(ctx)
		t.Cleanup(ra.close)
		return ra
	}
	// read reads [off, off+n) as the VSI handler does: from the ring, else from the store.
	read := func(t *testing.T, ra *readAhead, off, n int64) (fromRing bool) {
		t.Helper()
		n = min(n, int64(len(data))-off)
		buf := make([]byte, n)
		ok, err := ra.readAt(buf, off)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			rc, err := ra.store.ReadRange(ctx, ra.key, off, n)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadFull(rc, buf)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(buf, data[off:off+n]) {
			t.Fatalf("read %d bytes at %d: wrong bytes (from the ring: %v)", n, off, ok)
		}
		return ok
	}

	t.Run("sequential, two readers", func(t *testing.T) {
		st := &rangeCounter{Store: mem}
		ra := open(t, st)
		// The two readers take the next two units of 96 KiB and read them at once, as tiling
		// workers take the next blocks, then meet: neither is ever more than a unit ahead of the
		// other. (Unpaced readers made the assertion depend on the scheduler: on a loaded
		// machine one reader could run more than the ring ahead while the other was descheduled,
		// and the lagging one's reads, evicted, restarted the stream: 14 ranged reads seen.)
		const unit = 96 << 10
		var ring atomic.Int64
		for pair := int64(0); pair*2*unit < int64(len(data)); pair++ {
			var wg sync.WaitGroup
			for w := range int64(2) {
				off := (2*pair + w) * unit
				wg.Go(func() {
					for k := int64(0); k < unit; k += 32 << 10 {
						if off+k < int64(len(data)) && read(t, ra, off+k, 32<<10) {
							ring.Add(1)
						}
					}
				})
			}
			wg.Wait()
		}
		reads := (int64(len(data)) + 32<<10 - 1) / (32 << 10)
		if got := st.reads.Load(); got > 8 || ring.Load() < reads*9/10 {
			t.Errorf("%d ranged reads of the store for %d reads (%d from the ring), want a few", got, reads, ring.Load())
		}
	})

	t.Run("far and behind", func(t *testing.T) {
		st := &rangeCounter{Store: mem}
		ra := open(t, st)
		read(t, ra, 0, 4<<10)
		read(t, ra, int64(len(data))-100, 100) // a small read at the end: the store
		read(t, ra, 2<<20, 64<<10)             // a block read far ahead: the stream restarts there
		read(t, ra, 2<<20+64<<10, 64<<10)      // and goes on from there
		read(t, ra, 100, 64<<10)               // behind the ring: restarts again
		read(t, ra, 1<<20, 300<<10)            // larger than the lead: the store
		read(t, ra, int64(len(data))-1000, 1000)
	})

	t.Run("random", func(t *testing.T) {
		ra := open(t, &rangeCounter{Store: mem})
		for range 300 {
			off := rng.Int64N(int64(len(data)))
			read(t, ra, off, 1+rng.Int64N(128<<10))
		}
	})

	t.Run("broken stream", func(t *testing.T) {
		st := &rangeCounter{Store: mem, breakAfter: 300 << 10}
		ra := open(t, st)
		ring := 0
		for off := int64(0); off < int64(len(data)); off += 50 << 10 {
			if read(t, ra, off, 50<<10) {
				ring++
			}
		}
		if ring < int(int64(len(data))/(50<<10))/2 {
			t.Errorf("%d reads from the ring: a broken stream did not resume", ring)
		}
	})
}
