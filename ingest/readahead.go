package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/deltaraster/deltaraster/delta"
)

// The tiles of a remote source are read by several workers, each through its own GDAL
// dataset, in about the order of the file (units of tiles in row-major order, which is how a
// tiled GeoTIFF lays its blocks out). Served by one ranged read per GDAL block, that is about
// one request per megabyte per worker, blocks at unit boundaries fetched twice, and every
// request paid for again by the store: a local MinIO spent 2.8 CPU seconds answering the
// 900-odd ranged reads of a 450 MB scene, on the cores the ingest decodes with.
//
// A readAhead instead streams the object with one sequential read, in the background, into a
// ring: a local temporary file of readAheadRing bytes, object offset o at o mod
// readAheadRing. Reads are served from the ring once the stream has passed them; the stream
// runs at most readAheadLead bytes beyond the furthest read, so what the workers still need
// is not overwritten. A read that starts more than readAheadLead beyond the stream, or
// behind what the ring holds, restarts the stream there when it is a block read (at least
// readAheadSeekMin bytes: the data of a COG's full resolution, after its overviews), and is a
// plain ranged read of the store when it is smaller (a header, a tag array). A read the ring
// cannot serve for any other reason (the stream failed, the bytes were overwritten while
// read) is a plain ranged read too: the readAhead changes how many requests are made, never
// what is read.
//
// The ring is a file rather than memory so that it stays out of the process's resident
// memory, and a fixed-size one so that the stream rewrites the same pages of the page cache
// (fresh page-cache pages cost more kernel time than rewriting warm ones; the read-ahead's
// effect on requests and MinIO's CPU is in bench/RESULTS.md, "one large scene").

const (
	readAheadRing    = 64 << 20
	readAheadLead    = readAheadRing / 2
	readAheadChunk   = 1 << 20 // the stream's copy buffer
	readAheadSeekMin = 64 << 10
	// readAheadRetries bounds the restarts of a stream that fails without progress.
	readAheadRetries = 3
)

// readAhead streams one remote object into a ring file.
type readAhead struct {
	store delta.Store
	key   string
	size  int64
	f     *os.File
	// ring, lead and seekMin are readAheadRing (or the object's size, when smaller),
	// readAheadLead and readAheadSeekMin; tests make them smaller.
	ring, lead, seekMin int64

	cancel   context.CancelFunc
	finished chan struct{}

	mu   sync.Mutex
	cond *sync.Cond
	// The ring holds the object's bytes [max(start, writing-ring), copied) of the current
	// stream, which epoch numbers.
	epoch   int64
	start   int64
	copied  int64
	writing int64 // the end of the chunk being written (copied while none is)
	want    int64 // the furthest end asked for since the stream started
	seek    int64 // where a read asked the stream to restart, or -1
	err     error // the stream gave up: reads go to the store
	closed  bool
	started bool
}

// newReadAhead makes the readAhead of the object of r, its ring a file in dir (os.TempDir()
// when empty); begin starts the stream, close stops it and removes the file.
func newReadAhead(r *sourceRef, dir string) (*readAhead, error) {
	f, err := unlinkedTemp(dir, "deltaraster-source-*", "source read-ahead file")
	if err != nil {
		return nil, err
	}
	ra := &readAhead{store: r.store, key: r.key, size: r.size, f: f,
		ring: min(readAheadRing, max(r.size, 1)), lead: readAheadLead, seekMin: readAheadSeekMin,
		cancel: func() {}, finished: make(chan struct{}), seek: -1}
	ra.cond = sync.NewCond(&ra.mu)
	return ra, nil
}

// begin starts the stream; ctx bounds it.
func (ra *readAhead) begin(ctx context.Context) {
	ctx, ra.cancel = context.WithCancel(ctx)
	ra.mu.Lock()
	ra.started = true
	ra.mu.Unlock()
	go ra.run(ctx)
}

// run streams the object from its start, and from wherever a read asks it to restart.
func (ra *readAhead) run(ctx context.Context) {
	defer close(ra.finished)
	buf := make([]byte, min(readAheadChunk, max(1, ra.lead/4), ra.ring)) // <= lead/4: see stream
	failures := 0
	for {
		ra.mu.Lock()
		for ra.copied >= ra.size && ra.seek < 0 && !ra.closed {
			ra.cond.Wait() // at the end: idle until a read asks for a restart
		}
		if ra.closed {
			ra.mu.Unlock()
			return
		}
		if ra.seek >= 0 {
			ra.epoch++
			ra.start, ra.copied, ra.writing, ra.want = ra.seek, ra.seek, ra.seek, ra.seek
			ra.seek = -1
			ra.cond.Broadcast()
		}
		from := ra.copied
		ra.mu.Unlock()
		err := ra.stream(ctx, from, buf)
		if err == nil {
			failures = 0
			continue
		}
		ra.mu.Lock()
		progress := ra.copied > from
		ra.mu.Unlock()
		if progress {
			failures = 0
		}
		failures++
		var werr *ringWriteError
		if ctx.Err() != nil || errors.As(err, &werr) || failures > readAheadRetries {
			ra.mu.Lock()
			ra.err = err
			ra.cond.Broadcast()
			ra.mu.Unlock()
			return
		}
	}
}

// ringWriteError is a failed write of the ring file: the stream stops for good.
type ringWriteError struct{ err error }

func (e *ringWriteError) Error() string { return "write source read-ahead file: " + e.err.Error() }

// stream copies the object from off into the ring until its end, a restart asked for, close,
// or an error.
func (ra *readAhead) stream(ctx context.Context, off int64, buf []byte) error {
	rc, err := ra.store.ReadRange(ctx, ra.key, off, ra.size-off)
	if err != nil {
		return err
	}
	defer rc.Close()
	for off < ra.size {
		k := min(int64(len(buf)), ra.size-off)
		ra.mu.Lock()
		// Runs at most lead beyond the furthest read; a chunk is smaller than the lead, so a
		// read waiting for bytes it asked for (want) always lets the stream reach them.
		for off+k > ra.want+ra.lead && ra.seek < 0 && !ra.closed {
			ra.cond.Wait()
		}
		stop := ra.seek >= 0 || ra.closed
		ra.mu.Unlock()
		if stop {
			return nil
		}
		n, rerr := io.ReadFull(rc, buf[:k])
		if n > 0 {
			ra.mu.Lock()
			ra.writing = off + int64(n)
			ra.mu.Unlock()
			if werr := ra.writeRing(buf[:n], off); werr != nil {
				return &ringWriteError{werr}
			}
			off += int64(n)
			ra.mu.Lock()
			ra.copied = off
			ra.cond.Broadcast()
			ra.mu.Unlock()
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) || errors.Is(rerr, io.EOF) {
				rerr = fmt.Errorf("read %s at %d: object shorter than %d bytes (changed while read?)", ra.key, off, ra.size)
			}
			return rerr
		}
	}
	return nil
}

// writeRing writes b, the object's bytes at off, at their place in the ring.
func (ra *readAhead) writeRing(b []byte, off int64) error {
	for len(b) > 0 {
		pos := off % ra.ring
		k := min(int64(len(b)), ra.ring-pos)
		if _, err := ra.f.WriteAt(b[:k], pos); err != nil {
			return err
		}
		b, off = b[k:], off+k
	}
	return nil
}

// readRing reads the object's bytes at off from their place in the ring.
func (ra *readAhead) readRing(b []byte, off int64) error {
	for len(b) > 0 {
		pos := off % ra.ring
		k := min(int64(len(b)), ra.ring-pos)
		if _, err := ra.f.ReadAt(b[:k], pos); err != nil {
			return err
		}
		b, off = b[k:], off+k
	}
	return nil
}

// readAt fills buf (len(buf) <= size-off) from the ring, waiting for the stream when it is
// coming; ok is false when the ring cannot serve the range, for the caller to read the store.
func (ra *readAhead) readAt(buf []byte, off int64) (ok bool, err error) {
	end := off + int64(len(buf))
	if int64(len(buf)) > ra.lead {
		return false, nil
	}
	ra.mu.Lock()
	var epoch int64
	for {
		if ra.closed || ra.err != nil {
			ra.mu.Unlock()
			return false, nil
		}
		epoch = ra.epoch
		if off >= max(ra.start, ra.writing-ra.ring) && off < ra.copied+ra.lead {
			break
		}
		if int64(len(buf)) < ra.seekMin {
			ra.mu.Unlock()
			return false, nil
		}
		// Restart the stream here (at the lowest offset asked for, when several reads ask
		// before it restarts), then look again.
		if ra.seek < 0 || off < ra.seek {
			ra.seek = off
		}
		ra.cond.Broadcast()
		for ra.epoch == epoch && !ra.closed && ra.err == nil {
			ra.cond.Wait()
		}
	}
	if end > ra.want {
		ra.want = end
		ra.cond.Broadcast()
	}
	for ra.copied < end && ra.epoch == epoch && !ra.closed && ra.err == nil {
		ra.cond.Wait()
	}
	if ra.copied < end || ra.epoch != epoch {
		ra.mu.Unlock()
		return false, nil
	}
	ra.mu.Unlock()
	if err := ra.readRing(buf, off); err != nil {
		return false, fmt.Errorf("read source read-ahead file: %w", err)
	}
	ra.mu.Lock()
	intact := ra.epoch == epoch && off >= ra.writing-ra.ring
	ra.mu.Unlock()
	return intact, nil
}

// close stops the stream, waits for it (when started) and removes the ring file.
func (ra *readAhead) close() {
	ra.cancel()
	ra.mu.Lock()
	started := !ra.closed && ra.started
	ra.closed = true
	ra.cond.Broadcast()
	ra.mu.Unlock()
	if started {
		<-ra.finished
	}
	ra.f.Close()
}
