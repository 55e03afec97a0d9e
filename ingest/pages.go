package ingest

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Data pages: how they are compressed, and where the compressed pages of a row group wait
// until the row group is complete (a row group's column chunks are contiguous in the file,
// so every column's pages are held until the last row is written).

// pageWindow is the ZSTD window of data pages. Pages hold about 256 KiB (parquet-go's page
// buffer) or one band blob when it is larger, so a wider window would find no more matches in
// most pages; it would only cost memory (the encoder keeps twice the window).
const pageWindow = 1 << 20

// pageCodec is the ZSTD codec of data pages: zstd's SpeedFastest (about zstd level 1, where
// parquet.Zstd takes SpeedDefault, about level 3) with one encoder and a 1 MiB window
// (pageWindow) instead of the level's 8 MiB. It
// is safe for concurrent use (calls take turns on the encoder). Pages it writes are plain
// ZSTD frames, read by any ZSTD decoder.
type pageCodec struct {
	enc *zstd.Encoder
}

func newPageCodec() (*pageCodec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(pageWindow),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("make ZSTD encoder: %w", err)
	}
	return &pageCodec{enc: enc}, nil
}

func (c *pageCodec) String() string { return "ZSTD" }

func (c *pageCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}

func (c *pageCodec) Decode(dst, src []byte) ([]byte, error) {
	return parquet.Zstd.Decode(dst, src)
}

// pageFiles is a parquet.BufferPool of temporary files in dir that hold the compressed pages
// of the row group being written, so they are not on the Go heap (a row group is
// Options.RowGroupBytes, 32 MiB by default). Files are reused, emptied, from row group to row
// group; each is unlinked as soon as it is created where the OS allows it, and closed (and
// removed) by close. Safe for concurrent use.
type pageFiles struct {
	dir  string
	mu   sync.Mutex
	free []*os.File
	all  []*os.File
}

func (p *pageFiles) GetBuffer() io.ReadWriteSeeker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		f := p.free[n-1]
		p.free = p.free[:n-1]
		return f
	}
	f, err := os.CreateTemp(p.dir, "deltaraster-pages-*")
	if err != nil {
		return failedBuffer{fmt.Errorf("create page buffer: %w", err)}
	}
	_ = os.Remove(f.Name()) // Unix: the open file lives on, nothing is left behind on a crash
	p.all = append(p.all, f)
	return f
}

func (p *pageFiles) PutBuffer(b io.ReadWriteSeeker) {
	f, ok := b.(*os.File)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// parquet-go copies a page buffer up to its end: an emptied file is a clean buffer.
	if f.Truncate(0) != nil {
		return // not reused; close still closes it
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return
	}
	p.free = append(p.free, f)
}

// close closes and removes every page file.
func (p *pageFiles) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.all {
		f.Close()
		_ = os.Remove(f.Name()) // already gone where GetBuffer could unlink it
	}
	p.all, p.free = nil, nil
}

// failedBuffer is a page buffer that could not be created: every call fails.
type failedBuffer struct{ err error }

func (b failedBuffer) Read([]byte) (int, error)       { return 0, b.err }
func (b failedBuffer) Write([]byte) (int, error)      { return 0, b.err }
func (b failedBuffer) Seek(int64, int) (int64, error) { return 0, b.err }

// pagePool is where the compressed pages of a row group wait: pageMemory or pageFiles.
type pagePool interface {
	parquet.BufferPool
	close()
}

// newPagePool is pageMemory for row groups up to pageMemoryMax, else pageFiles.
func newPagePool(o *Options) pagePool {
	if o.RowGroupBytes <= pageMemoryMax {
		return &pageMemory{}
	}
	return &pageFiles{dir: o.TempDir}
}

// pageMemoryMax is the largest row group (Options.RowGroupBytes) whose compressed pages wait
// in memory (pageMemory) rather than in files (pageFiles).
const pageMemoryMax = 64 << 20

// pageChunk is the size of the pieces of memory that pageMemory buffers are made of.
const pageChunk = 256 << 10

// pageMemory is a parquet.BufferPool of in-memory buffers made of pageChunk-sized chunks
// (mapped outside the Go heap, see allocChunk), which go back to the pool with the buffer and
// are reused from row group to row group: the memory it holds is about the largest row
// group's compressed pages, allocated once, not garbage made at every row group. It saves
// what pageFiles costs: writing every page into the page cache and reading it back (local CPU
// 4.7 -> 3.8 s for the 512 MB scene, peak RSS 40-70 MiB higher: bench/RESULTS.md). Safe for
// concurrent use.
type pageMemory struct {
	mu   sync.Mutex
	free [][]byte
	all  [][]byte // every chunk allocated, freed by close
}

func (p *pageMemory) GetBuffer() io.ReadWriteSeeker { return &pageBuffer{pool: p} }

func (p *pageMemory) PutBuffer(b io.ReadWriteSeeker) {
	pb, ok := b.(*pageBuffer)
	if !ok {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, pb.chunks...)
	p.mu.Unlock()
	pb.chunks, pb.size, pb.off = nil, 0, 0
}

func (p *pageMemory) chunk() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	c := allocChunk(pageChunk)
	p.all = append(p.all, c)
	return c
}

// close frees the chunks; no buffer of the pool may be used after it.
func (p *pageMemory) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.all {
		freeChunk(c)
	}
	p.all, p.free = nil, nil
}

// pageBuffer is one buffer of a pageMemory: bytes [0, size) in chunks, read and written at off.
type pageBuffer struct {
	pool   *pageMemory
	chunks [][]byte
	size   int64
	off    int64
}

func (b *pageBuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i, at := int(b.off/pageChunk), int(b.off%pageChunk)
		for i >= len(b.chunks) {
			b.chunks = append(b.chunks, b.pool.chunk())
		}
		k := copy(b.chunks[i][at:], p)
		p = p[k:]
		b.off += int64(k)
	}
	b.size = max(b.size, b.off)
	return n, nil
}

func (b *pageBuffer) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	n := 0
	for len(p) > 0 && b.off < b.size {
		i, at := int(b.off/pageChunk), int(b.off%pageChunk)
		end := min(int64(pageChunk), b.size-int64(i)*pageChunk)
		k := copy(p, b.chunks[i][at:end])
		p = p[k:]
		n += k
		b.off += int64(k)
	}
	return n, nil
}

// WriteTo writes the bytes from off to the end, chunk by chunk (io.Copy uses it: no copy
// through an intermediate buffer).
func (b *pageBuffer) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.off < b.size {
		i, at := int(b.off/pageChunk), int(b.off%pageChunk)
		end := min(int64(pageChunk), b.size-int64(i)*pageChunk)
		n, err := w.Write(b.chunks[i][at:end])
		total += int64(n)
		b.off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (b *pageBuffer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	default:
		return b.off, fmt.Errorf("page buffer: seek whence %d", whence)
	}
	if offset < 0 {
		return b.off, fmt.Errorf("page buffer: seek to %d", offset)
	}
	b.off = offset
	return offset, nil
}
