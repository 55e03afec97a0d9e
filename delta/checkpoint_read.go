package delta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// DefaultBatchRows is the number of checkpoint rows decoded at once.
const DefaultBatchRows = 4096

// readBufferBytes bounds what is read of a column chunk of a checkpoint file at once. The
// Parquet reader reads each chunk whole into memory by default, so memory would follow the
// row-group size of whoever wrote the file: another engine may write row groups of a million
// rows or more, whose chunks of paths and stats are tens of MiB each. A file with a chunk
// larger than this is read through a buffer of this size per chunk, a ranged read at a time
// (a buffer grows to hold a page larger than itself); smaller chunks are still read whole, in
// one request each.
const readBufferBytes = 1 << 20

// wholeReadBytes is the size up to which a Parquet file of the log (a checkpoint, a part of
// one, a sidecar) is read with one request for the whole object, then decoded from memory:
// each request costs tens of milliseconds on a cloud store, and a footer-then-chunks read of a
// small checkpoint made dozens. Larger files keep the ranged, bounded reads.
var wholeReadBytes int64 = 8 << 20 // a variable for tests

// readWhole reads key with one request when it holds at most limit bytes. When it holds more,
// it returns nil bytes and the version it found (as Stat would), without reading it.
func readWhole(ctx context.Context, s Store, key string, limit int64) ([]byte, ObjectInfo, error) {
	r, info, err := s.ReadPinned(ctx, key, "", 0, -1)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	defer r.Close()
	if info.Size > limit {
		return nil, info, nil
	}
	b := make([]byte, info.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		if ctx.Err() != nil {
			return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, ctx.Err())
		}
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	return b, info, nil
}

// Checkpoint is one checkpoint of the log: a classic file, all parts of a multi-part one, or the
// top-level file of a V2 one.
type Checkpoint struct {
	Version int64
	Kind    LogFileKind
	Files   []ObjectInfo // parts in order; one file for classic and V2
}

// actionSet selects the action columns a checkpoint read decodes.
type actionSet uint16

const (
	wantAdd actionSet = 1 << iota
	wantRemove
	wantMetadata
	wantProtocol
	wantTxn
	wantDomain
	wantSidecar
	wantCheckpointMeta

	wantFiles = wantAdd | wantRemove
	wantAll   = 0xffff
)

// actionColumns are the action columns of a checkpoint, each with its key: the child that
// every action of the column has (a row whose key is null holds no such action).
var actionColumns = []struct {
	name, key string
	bit       actionSet
}{
	{"add", "path", wantAdd}, {"remove", "path", wantRemove}, {"metaData", "id", wantMetadata},
	{"protocol", "minReaderVersion", wantProtocol}, {"txn", "appId", wantTxn},
	{"domainMetadata", "domain", wantDomain}, {"sidecar", "path", wantSidecar},
	{"checkpointMetadata", "version", wantCheckpointMeta},
}

// readCheckpoint streams the actions in want from every file of cp, sidecars included, in
// record batches of batchRows rows. It never holds more than one batch of decoded rows; the
// sidecar list (a few entries) is the only thing gathered.
func readCheckpoint(ctx context.Context, s Store, cp Checkpoint, want actionSet, batchRows int, fn func(Action) error) error {
	return readCheckpointFiles(ctx, s, cp, want, batchRows, fn, nil)
}

// fileRecordFunc receives the add and remove columns of one record batch of a Parquet
// checkpoint file (key) with n rows; a column the file lacks has a nil arr.
type fileRecordFunc func(key string, add, remove *fileCols, n int) error

// readCheckpointFiles is readCheckpoint; when files is not nil, the add and remove columns of
// Parquet files (with every leaf, partitionValues_parsed included) go to files a record batch
// at a time instead of to fn row by row. JSON files always go row by row.
func readCheckpointFiles(ctx context.Context, s Store, cp Checkpoint, want actionSet, batchRows int, fn func(Action) error, files fileRecordFunc) error {
	// Any checkpoint of a v2Checkpoint table may name sidecars, classic-named ones included.
	var sidecars []Sidecar
	collect := func(key string) func(Action) error {
		return func(a Action) error {
			switch {
			case a.Sidecar != nil:
				sidecars = append(sidecars, *a.Sidecar)
				return nil
			case a.CheckpointMetadata != nil:
				if a.CheckpointMetadata.Version != cp.Version {
					return corrupt(key, cp.Version, "checkpointMetadata names version %d", a.CheckpointMetadata.Version)
				}
				return nil
			}
			return fn(a)
		}
	}
	topWant := want | wantCheckpointMeta
	if want&wantFiles != 0 {
		topWant |= wantSidecar
	}
	for _, f := range cp.Files {
		var err error
		if strings.HasSuffix(f.Key, ".json") {
			err = readJSONActions(ctx, s, f.Key, cp.Version, func(a Action) error {
				if !a.in(topWant) {
					return nil
				}
				return collect(f.Key)(a)
			})
		} else {
			err = readParquetFiles(ctx, s, f, cp.Version, topWant, batchRows, collect(f.Key), files)
		}
		if err != nil {
			return err
		}
	}
	for _, sc := range sidecars {
		key, err := sidecarKey(sc.Path)
		if err != nil {
			return &CorruptError{Path: cp.Files[0].Key, Version: cp.Version, Err: err}
		}
		// A size of 0 or less (unknown) is learnt from the read.
		info := ObjectInfo{Key: key, Size: sc.SizeInBytes}
		if err := readParquetFiles(ctx, s, info, cp.Version, want&wantFiles, batchRows, fn, files); err != nil {
			return err
		}
	}
	return nil
}

// sidecarKey resolves a sidecar path: a bare file name lives in _delta_log/_sidecars/.
func sidecarKey(p string) (string, error) {
	if strings.Contains(p, "://") || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("sidecar path %q is not relative to _delta_log/_sidecars: %w", p, ErrInvalidPath)
	}
	key := path.Clean(SidecarDir + p)
	if !strings.HasPrefix(key, SidecarDir) {
		return "", fmt.Errorf("sidecar path %q: %w", p, ErrInvalidPath)
	}
	return key, nil
}

func (a Action) in(want actionSet) bool {
	switch {
	case a.Add != nil:
		return want&wantAdd != 0
	case a.Remove != nil:
		return want&wantRemove != 0
	case a.Metadata != nil:
		return want&wantMetadata != 0
	case a.Protocol != nil:
		return want&wantProtocol != 0
	case a.Txn != nil:
		return want&wantTxn != 0
	case a.DomainMetadata != nil:
		return want&wantDomain != 0
	case a.Sidecar != nil:
		return want&wantSidecar != 0
	case a.CheckpointMetadata != nil:
		return want&wantCheckpointMeta != 0
	}
	return false
}

// readParquetActions reads the wanted action columns of one Parquet checkpoint file row by
// row. Columns the file does not have are skipped (a checkpoint need not carry every action
// type).
func readParquetActions(ctx context.Context, s Store, f ObjectInfo, version int64, want actionSet, batchRows int, fn func(Action) error) error {
	return readParquetFiles(ctx, s, f, version, want, batchRows, fn, nil)
}

// readParquetFiles is readParquetActions, except that when files is not nil the add and remove
// columns go to files a record batch at a time (the other columns still go to fn).
func readParquetFiles(ctx context.Context, s Store, f ObjectInfo, version int64, want actionSet, batchRows int, fn func(Action) error, files fileRecordFunc) error {
	return readParquetRecords(ctx, s, f, version, want, batchRows, files != nil, func(cols *recordCols, n int) error {
		if files == nil {
			for i := range n {
				if err := decodeRow(cols, i, fn); err != nil {
					return err
				}
			}
			return nil
		}
		add, remove := cols.add, cols.remove
		if cols.others() {
			others := *cols
			others.add, others.remove = fileCols{}, fileCols{}
			for i := range n {
				if err := decodeRow(&others, i, fn); err != nil {
					return err
				}
			}
		}
		if add.arr == nil && remove.arr == nil {
			return nil
		}
		return callerCode(func() error { return files(f.Key, &add, &remove, n) })
	})
}

// callerPanic carries a panic of the caller's code through readParquetRecords, whose recover
// turns the decoder's panics on corrupt input into errors naming the file, not the caller's.
type callerPanic struct{ v any }

// callerCode runs fn, marking a panic in it as the caller's.
func callerCode(fn func() error) error {
	defer func() {
		if r := recover(); r != nil {
			panic(callerPanic{r})
		}
	}()
	return fn()
}

// readParquetRecords reads the wanted action columns of one Parquet checkpoint file in record
// batches of batchRows rows and hands each to fn as its top-level struct columns. With
// allFileLeaves, add and remove keep every leaf (partitionValues_parsed too). Panics of the
// Parquet decoder on corrupt input become a *CorruptError.
func readParquetRecords(ctx context.Context, s Store, f ObjectInfo, version int64, want actionSet, batchRows int, allFileLeaves bool, fn func(cols *recordCols, n int) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if cp, ok := r.(callerPanic); ok {
				panic(cp.v)
			}
			err = corrupt(f.Key, version, "decode parquet: %v", r)
		}
	}()
	rp, err := openParquetRead(ctx, s, f, version, want, batchRows, allFileLeaves)
	if err != nil || rp == nil {
		return err
	}
	defer rp.pf.Close()
	fr, leaves, rowGroups := rp.fr, rp.leaves, rp.rowGroups
	if len(leaves) == 0 || rowGroups != nil && len(rowGroups) == 0 {
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, rowGroups)
	if err != nil {
		return &CorruptError{Path: f.Key, Version: version, Err: fmt.Errorf("read parquet: %w", err)}
	}
	defer rr.Release()
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", f.Key, err)
		}
		rec := rr.RecordBatch()
		cols, err := recordColumns(rec)
		if err != nil {
			return &CorruptError{Path: f.Key, Version: version, Err: err}
		}
		if err := fn(cols, int(rec.NumRows())); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", f.Key, ctx.Err())
		}
		return &CorruptError{Path: f.Key, Version: version, Err: fmt.Errorf("read parquet: %w", err)}
	}
	return nil
}

// largestColumnChunk is the size of the largest column chunk of pf, compressed, in bytes.
func largestColumnChunk(pf *file.Reader) int64 {
	md := pf.MetaData()
	var largest int64
	for g := range md.NumRowGroups() {
		rg := md.RowGroup(g)
		for c := range rg.NumColumns() {
			if cc, err := rg.ColumnChunk(c); err == nil {
				largest = max(largest, cc.TotalCompressedSize())
			}
		}
	}
	return largest
}

// parquetRead is what readParquetRecords reads of one checkpoint file: the leaf columns of the
// wanted actions and the row groups that may hold them (nil: every one).
type parquetRead struct {
	pf        *file.Reader
	fr        *pqarrow.FileReader
	leaves    []int
	rowGroups []int
}

// openParquetRead opens f and selects what to read of it; nil (and no error) for a file
// without rows. The caller closes pf.
func openParquetRead(ctx context.Context, s Store, f ObjectInfo, version int64, want actionSet, batchRows int, allFileLeaves bool) (*parquetRead, error) {
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	var ra parquet.ReaderAtSeeker
	if f.Size <= wholeReadBytes {
		// A small file (or one of unknown size) is read with one GET, not a footer read and
		// then a ranged read per column chunk.
		b, info, err := readWhole(ctx, s, f.Key, wholeReadBytes)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, &CorruptError{Path: f.Key, Version: version, Err: err}
			}
			return nil, err
		}
		switch {
		case f.Size > 0 && info.Size != f.Size:
			// Not the file the log segment was built from (which a ranged read would refuse
			// too).
			return nil, fmt.Errorf("read %s: %d bytes, expected %d: %w", f.Key, info.Size, f.Size, ErrChanged)
		case b != nil:
			ra = bytes.NewReader(b)
		default:
			// Of unknown size, and larger than the limit: read that version by ranges.
			ra = NewReaderAtVersion(ctx, s, info)
		}
	} else {
		ra = NewReaderAt(ctx, s, f.Key, f.Size)
	}
	pf, err := file.NewParquetReader(ra)
	if err != nil {
		return nil, &CorruptError{Path: f.Key, Version: version, Err: fmt.Errorf("open parquet: %w", err)}
	}
	if largestColumnChunk(pf) > readBufferBytes {
		// Read its chunks through bounded buffers; the footer already read is reused. A file
		// read whole is no exception: without the buffers every chunk of a row group is
		// copied out of it at once, so a file of up to wholeReadBytes was held twice.
		props := parquet.NewReaderProperties(memory.DefaultAllocator)
		props.BufferedStreamEnabled = true
		props.BufferSize = readBufferBytes
		md := pf.MetaData()
		pf.Close()
		if pf, err = file.NewParquetReader(ra, file.WithReadProps(props), file.WithMetadata(md)); err != nil {
			return nil, &CorruptError{Path: f.Key, Version: version, Err: fmt.Errorf("open parquet: %w", err)}
		}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(batchRows)}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, &CorruptError{Path: f.Key, Version: version, Err: fmt.Errorf("read parquet schema: %w", err)}
	}
	if pf.NumRows() == 0 {
		pf.Close()
		return nil, nil
	}
	rp := &parquetRead{pf: pf, fr: fr}
	var keys []int
	for _, fld := range fr.Manifest.Fields {
		for _, c := range actionColumns {
			if fld.Field.Name == c.name && want&c.bit != 0 {
				rp.leaves = appendLeaves(rp.leaves, fld, allFileLeaves && c.bit&wantFiles != 0)
				keys = append(keys, keyLeaf(fld, c.key))
			}
		}
	}
	rp.rowGroups = rowGroupsWithActions(pf, keys)
	return rp, nil
}

// keyLeaf is the column index of the leaf child named key of an action column, or -1.
func keyLeaf(fld pqarrow.SchemaField, key string) int {
	for _, c := range fld.Children {
		if c.Field != nil && c.Field.Name == key && c.IsLeaf() {
			return c.ColIndex
		}
	}
	return -1
}

// rowGroupsWithActions lists the row groups where some wanted action may be present: those
// where the statistics of some key column do not say it is all null. Nil means every row
// group (some key column has no statistics). Checkpoints hold protocol, metadata, txn and
// domain metadata in a few rows: with statistics (Spark writes them, and so does this
// module's writer for these columns), a reader of those skips the file list.
func rowGroupsWithActions(pf *file.Reader, keys []int) []int {
	md := pf.MetaData()
	groups := make([]int, 0, md.NumRowGroups())
	for g := range md.NumRowGroups() {
		rg := md.RowGroup(g)
		some := false
		for _, k := range keys {
			if k < 0 {
				return nil
			}
			cc, err := rg.ColumnChunk(k)
			if err != nil {
				return nil
			}
			st, err := cc.Statistics()
			if err != nil || st == nil || !st.HasNullCount() {
				return nil
			}
			if st.NullCount() < cc.NumValues() {
				some = true
			}
		}
		if some {
			groups = append(groups, g)
		}
	}
	return groups
}

// appendLeaves adds the leaf columns of fld, leaving out the parsed partition values (the
// string map is what this package reads) unless all is set. stats_parsed is read: some writers
// store only it.
func appendLeaves(leaves []int, fld pqarrow.SchemaField, all bool) []int {
	if fld.IsLeaf() {
		return append(leaves, fld.ColIndex)
	}
	for _, c := range fld.Children {
		if !all && c.Field != nil && c.Field.Name == "partitionValues_parsed" {
			continue
		}
		leaves = appendLeaves(leaves, c, all)
	}
	return leaves
}

// ReadCommitActions streams the actions of commit v in file order, reading the commit file
// with one GET; fn returning an error stops the read and returns it. A missing commit is a
// *CorruptError that matches ErrNotFound; a line that does not decode names the file, version
// and line. To follow the log from a version on, use CommitsAfter.
func ReadCommitActions(ctx context.Context, s Store, v int64, fn func(Action) error) error {
	return readJSONActions(ctx, s, CommitKey(v), v, fn)
}

// readJSONActions streams the actions of a newline-delimited JSON log file. Blank lines are
// skipped; a line that does not decode is a *CorruptError naming the file, version and line.
func readJSONActions(ctx context.Context, s Store, key string, version int64, fn func(Action) error) error {
	return scanLines(ctx, s, key, version, func(line []byte, n int) error {
		a, err := ParseAction(line)
		if err != nil {
			return corrupt(key, version, "line %d: %v", n, err)
		}
		return fn(a)
	})
}

// lineReaders recycles the 256 KiB line buffers of scanLines: a commit is usually a few
// hundred bytes, and a fresh buffer per commit dominated replay of a long tail.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

// scanLines calls fn for every non-blank line of an object, with its 1-based line number.
func scanLines(ctx context.Context, s Store, key string, version int64, fn func(line []byte, n int) error) error {
	r, err := s.ReadRange(ctx, key, 0, -1)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return &CorruptError{Path: key, Version: version, Err: err}
		}
		return err
	}
	defer r.Close()
	return scanReader(ctx, r, key, version, fn)
}

// scanReader is scanLines on an object already open: r reads the object key (of version).
func scanReader(ctx context.Context, r io.Reader, key string, version int64, fn func(line []byte, n int) error) error {
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); lineReaders.Put(br) }()
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			n++
			if trimmed := trimSpace(line); len(trimmed) > 0 {
				// A last line without its newline may be a write cut short. Callers skip lines by
				// their first key without decoding them, so check that this one is whole.
				if errors.Is(err, io.EOF) && !json.Valid(trimmed) {
					return corrupt(key, version, "line %d: truncated or malformed JSON", n)
				}
				if n%1024 == 0 {
					if cerr := ctx.Err(); cerr != nil {
						return fmt.Errorf("read %s: %w", key, cerr)
					}
				}
				if ferr := fn(trimmed, n); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("read %s: %w", key, ctx.Err())
			}
			return &CorruptError{Path: key, Version: version, Err: err}
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// actionKind returns the first key of a JSON object line without decoding it, so a reader can
// skip lines it does not need. ok is false when the line does not look like a whole object
// (it does not start with {" or does not end with }): such a line is decoded, so a truncated
// line is an error even when its action is not wanted.
func actionKind(line []byte) (string, bool) {
	if len(line) == 0 || line[len(line)-1] != '}' {
		return "", false
	}
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i >= len(line) || line[i] != '{' {
		return "", false
	}
	i++
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i >= len(line) || line[i] != '"' {
		return "", false
	}
	i++
	start := i
	for i < len(line) && line[i] != '"' {
		if line[i] == '\\' {
			return "", false
		}
		i++
	}
	if i >= len(line) {
		return "", false
	}
	return string(line[start:i]), true
}

// SidecarsOf returns the names (relative to _delta_log/_sidecars) of the sidecar files a
// checkpoint file references; none for a checkpoint without sidecars.
func SidecarsOf(ctx context.Context, s Store, f ObjectInfo) ([]string, error) {
	lf, ok := ParseLogKey(f.Key)
	if !ok || !lf.IsCheckpoint() {
		return nil, fmt.Errorf("sidecars of %s: not a checkpoint", f.Key)
	}
	var names []string
	collect := func(a Action) error {
		if a.Sidecar != nil {
			names = append(names, a.Sidecar.Path)
		}
		return nil
	}
	var err error
	if strings.HasSuffix(f.Key, ".json") {
		err = readJSONActions(ctx, s, f.Key, lf.Version, collect)
	} else {
		err = readParquetActions(ctx, s, f, lf.Version, wantSidecar, DefaultBatchRows, collect)
	}
	return names, err
}
