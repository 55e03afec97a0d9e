package ingest

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

// tagSources is the Add tag listing the (source, source_version) pairs a data file holds, as a
// JSON array of {"uri", "version"} sorted by uri. It is how an ingest finds, from the log
// alone, which files hold a source (see the package documentation).
const tagSources = "deltaraster.sources"

// sourceTag is one entry of tagSources.
type sourceTag struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// writtenFile is a data file written and closed (visible in the store), not yet committed.
type writtenFile struct {
	Path    string
	Size    int64
	Rows    int64
	Stats   string
	Sources map[string]string // uri -> version
}

func (f writtenFile) add(now time.Time) *delta.Add {
	tags := make([]sourceTag, 0, len(f.Sources))
	for u, v := range f.Sources {
		tags = append(tags, sourceTag{URI: u, Version: v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].URI < tags[j].URI })
	raw, _ := json.Marshal(tags)
	return &delta.Add{
		Path: f.Path, PartitionValues: delta.PartitionValues{}, Size: f.Size,
		ModificationTime: now.UnixMilli(), DataChange: true, Stats: f.Stats,
		Tags: map[string]string{tagSources: string(raw)},
	}
}

// spooled is a tile waiting in the spool: its fixed fields in memory, its blobs (bands, then
// the footprint) in the spool file at off.
type spooled struct {
	t    tile
	off  int64
	lens []int32
}

// size is the bytes of the tile's blobs.
func (sp *spooled) size() int64 {
	var n int64
	for _, l := range sp.lens {
		n += int64(l)
	}
	return n
}

// batchWriter turns tiles into data files. Tiles are appended to a local spool file until
// their bytes reach the target file size; then they are sorted by (level, quadbin) and written
// as one Parquet file (ZSTD pages, row groups cut by bytes, GeoParquet metadata) with
// Store.Create. The compressed pages of the row group being written wait in temporary files
// (pageFiles), so memory holds the small fields of the spooled tiles and the pages being
// encoded, not a row group.
//
// A data file is written by a background goroutine while the next tiles go to a second spool
// file, so encoding and compressing one file overlaps reading the tiles of the next; at most
// one file is being encoded at a time. Which tiles land in which file depends only on the
// order of add calls. Files are recorded in written (and reported to onFile) by the
// goroutine calling add, flush or wait, in the order they were cut; an error of a background
// write is returned by the next add, flush or wait, and by every call after it.
//
// On a local table a file is encoded straight into the store (Store.Create). On any other
// store it is encoded into a local temporary file, then uploaded whole with delta.UploadFile
// while the next file is encoded: one upload in flight at most, each file uploaded once,
// from disk rather than from buffers in memory (an S3 streamed write holds up to 40 MiB of
// parts, and every part stalls the encoder while it is sent).
type batchWriter struct {
	store   delta.Store
	codec   *codec
	opts    *Options
	spool   *os.File // being filled
	spare   *os.File // the other spool: free, or read by the file being written
	sw      *bufio.Writer
	size    int64 // spool bytes
	added   int64 // tile bytes added in this batch, every spool (Progress.TileBytes)
	pending []spooled
	spareP  []spooled // backing array for the next pending
	written []writtenFile
	onFile  func(writtenFile)
	ops     []*fileOp    // files being written, in the order they were cut
	err     error        // sticky: the first background write error
	upload  bool         // encode into local files and upload them (not a local store)
	encoded atomic.Int64 // tile bytes encoded in this batch, the file being encoded included

	// Used by the background writer only (one at a time).
	zstd  *pageCodec
	pages pagePool
	pw    *parquet.Writer // reused from file to file (Reset), nil after a failed file
	row   parquet.Row
	bufs  [][]byte
}

// fileJob is the spooled tiles of one data file.
type fileJob struct {
	spool   *os.File
	pending []spooled
}

type fileResult struct {
	f   writtenFile
	job fileJob
	err error
}

// fileOp is one data file being written by a background goroutine.
type fileOp struct {
	encoded  chan struct{}   // closed when the job's spool is read: the encoder is free
	uploaded chan struct{}   // closed when the file is in the store, or failed
	failed   bool            // set before uploaded is closed
	done     chan fileResult // the outcome, sent once
}

// newSpool creates a tile spool in dir (os.TempDir() when empty); see unlinkedTemp.
func newSpool(dir string) (*os.File, error) {
	return unlinkedTemp(dir, "deltaraster-spool-*", "tile spool")
}

// unlinkedTemp creates a temporary file in dir (os.TempDir() when empty) and unlinks it at
// once: the open file lives on until it is closed, and a process killed mid-ingest leaves
// nothing behind. what names the file in errors.
func unlinkedTemp(dir, pattern, what string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink %s: %w", what, err)
	}
	return f, nil
}

func newBatchWriter(s delta.Store, c *codec, o *Options) (*batchWriter, error) {
	f, err := newSpool(o.TempDir)
	if err != nil {
		return nil, err
	}
	z, err := newPageCodec()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &batchWriter{store: s, codec: c, opts: o, spool: f, sw: bufio.NewWriterSize(f, 64<<10),
		zstd: z, pages: newPagePool(o), upload: !delta.IsLocal(s)}, nil
}

// close waits for the file being written and closes the spools and page buffers (unlinked
// when they were created).
func (w *batchWriter) close() {
	_ = w.wait()
	w.pages.close()
	for _, f := range []*os.File{w.spool, w.spare} {
		if f != nil {
			f.Close()
		}
	}
}

// paths lists the data files written, after waiting for the one being written.
func (w *batchWriter) paths() []string {
	_ = w.wait()
	out := make([]string, len(w.written))
	for i, f := range w.written {
		out[i] = f.Path
	}
	return out
}

// add spools a tile (its slices may be reused by the caller afterwards) and starts writing a
// data file when the spool reaches the target size.
func (w *batchWriter) add(ctx context.Context, t *tile) error {
	if w.err != nil {
		return w.err
	}
	sp := spooled{t: *t, off: w.size, lens: make([]int32, 0, len(t.Bands)+1)}
	sp.t.Bands, sp.t.Footprint = nil, nil
	sp.t.Stats = slices.Clone(t.Stats)
	for i := range len(t.Bands) + 1 {
		b := t.Footprint
		if i < len(t.Bands) {
			b = t.Bands[i]
		}
		if err := w.spoolWrite(b); err != nil {
			return fmt.Errorf("write tile spool: %w", err)
		}
		sp.lens = append(sp.lens, int32(len(b)))
		w.size += int64(len(b))
		w.added += int64(len(b))
	}
	w.pending = append(w.pending, sp)
	if w.size >= w.opts.TargetFileBytes {
		return w.cut(ctx)
	}
	return nil
}

// spoolWrite appends b to the spool: small blobs through the buffer, large ones (band blobs)
// straight to the file, saving a copy.
func (w *batchWriter) spoolWrite(b []byte) error {
	if len(b) < 64<<10 {
		_, err := w.sw.Write(b)
		return err
	}
	if err := w.sw.Flush(); err != nil {
		return err
	}
	_, err := w.spool.Write(b)
	return err
}

// flush writes the spooled tiles as one data file and waits until every file is written.
func (w *batchWriter) flush(ctx context.Context) error {
	if err := w.cut(ctx); err != nil {
		return err
	}
	return w.wait()
}

// cut hands the spooled tiles to a background goroutine that writes them as one data file,
// once the previous file is encoded, and switches to the other spool.
func (w *batchWriter) cut(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if len(w.pending) == 0 {
		return nil
	}
	if err := w.sw.Flush(); err != nil {
		return fmt.Errorf("write tile spool: %w", err)
	}
	var prev *fileOp
	if n := len(w.ops); n > 0 {
		prev = w.ops[n-1]
		<-prev.encoded
		if n > 1 {
			// At most one file uploading and one encoded waiting for it: on a link slower than
			// the encoder, files (each an unlinked local file of up to the target size) would
			// otherwise pile up for the whole batch.
			<-w.ops[n-2].uploaded
		}
	}
	if err := w.collect(false); err != nil {
		return err
	}
	if w.spare == nil {
		f, err := newSpool(w.opts.TempDir)
		if err != nil {
			return err
		}
		w.spare = f
	}
	job := fileJob{spool: w.spool, pending: w.pending}
	next := w.spare
	// The spool is rewritten from its start, not truncated: the tiles' bytes are read back at
	// their recorded offsets only, and rewriting the pages the page cache holds costs less than
	// writing fresh ones.
	if _, err := next.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reset tile spool: %w", err)
	}
	w.spool, w.spare = next, job.spool
	w.pending, w.spareP = w.spareP[:0], nil
	w.size = 0
	w.sw.Reset(w.spool)
	op := &fileOp{encoded: make(chan struct{}), uploaded: make(chan struct{}), done: make(chan fileResult, 1)}
	w.ops = append(w.ops, op)
	go func() {
		f, err := w.writeFile(ctx, job, op, prev)
		op.done <- fileResult{f: f, job: job, err: err}
	}()
	return nil
}

// wait waits for every data file being written and records them.
func (w *batchWriter) wait() error {
	return w.collect(true)
}

// waitTicking is wait that calls tick every interval until the files are written, after
// recording those finished: the encoding of a batch's last file reports its progress.
func (w *batchWriter) waitTicking(every time.Duration, tick func()) error {
	if n := len(w.ops); n > 0 && tick != nil {
		t := time.NewTicker(every)
		defer t.Stop()
		for last := w.ops[n-1]; ; {
			select {
			case <-last.uploaded:
				return w.wait()
			case <-t.C:
				if err := w.collect(false); err != nil {
					return w.wait() // a file failed: wait for the rest, as wait does
				}
				tick()
			}
		}
	}
	return w.wait()
}

// collect records the files written, in order: all of them when block is set, else those
// already done (up to the first still being written).
func (w *batchWriter) collect(block bool) error {
	for len(w.ops) > 0 {
		var r fileResult
		if block {
			r = <-w.ops[0].done
		} else {
			select {
			case r = <-w.ops[0].done:
			default:
				return w.err
			}
		}
		w.ops = w.ops[1:]
		clear(r.job.pending) // drop the references to strings and stats
		if w.spareP == nil {
			w.spareP = r.job.pending[:0]
		}
		if r.err != nil {
			if w.err == nil {
				w.err = r.err
			}
			continue
		}
		// Recorded even after another file failed: it is in the store, an orphan to report.
		w.written = append(w.written, r.f)
		if w.onFile != nil {
			w.onFile(r.f)
		}
	}
	return w.err
}

// nopWriteCloser is a local file written by encodeFile, closed by its owner.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeFile sorts a job's tiles by (level, quadbin) and writes them as one data file: into
// the store, or (w.upload) into a local file uploaded once the previous file's upload (prev's)
// is over. It closes op.encoded when it no longer needs the job's spool nor the encoder (before
// the file is closed: a local store's Close syncs it, and the next file need not wait for
// that), and op.uploaded when the file is in the store or failed.
func (w *batchWriter) writeFile(ctx context.Context, job fileJob, op, prev *fileOp) (f writtenFile, err error) {
	encoded := false
	release := func() {
		encoded = true
		close(op.encoded)
	}
	defer func() {
		if !encoded {
			close(op.encoded)
		}
		op.failed = err != nil
		close(op.uploaded)
	}()
	path := "part-" + uuid.NewString() + ".zstd.parquet"
	if !w.upload {
		f, err = w.encodeFile(ctx, job, path, nil, release)
		return f, err
	}
	local, err := unlinkedTemp(w.opts.TempDir, "deltaraster-file-*", "local copy")
	if err != nil {
		return writtenFile{}, fmt.Errorf("write data file %s: %w", path, err)
	}
	defer local.Close()
	f, err = w.encodeFile(ctx, job, path, local, release)
	if err != nil {
		return writtenFile{}, err
	}
	if prev != nil {
		<-prev.uploaded
		if prev.failed {
			return writtenFile{}, fmt.Errorf("write data file %s: not uploaded, an earlier file failed", path)
		}
	}
	if err := delta.UploadFile(ctx, w.store, path, local, f.Size); err != nil {
		return writtenFile{}, fmt.Errorf("write data file %s: %w", path, err)
	}
	return f, nil
}

// encodeFile sorts a job's tiles by (level, quadbin) and encodes them as one Parquet file:
// into the store at path when local is nil, else into local. It calls release once the
// Parquet writer is closed, before closing the file: from then on it uses neither the job's
// spool nor the encoder (w.pw, w.pages, w.bufs). On an error before that, release is not
// called.
func (w *batchWriter) encodeFile(ctx context.Context, job fileJob, path string, local *os.File, release func()) (writtenFile, error) {
	slices.SortFunc(job.pending, func(a, b spooled) int {
		return cmp.Or(cmp.Compare(a.t.Level, b.t.Level), cmp.Compare(a.t.Quadbin, b.t.Quadbin),
			cmp.Compare(a.t.Source, b.t.Source), cmp.Compare(a.t.Row, b.t.Row), cmp.Compare(a.t.Col, b.t.Col))
	})
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out io.WriteCloser = nopWriteCloser{local}
	if local == nil {
		var err error
		if out, err = w.store.Create(fctx, path); err != nil {
			return writtenFile{}, fmt.Errorf("write data file %s: %w", path, err)
		}
	}
	abort := func(err error) (writtenFile, error) {
		cancel() // the object never becomes visible
		out.Close()
		w.pw = nil // its state is unknown: the next file starts with a new writer
		return writtenFile{}, fmt.Errorf("write data file %s: %w", path, err)
	}
	cw := &countingWriter{w: out}
	if w.pw == nil {
		opts := []parquet.WriterOption{
			w.codec.schema,
			parquet.Compression(w.zstd),
			parquet.ColumnPageBuffers(w.pages),
			parquet.DataPageVersion(1),
			parquet.CreatedBy("deltaraster", delta.EngineInfo, ""),
		}
		for _, b := range w.codec.blobColumns() {
			opts = append(opts, parquet.SkipPageBounds(b), parquet.SkipPageStatistics(b))
		}
		w.pw = parquet.NewWriter(cw, opts...)
	} else {
		w.pw.Reset(cw)
	}
	pw := w.pw
	st := newFileStats(w.codec.layout)
	sources := map[string]string{}
	rgBase := int64(0)
	rows := make([]parquet.Row, 1)
	var t tile
	for i := range job.pending {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return abort(err)
			}
		}
		sp := &job.pending[i]
		t = sp.t
		if err := w.loadBlobs(job.spool, sp, &t); err != nil {
			return abort(err)
		}
		w.row = w.codec.encode(w.row, &t)
		rows[0] = w.row
		if _, err := pw.WriteRows(rows); err != nil {
			return abort(err)
		}
		st.add(&t)
		sources[t.Source] = t.SourceVersion
		// Read by the goroutine reporting progress (Progress.TileBytesEncoded).
		w.encoded.Add(sp.size())
		if pw.Size()-rgBase >= w.opts.RowGroupBytes {
			if err := pw.Flush(); err != nil {
				return abort(err)
			}
			rgBase = pw.Size()
		}
	}
	pw.SetKeyValueMetadata("geo", geoMetadata(st.bbox()))
	if err := pw.Close(); err != nil {
		return abort(err)
	}
	nrows, stats := int64(len(job.pending)), st.json()
	release()
	if err := out.Close(); err != nil {
		return writtenFile{}, fmt.Errorf("write data file %s: %w", path, err)
	}
	return writtenFile{Path: path, Size: cw.n, Rows: nrows, Stats: stats, Sources: sources}, nil
}

// loadBlobs reads a spooled tile's bands and footprint back into t.
func (w *batchWriter) loadBlobs(spool *os.File, sp *spooled, t *tile) error {
	n := len(sp.lens)
	for len(w.bufs) < n {
		w.bufs = append(w.bufs, nil)
	}
	off := sp.off
	for i, l := range sp.lens {
		if cap(w.bufs[i]) < int(l) {
			w.bufs[i] = make([]byte, l)
		}
		b := w.bufs[i][:l]
		if _, err := spool.ReadAt(b, off); err != nil {
			return fmt.Errorf("read tile spool: %w", err)
		}
		off += int64(l)
		w.bufs[i] = b
	}
	t.Bands = w.bufs[:n-1]
	t.Footprint = w.bufs[n-1]
	return nil
}

// fileStats gathers a data file's Delta statistics: numRecords and min, max and null count of
// every non-binary column (bbox nested; crs values longer than maxStatString and non-finite
// doubles leave their column's min and max out, which readers take as unknown).
type fileStats struct {
	n      int64
	ints   map[string]*[2]int64
	strs   map[string]*[2]string
	dbls   map[string]*dblStat
	nulls  map[string]int64
	bbox4  [4]*dblStat
	ts     [2]int64
	noStrs map[string]bool
	bands  [][4]string // per band: its _min, _max, _mean and _valid column names
}

type dblStat struct {
	min, max float64
	seen     bool
	bad      bool
}

func (d *dblStat) add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.bad = true
		return
	}
	if !d.seen {
		d.min, d.max, d.seen = v, v, true
		return
	}
	d.min, d.max = min(d.min, v), max(d.max, v)
}

const maxStatString = 256

func newFileStats(l layout) *fileStats {
	s := &fileStats{ints: map[string]*[2]int64{}, strs: map[string]*[2]string{}, dbls: map[string]*dblStat{},
		nulls: map[string]int64{}, noStrs: map[string]bool{}}
	for _, b := range l.Bands {
		s.bands = append(s.bands, [4]string{b + "_min", b + "_max", b + "_mean", b + "_valid"})
	}
	for i := range s.bbox4 {
		s.bbox4[i] = &dblStat{}
	}
	return s
}

func (s *fileStats) int(name string, v int64) {
	r, ok := s.ints[name]
	if !ok {
		s.ints[name] = &[2]int64{v, v}
		return
	}
	r[0], r[1] = min(r[0], v), max(r[1], v)
}

func (s *fileStats) str(name, v string) {
	if len(v) > maxStatString {
		s.noStrs[name] = true
	}
	r, ok := s.strs[name]
	if !ok {
		s.strs[name] = &[2]string{v, v}
		return
	}
	r[0], r[1] = min(r[0], v), max(r[1], v)
}

func (s *fileStats) dbl(name string, v float64, null bool) {
	d, ok := s.dbls[name]
	if !ok {
		d = &dblStat{}
		s.dbls[name] = d
	}
	if _, ok := s.nulls[name]; !ok {
		s.nulls[name] = 0
	}
	if null {
		s.nulls[name]++
		return
	}
	d.add(v)
}

func (s *fileStats) add(t *tile) {
	if s.n == 0 {
		s.ts = [2]int64{t.IngestedAt, t.IngestedAt}
	}
	s.n++
	s.str(colSource, t.Source)
	s.str(colSourceVersion, t.SourceVersion)
	s.str(colCRS, t.CRS)
	s.str(colDType, t.DType)
	s.int(colLevel, int64(t.Level))
	s.int(colTileCol, int64(t.Col))
	s.int(colTileRow, int64(t.Row))
	s.int(colRasterWidth, int64(t.RasterWidth))
	s.int(colRasterHeight, int64(t.RasterHeight))
	s.int(colQuadbin, t.Quadbin)
	s.int(colWidth, int64(t.Width))
	s.int(colHeight, int64(t.Height))
	s.dbl(colNoData, t.NoData, !t.HasNoData)
	for i, b := range t.Stats {
		cols := &s.bands[i]
		null := b.Valid == 0
		s.dbl(cols[0], b.Min, null)
		s.dbl(cols[1], b.Max, null)
		s.dbl(cols[2], b.Mean, null)
		s.int(cols[3], b.Valid)
	}
	for i, v := range t.BBox {
		s.bbox4[i].add(v)
	}
	s.ts[0], s.ts[1] = min(s.ts[0], t.IngestedAt), max(s.ts[1], t.IngestedAt)
}

// bbox is the union of the tiles' bboxes (infinite when empty).
func (s *fileStats) bbox() [4]float64 {
	b := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	if s.bbox4[0].seen && !s.bbox4[0].bad && !s.bbox4[1].bad && !s.bbox4[2].bad && !s.bbox4[3].bad {
		b = [4]float64{s.bbox4[0].min, s.bbox4[1].min, s.bbox4[2].max, s.bbox4[3].max}
	}
	return b
}

// json renders the Delta stats. Timestamps are written in milliseconds, the minimum rounded
// down and the maximum up, so they bound the microsecond values.
func (s *fileStats) json() string {
	minV, maxV, nulls := map[string]any{}, map[string]any{}, map[string]any{}
	for k, r := range s.ints {
		minV[k], maxV[k], nulls[k] = r[0], r[1], 0
	}
	for k, r := range s.strs {
		nulls[k] = 0
		if !s.noStrs[k] {
			minV[k], maxV[k] = r[0], r[1]
		}
	}
	for k, d := range s.dbls {
		nulls[k] = s.nulls[k]
		if d.seen && !d.bad {
			minV[k], maxV[k] = d.min, d.max
		}
	}
	bmin, bmax, bnull := map[string]any{}, map[string]any{}, map[string]any{}
	for i, k := range []string{"xmin", "ymin", "xmax", "ymax"} {
		d := s.bbox4[i]
		bnull[k] = 0
		if d.seen && !d.bad {
			bmin[k], bmax[k] = d.min, d.max
		}
	}
	minV[colBBox], maxV[colBBox], nulls[colBBox] = bmin, bmax, bnull
	if s.n > 0 {
		const layout = "2006-01-02T15:04:05.000Z07:00"
		lo := time.UnixMicro(s.ts[0]).UTC().Truncate(time.Millisecond)
		hi := time.UnixMicro(s.ts[1]).UTC()
		if t := hi.Truncate(time.Millisecond); !t.Equal(hi) {
			hi = t.Add(time.Millisecond)
		}
		minV[colIngestedAt], maxV[colIngestedAt] = lo.Format(layout), hi.Format(layout)
	}
	nulls[colIngestedAt] = 0
	raw, _ := json.Marshal(map[string]any{"numRecords": s.n, "minValues": minV, "maxValues": maxV, "nullCount": nulls})
	return string(raw)
}
