package maintenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

// rowBatch is how many rows are read from an input at once.
const rowBatch = 32

// inputFile is an opened data file of a bin.
type inputFile struct {
	add    *delta.Add
	file   *parquet.File
	geo    string
	hasGeo bool
}

// recoverParquet turns a panic of the Parquet library on a malformed file into an error.
func recoverParquet(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed Parquet: %v", what, r)
	}
}

// openInput opens data file a: fetched whole when it is small, else read by ranges.
func (ex *executor) openInput(ctx context.Context, a *delta.Add) (in *inputFile, err error) {
	defer recoverParquet("open data file "+a.Path, &err)
	key, err := delta.FileKey(a.Path)
	if err != nil {
		return nil, err
	}
	var ra io.ReaderAt
	size := a.Size
	if size <= ex.opts.WholeFileBytes {
		b, err := delta.ReadAll(ctx, ex.store, key)
		if err != nil {
			return nil, fmt.Errorf("read data file %s: %w", a.Path, err)
		}
		ra, size = bytes.NewReader(b), int64(len(b))
	} else {
		ra = delta.NewReaderAt(ctx, ex.store, key, size)
	}
	ex.bytesRead += size
	f, err := parquet.OpenFile(ra, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", a.Path, err)
	}
	in = &inputFile{add: a, file: f}
	in.geo, in.hasGeo = f.Lookup(geoKey)
	return in, nil
}

// sameSchema reports whether two Parquet schemas are the same.
func sameSchema(a, b *parquet.Schema) bool {
	return parquet.EqualNodes(a, b) || a.String() == b.String()
}

// sink writes the rows of a bin into data files of the target size: ZSTD pages, row groups
// cut by bytes, the first input's key-value metadata with "geo" merged from the inputs whose
// rows each file holds, stats computed from the rows, tags merged from those inputs.
type sink struct {
	ex      *executor
	bin     *Bin
	schema  *parquet.Schema
	kv      map[string]string // key-value metadata other than geo
	kvKeys  []string
	blobs   []string // binary leaf columns: no page bounds or statistics
	dirPath string   // directory of the outputs, as a log path ("" = root)
	dirKey  string   // the same as a store key

	// the inputs whose rows go into the current file
	active    []*delta.Add
	activeGeo []geoInput

	// current output file
	cur  *outFile
	done []*delta.Add
	keys []string // store keys of every file created, for clean-up
	rows int64
}

type geoInput struct {
	raw string
	ok  bool
}

type outFile struct {
	path   string
	key    string
	cancel context.CancelFunc
	w      io.WriteCloser
	cw     *countingWriter
	pw     *parquet.Writer
	stats  *fileStats
	geo    geoMerger
	tags   tagMerger
	rgBase int64
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newSink(ex *executor, bin *Bin, first *inputFile) (*sink, error) {
	s := &sink{ex: ex, bin: bin, schema: first.file.Schema(), kv: map[string]string{}}
	for _, kv := range first.file.Metadata().KeyValueMetadata {
		if kv.Key == geoKey {
			continue
		}
		if _, ok := s.kv[kv.Key]; !ok {
			s.kvKeys = append(s.kvKeys, kv.Key)
		}
		s.kv[kv.Key] = kv.Value
	}
	for _, p := range s.schema.Columns() {
		leaf, ok := s.schema.Lookup(p...)
		if ok && leaf.Node.Type().Kind() == parquet.ByteArray && newColStat(leaf) == nil {
			s.blobs = append(s.blobs, pathString(p))
		}
	}
	fp := bin.Files[0].Path
	if d := path.Dir(fp); d != "." {
		s.dirPath = d + "/"
		key, err := delta.FileKey(fp)
		if err != nil {
			return nil, err
		}
		if kd := path.Dir(key); kd != "." {
			s.dirKey = kd + "/"
		}
	}
	return s, nil
}

// begin records that the rows of in go into the output from now on. With replace, the
// inputs before it are done (plain copying, one input at a time); else they stay active
// (merging).
func (s *sink) begin(in *inputFile, replace bool) {
	if replace {
		s.active, s.activeGeo = s.active[:0], s.activeGeo[:0]
	}
	s.active = append(s.active, in.add)
	s.activeGeo = append(s.activeGeo, geoInput{in.geo, in.hasGeo})
	if s.cur != nil {
		s.cur.tags.Add(in.add.Tags)
		s.cur.geo.Add(in.geo, in.hasGeo)
	}
}

func (s *sink) open(ctx context.Context) error {
	name := "part-" + uuid.NewString() + ".zstd.parquet"
	o := &outFile{path: s.dirPath + name, key: s.dirKey + name, stats: newFileStats(s.schema)}
	fctx, cancel := context.WithCancel(ctx)
	w, err := s.ex.store.Create(fctx, o.key)
	if err != nil {
		cancel()
		return fmt.Errorf("write data file %s: %w", o.key, err)
	}
	s.keys = append(s.keys, o.key)
	o.cancel, o.w, o.cw = cancel, w, &countingWriter{w: w}
	opts := []parquet.WriterOption{
		s.schema,
		parquet.Compression(&parquet.Zstd),
		parquet.DataPageVersion(1),
		parquet.CreatedBy("deltaraster", delta.EngineInfo, ""),
	}
	for _, b := range s.blobs {
		opts = append(opts, parquet.SkipPageBounds(b), parquet.SkipPageStatistics(b))
	}
	o.pw = parquet.NewWriter(o.cw, opts...)
	for i, a := range s.active {
		o.tags.Add(a.Tags)
		o.geo.Add(s.activeGeo[i].raw, s.activeGeo[i].ok)
	}
	s.cur = o
	return nil
}

// write appends rows to the output, cutting row groups and rolling files by size.
func (s *sink) write(ctx context.Context, rows []parquet.Row) error {
	if len(rows) == 0 {
		return nil
	}
	if s.cur == nil {
		if err := s.open(ctx); err != nil {
			return err
		}
	}
	o := s.cur
	for _, r := range rows {
		o.stats.Add(r)
	}
	if _, err := o.pw.WriteRows(rows); err != nil {
		return fmt.Errorf("write data file %s: %w", o.key, err)
	}
	s.rows += int64(len(rows))
	size := o.pw.Size()
	if size >= s.ex.target {
		return s.finish(ctx)
	}
	if size-o.rgBase >= s.ex.opts.RowGroupBytes {
		if err := o.pw.Flush(); err != nil {
			return fmt.Errorf("write data file %s: %w", o.key, err)
		}
		o.rgBase = o.pw.Size()
	}
	return nil
}

// finish closes the current output file, if any, and records its add action.
func (s *sink) finish(ctx context.Context) error {
	o := s.cur
	if o == nil {
		return nil
	}
	s.cur = nil
	for _, k := range s.kvKeys {
		o.pw.SetKeyValueMetadata(k, s.kv[k])
	}
	if g, ok := o.geo.String(); ok {
		o.pw.SetKeyValueMetadata(geoKey, g)
	}
	if err := o.pw.Close(); err != nil {
		o.cancel()
		o.w.Close()
		return fmt.Errorf("write data file %s: %w", o.key, err)
	}
	err := o.w.Close()
	o.cancel()
	if err != nil {
		return fmt.Errorf("write data file %s: %w", o.key, err)
	}
	s.done = append(s.done, &delta.Add{
		Path: o.path, PartitionValues: s.bin.Partition, Size: o.cw.n,
		ModificationTime: s.ex.opts.Now().UnixMilli(), DataChange: false,
		Stats: o.stats.JSON(), Tags: o.tags.Tags(),
	})
	s.ex.bytesWritten += o.cw.n
	return ctx.Err()
}

// abort stops the current file without publishing it.
func (s *sink) abort() {
	if o := s.cur; o != nil {
		o.cancel()
		o.w.Close()
		s.cur = nil
	}
}

// binResult is a bin written: the files it replaces and the files that replace them.
type binResult struct {
	index   int
	removes []*delta.Add // inputs merged
	adds    []*delta.Add
	keys    []string // every store key created (published or not), for clean-up
	kept    int64    // inputs left alone (another schema)
	bytes   int64    // input bytes merged
	rows    int64
}

// rewriteBin writes the rows of bin i into new files. On error, the files it created are
// returned in the result for clean-up.
func (ex *executor) rewriteBin(ctx context.Context, i int) (res *binResult, err error) {
	bin := &ex.plan.bins[i]
	res = &binResult{index: i}
	if ex.clusterPath != nil {
		err = ex.mergeBin(ctx, bin, res)
	} else {
		err = ex.copyBin(ctx, bin, res)
	}
	return res, err
}

// copyBin copies the rows of the bin's files in order, one file and one batch of rows at a
// time.
func (ex *executor) copyBin(ctx context.Context, bin *Bin, res *binResult) (err error) {
	var s *sink
	defer func() {
		if s != nil {
			if err != nil {
				s.abort()
			}
			res.keys = s.keys
		}
	}()
	buf := make([]parquet.Row, rowBatch)
	for _, a := range bin.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		in, err := ex.openInput(ctx, a)
		if err != nil {
			return err
		}
		if s == nil {
			if s, err = newSink(ex, bin, in); err != nil {
				return err
			}
		} else if !sameSchema(s.schema, in.file.Schema()) {
			res.kept++
			continue
		}
		s.begin(in, true)
		if err := copyRows(ctx, in, s, buf); err != nil {
			return err
		}
		res.removes = append(res.removes, a)
		res.bytes += a.Size
	}
	if s == nil {
		return nil
	}
	if err := s.finish(ctx); err != nil {
		return err
	}
	res.adds, res.rows = s.done, s.rows
	return nil
}

func copyRows(ctx context.Context, in *inputFile, s *sink, buf []parquet.Row) (err error) {
	defer recoverParquet("read data file "+in.add.Path, &err)
	for _, rg := range in.file.RowGroups() {
		rows := rg.Rows()
		for {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return err
			}
			n, rerr := rows.ReadRows(buf)
			if werr := s.write(ctx, buf[:n]); werr != nil {
				rows.Close()
				return werr
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return fmt.Errorf("read data file %s: %w", in.add.Path, rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read data file %s: %w", in.add.Path, err)
		}
	}
	return nil
}
