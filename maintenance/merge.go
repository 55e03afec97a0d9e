package maintenance

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

// maxNaturalRuns is how many sorted runs a file may fall into and still be merged in place;
// a file with more is cut into sorted runs in temporary files first.
const maxNaturalRuns = 16

// run is a sequence of rows sorted by the cluster column: rows [start, end) of an input file,
// or a whole temporary run file.
type run struct {
	add        *delta.Add // input file, or nil for a temporary run
	tmp        string     // temporary run file
	start, end int64
}

// keyColumn says how to find and order the cluster column in rows.
type keyColumn struct {
	index int
	typ   parquet.Type
}

func (k keyColumn) key(row parquet.Row) parquet.Value {
	if k.index < len(row) && row[k.index].Column() == k.index {
		return row[k.index] // no repeated column before it: the value sits at its index
	}
	for _, v := range row {
		if v.Column() == k.index {
			return v
		}
	}
	return parquet.Value{}
}

// compare orders values, nulls first.
func (k keyColumn) compare(a, b parquet.Value) int {
	an, bn := a.IsNull(), b.IsNull()
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return k.typ.Compare(a, b)
}

func (ex *executor) keyColumnOf(s *parquet.Schema) (keyColumn, error) {
	leaf, ok := s.Lookup(ex.clusterPath...)
	if !ok {
		return keyColumn{}, fmt.Errorf("%w: cluster column %s is not in the data files", ErrBadOption, pathString(ex.clusterPath))
	}
	if leaf.MaxRepetitionLevel > 0 {
		return keyColumn{}, fmt.Errorf("%w: cluster column %s is inside a list or map", ErrBadOption, pathString(ex.clusterPath))
	}
	return keyColumn{index: leaf.ColumnIndex, typ: leaf.Node.Type()}, nil
}

// mergeBin writes the rows of the bin sorted by the cluster column. Each file is scanned for
// its sorted runs (reading the cluster column only); a file with few runs is merged in place,
// one with many is cut into sorted runs of at most SortBytes in temporary files. Runs are then
// merged MaxFanIn at a time, in passes through temporary files when there are more.
func (ex *executor) mergeBin(ctx context.Context, bin *Bin, res *binResult) (err error) {
	var s *sink
	var temps []string
	var tempBytes int64 // local disk held by temporary runs now
	addTemp := func(n int64) {
		tempBytes += n
		ex.metrics.TempBytes = max(ex.metrics.TempBytes, tempBytes)
	}
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
		if s != nil {
			if err != nil {
				s.abort()
			}
			res.keys = s.keys
		}
	}()
	var key keyColumn
	var runs []run
	var inputs []*inputFile // geo and tags of every merged input
	for _, a := range bin.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var target *parquet.Schema
		if s != nil {
			target = s.schema
		}
		in, err := ex.openInput(ctx, a, target)
		if err != nil {
			return err
		}
		if s == nil {
			if s, err = newSink(ex, bin, in); err != nil {
				return err
			}
			if err := in.convertTo(s.schema); err != nil {
				return err
			}
			if key, err = ex.keyColumnOf(s.schema); err != nil {
				return err
			}
		}
		rs, err := naturalRuns(in, key, ex.clusterPath)
		if err != nil {
			return err
		}
		if len(rs) <= maxNaturalRuns {
			runs = append(runs, rs...)
		} else {
			tmp, n, err := ex.sortRuns(ctx, in, key, s.schema)
			temps = append(temps, tmp...)
			addTemp(n)
			if err != nil {
				return err
			}
			for _, t := range tmp {
				runs = append(runs, run{tmp: t})
			}
		}
		inputs = append(inputs, &inputFile{add: a, geo: in.geo, hasGeo: in.hasGeo})
		res.removes = append(res.removes, a)
		res.bytes += a.Size
	}
	if s == nil {
		return nil
	}
	for _, in := range inputs {
		s.begin(in, false)
	}
	// Passes: merge the first MaxFanIn runs into a temporary run until few enough remain.
	for len(runs) > ex.opts.MaxFanIn {
		t, err := os.CreateTemp(ex.opts.TempDir, "deltaraster-run-*.parquet")
		if err != nil {
			return fmt.Errorf("create temporary run: %w", err)
		}
		temps = append(temps, t.Name())
		pw := parquet.NewWriter(t, s.schema, parquet.Compression(&parquet.Snappy))
		out := func(_ context.Context, rows []parquet.Row) error {
			_, err := pw.WriteRows(rows)
			return err
		}
		err = ex.mergeRuns(ctx, runs[:ex.opts.MaxFanIn], key, s.schema, out)
		if err == nil {
			err = pw.Close()
		}
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write temporary run: %w", err)
		}
		if fi, err := os.Stat(t.Name()); err == nil {
			addTemp(fi.Size())
		}
		// Temporary runs merged here are not needed any more.
		for _, r := range runs[:ex.opts.MaxFanIn] {
			if r.tmp != "" {
				if fi, err := os.Stat(r.tmp); err == nil {
					addTemp(-fi.Size())
				}
				os.Remove(r.tmp)
			}
		}
		runs = append(slices.Clone(runs[ex.opts.MaxFanIn:]), run{tmp: t.Name()})
	}
	if err := ex.mergeRuns(ctx, runs, key, s.schema, s.write); err != nil {
		return err
	}
	if err := s.finish(ctx); err != nil {
		return err
	}
	res.adds, res.rows = s.done, s.rows
	return nil
}

// naturalRuns reads the cluster column (at path) of a file and returns its maximal sorted
// runs, its values converted to the table's type first.
func naturalRuns(in *inputFile, key keyColumn, path []string) (runs []run, err error) {
	defer recoverParquet("read data file "+in.add.Path, &err)
	idx, fix, ok := in.conv.keyColumn(path)
	if !ok {
		// The file lacks the column: every key is null, the file one run.
		if n := in.file.NumRows(); n > 0 {
			runs = append(runs, run{add: in.add, start: 0, end: n})
		}
		return runs, nil
	}
	var prev parquet.Value
	var havePrev bool
	var row, start int64
	vals := make([]parquet.Value, 1024)
	for _, rg := range in.file.RowGroups() {
		cc := rg.ColumnChunks()[idx]
		r := parquet.NewColumnChunkValueReader(cc)
		for {
			n, rerr := r.ReadValues(vals)
			for _, v := range vals[:n] {
				if fix != nil && !v.IsNull() {
					if v, err = fix(v); err != nil {
						r.Close()
						return nil, fmt.Errorf("read data file %s: %w", in.add.Path, err)
					}
				}
				if havePrev && key.compare(v, prev) < 0 {
					runs = append(runs, run{add: in.add, start: start, end: row})
					start = row
				}
				prev, havePrev = v.Clone(), true
				row++
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				r.Close()
				return nil, fmt.Errorf("read data file %s: %w", in.add.Path, rerr)
			}
			if n == 0 {
				break
			}
		}
		r.Close()
	}
	if row > start {
		runs = append(runs, run{add: in.add, start: start, end: row})
	}
	return runs, nil
}

// sortRuns cuts a file into runs sorted by the cluster column, each at most about SortBytes
// of row data, written to temporary Parquet files. It returns their names and total size.
func (ex *executor) sortRuns(ctx context.Context, in *inputFile, key keyColumn, schema *parquet.Schema) (names []string, total int64, err error) {
	defer recoverParquet("read data file "+in.add.Path, &err)
	var chunk []parquet.Row
	var chunkBytes int64
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		slices.SortStableFunc(chunk, func(a, b parquet.Row) int { return key.compare(key.key(a), key.key(b)) })
		t, err := os.CreateTemp(ex.opts.TempDir, "deltaraster-run-*.parquet")
		if err != nil {
			return fmt.Errorf("create temporary run: %w", err)
		}
		names = append(names, t.Name())
		pw := parquet.NewWriter(t, schema, parquet.Compression(&parquet.Snappy))
		_, err = pw.WriteRows(chunk)
		if err == nil {
			err = pw.Close()
		}
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write temporary run: %w", err)
		}
		if fi, err := os.Stat(t.Name()); err == nil {
			total += fi.Size()
		}
		chunk, chunkBytes = chunk[:0], 0
		return nil
	}
	buf := make([]parquet.Row, rowBatch)
	for _, rg := range in.file.RowGroups() {
		rows := rg.Rows()
		for {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return names, total, err
			}
			n, rerr := rows.ReadRows(buf)
			if cerr := in.conv.rows(buf[:n]); cerr != nil {
				rows.Close()
				return names, total, fmt.Errorf("convert rows of %s: %w", in.add.Path, cerr)
			}
			for _, r := range buf[:n] {
				c := r.Clone()
				chunk = append(chunk, c)
				chunkBytes += rowBytes(c)
			}
			if chunkBytes >= ex.opts.SortBytes {
				if err := flush(); err != nil {
					rows.Close()
					return names, total, err
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return names, total, fmt.Errorf("read data file %s: %w", in.add.Path, rerr)
			}
		}
		rows.Close()
	}
	return names, total, flush()
}

// rowBytes estimates the memory of a row.
func rowBytes(r parquet.Row) int64 {
	n := int64(len(r)) * 24
	for _, v := range r {
		if k := v.Kind(); k == parquet.ByteArray || k == parquet.FixedLenByteArray {
			n += int64(len(v.ByteArray()))
		}
	}
	return n
}

// cursor reads the rows of one run in batches.
type cursor struct {
	r     run
	file  *parquet.File
	conv  *conversion // rows of an input file to the table's schema; nil for temporary runs
	osf   *os.File
	rg    int   // current row group
	rgOff int64 // first row of the current row group within the file
	rows  parquet.Rows
	left  int64 // rows of the run not yet read into buf
	buf   []parquet.Row
	pos   int
	n     int
	key   parquet.Value
}

func (ex *executor) openCursor(ctx context.Context, r run, files map[string]*inputFile, schema *parquet.Schema) (c *cursor, err error) {
	defer recoverParquet("open run", &err)
	c = &cursor{r: r, buf: make([]parquet.Row, rowBatch)}
	if r.tmp != "" {
		f, err := os.Open(r.tmp)
		if err != nil {
			return nil, fmt.Errorf("open temporary run: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open temporary run: %w", err)
		}
		pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open temporary run: %w", err)
		}
		c.file, c.osf, c.r.start, c.r.end = pf, f, 0, pf.NumRows()
	} else if in, ok := files[r.add.Path]; ok {
		c.file, c.conv = in.file, in.conv
	} else {
		in, err := ex.openInput(ctx, r.add, schema)
		if err != nil {
			return nil, err
		}
		files[r.add.Path], c.file, c.conv = in, in.file, in.conv
	}
	c.left = c.r.end - c.r.start
	// Find the row group holding the first row and seek to it.
	off := int64(0)
	for i, g := range c.file.RowGroups() {
		if c.r.start < off+g.NumRows() {
			c.rg, c.rgOff = i, off
			c.rows = g.Rows()
			if err := c.rows.SeekToRow(c.r.start - off); err != nil {
				c.close()
				return nil, fmt.Errorf("seek in %s: %w", c.name(), err)
			}
			return c, nil
		}
		off += g.NumRows()
	}
	c.left = 0
	return c, nil
}

func (c *cursor) name() string {
	if c.r.add != nil {
		return c.r.add.Path
	}
	return "temporary run"
}

// fill reads the next batch; false at the end of the run.
func (c *cursor) fill() (ok bool, err error) {
	defer recoverParquet("read "+c.name(), &err)
	for c.left > 0 && c.rows != nil {
		want := min(int64(len(c.buf)), c.left)
		n, rerr := c.rows.ReadRows(c.buf[:want])
		if n > 0 && c.conv != nil {
			if err := c.conv.rows(c.buf[:n]); err != nil {
				return false, fmt.Errorf("convert rows of %s: %w", c.name(), err)
			}
		}
		if n > 0 {
			c.pos, c.n = 0, n
			c.left -= int64(n)
			return true, nil
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return false, fmt.Errorf("read %s: %w", c.name(), rerr)
		}
		// End of this row group: go on with the next one.
		c.rows.Close()
		c.rows = nil
		groups := c.file.RowGroups()
		c.rgOff += groups[c.rg].NumRows()
		c.rg++
		if c.rg < len(groups) {
			c.rows = groups[c.rg].Rows()
		}
	}
	return false, nil
}

func (c *cursor) close() {
	if c.rows != nil {
		c.rows.Close()
		c.rows = nil
	}
	if c.osf != nil {
		c.osf.Close()
		c.osf = nil
	}
}

// cursorHeap orders cursors by their current key, then by run order, so equal keys keep the
// order of the runs (a stable merge).
type cursorHeap struct {
	cs  []*cursor
	idx []int
	key keyColumn
}

func (h *cursorHeap) Len() int { return len(h.cs) }
func (h *cursorHeap) Less(i, j int) bool {
	return cmp.Or(h.key.compare(h.cs[i].key, h.cs[j].key), cmp.Compare(h.idx[i], h.idx[j])) < 0
}
func (h *cursorHeap) Swap(i, j int) {
	h.cs[i], h.cs[j] = h.cs[j], h.cs[i]
	h.idx[i], h.idx[j] = h.idx[j], h.idx[i]
}
func (h *cursorHeap) Push(x any) { panic("unused") }
func (h *cursorHeap) Pop() any {
	n := len(h.cs) - 1
	c := h.cs[n]
	h.cs, h.idx = h.cs[:n], h.idx[:n]
	return c
}

// mergeRuns k-way merges runs by the cluster column into out, a batch of rows at a time.
func (ex *executor) mergeRuns(ctx context.Context, runs []run, key keyColumn, schema *parquet.Schema, out func(context.Context, []parquet.Row) error) (err error) {
	files := map[string]*inputFile{}
	h := &cursorHeap{key: key}
	var all []*cursor
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	for i, r := range runs {
		c, err := ex.openCursor(ctx, r, files, schema)
		if err != nil {
			return err
		}
		all = append(all, c)
		ok, err := c.fill()
		if err != nil {
			return err
		}
		if ok {
			c.key = key.key(c.buf[0])
			h.cs, h.idx = append(h.cs, c), append(h.idx, i)
		}
	}
	heap.Init(h)
	batch := make([]parquet.Row, 0, rowBatch)
	for h.Len() > 0 {
		c := h.cs[0]
		batch = append(batch, c.buf[c.pos])
		c.pos++
		if c.pos < c.n {
			c.key = key.key(c.buf[c.pos])
			heap.Fix(h, 0)
			if len(batch) == cap(batch) {
				// Rows in batch alias the cursors' buffers: write before any cursor refills.
				if err := out(ctx, batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
			continue
		}
		// c's buffer is used up: write what refers to it before it is refilled.
		if err := out(ctx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := c.fill()
		if err != nil {
			return err
		}
		if ok {
			c.key = key.key(c.buf[0])
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
			c.close()
		}
	}
	return out(ctx, batch)
}
