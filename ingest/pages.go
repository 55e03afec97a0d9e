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

// pageCodec is the ZSTD codec of data pages: parquet.Zstd's level (SpeedDefault, about zstd
// level 3) with one encoder and a 1 MiB window (pageWindow) instead of the level's 8 MiB. It
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
