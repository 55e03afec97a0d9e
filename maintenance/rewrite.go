package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/deltaraster/deltaraster/delta"
)

// rowBatch is how many rows are read from an input at once.
const rowBatch = 32

// inputFile is an opened data file of a bin.
type inputFile struct {
	add    *delta.Add
	file   *parquet.File
	conv   *conversion // its rows to the table's schema
	geo    string
	hasGeo bool
}

// recoverParquet turns a panic of the Parquet library on a malformed file into an error.
func recoverParquet(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed Parquet: %v", what, r)
	}
}

// openInput opens data file a: fetched whole when it is small, else read by ranges. With a
// target, its rows are converted to that schema (else convertTo must be called).
func (ex *executor) openInput(ctx context.Context, a *delta.Add, target *parquet.Schema) (in *inputFile, err error) {
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
	if target != nil {
		if err := in.convertTo(target); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// convertTo plans the conversion of the file's rows to the schema of the output.
func (in *inputFile) convertTo(target *parquet.Schema) error {
	conv, err := newConversion(in.file.Schema(), target)
	if err != nil {
		return fmt.Errorf("data file %s: %w", in.add.Path, err)
	}
	in.conv = conv
	return nil
}

// writerKey reports whether a key-value metadata entry describes the layout of the file that
// holds it (as other writers record their own schema), so it must not be copied into a file
// of another layout.
func writerKey(k string) bool {
	return k == "ARROW:schema" || strings.HasPrefix(k, "org.apache.spark.")
}

// sink writes the rows of a bin into data files of the table's schema and the target size:
// ZSTD pages, row groups cut by bytes, the first input's key-value metadata (but the
// descriptions of its own layout other writers leave there) with "geo" merged from the inputs
// whose rows each file holds, stats computed from the rows, tags merged from those inputs.
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
	schema, err := binSchema(first.file.Schema(), ex.plan.schema)
	if err != nil {
		return nil, fmt.Errorf("data file %s: %w", first.add.Path, err)
	}
	s := &sink{ex: ex, bin: bin, schema: schema, kv: map[string]string{}}
	for _, kv := range first.file.Metadata().KeyValueMetadata {
		if kv.Key == geoKey || writerKey(kv.Key) {
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
	kept    int64    // inputs left alone: none since every file is converted to the table schema
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
			if cerr := in.conv.rows(buf[:n]); cerr != nil {
				rows.Close()
				return fmt.Errorf("convert rows of %s: %w", in.add.Path, cerr)
			}
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

// The schema optimize writes is the table's, not that of the files it reads: files written
// by other engines use encodings, physical types and layouts of their own (dictionary,
// delta-binary-packed, byte-stream-split pages; INT96 or millisecond timestamps; columns
// added later, or in another order). Rows are decoded from each input, converted to the
// table's schema and encoded again with the encodings chosen here.

// group is a Parquet group node whose fields keep the order given (parquet.Group sorts them
// by name).
type group struct {
	fields []parquet.Field
	typ    parquet.Type // nil: a plain group; else the LIST or MAP type
}

var (
	listType = parquet.List(parquet.Leaf(parquet.BooleanType)).Type()
	mapType  = parquet.Map(parquet.String(), parquet.Leaf(parquet.BooleanType)).Type()
)

func (g *group) ID() int        { return 0 }
func (g *group) String() string { return "group" }
func (g *group) Type() parquet.Type {
	if g.typ != nil {
		return g.typ
	}
	return parquet.Group{}.Type()
}
func (g *group) Optional() bool                  { return false }
func (g *group) Repeated() bool                  { return false }
func (g *group) Required() bool                  { return true }
func (g *group) Leaf() bool                      { return false }
func (g *group) Fields() []parquet.Field         { return g.fields }
func (g *group) Encoding() encoding.Encoding     { return nil }
func (g *group) Compression() compress.Codec     { return nil }
func (g *group) GoType() reflect.Type            { return reflect.TypeFor[map[string]any]() }
func (g *group) add(name string, n parquet.Node) { g.fields = append(g.fields, field{n, name}) }

// field names a node inside a group.
type field struct {
	parquet.Node
	name string
}

func (f field) Name() string                           { return f.name }
func (f field) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

// tableSchema is the Parquet schema of a table's data columns (partition columns excluded) in
// table order: required where the table says non-nullable, lists and maps in the standard
// three-level form, timestamps as INT64 microseconds, decimals as Spark writes them, every
// leaf PLAIN-encoded. binSchema derives from it the schema of the files a bin is written to.
func tableSchema(md delta.Metadata) (*parquet.Schema, error) {
	st, err := md.Schema()
	if err != nil {
		return nil, err
	}
	root := &group{}
	for _, f := range st.Fields {
		if slices.Contains(md.PartitionColumns, f.Name) {
			continue
		}
		n, err := deltaNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		if n != nil {
			root.add(f.Name, nullable(n, f.Nullable))
		}
	}
	if len(root.fields) == 0 {
		return nil, fmt.Errorf("the table has no data columns to write")
	}
	return parquet.NewSchema("table", root), nil
}

// deltaNode is the Parquet node of a Delta type (primitive name or nested type as JSON); nil
// for a top-level void column, which has no values to store (Spark writes no column for it
// either, and readers read nulls).
func deltaNode(raw json.RawMessage) (parquet.Node, error) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if name == "void" {
			return nil, nil
		}
		leaf, err := primitiveNode(name)
		if err != nil {
			return nil, err
		}
		return parquet.Encoded(leaf, &parquet.Plain), nil
	}
	var t struct {
		Type        string              `json:"type"`
		Fields      []delta.StructField `json:"fields"`
		ElementType json.RawMessage     `json:"elementType"`
		KeyType     json.RawMessage     `json:"keyType"`
		ValueType   json.RawMessage     `json:"valueType"`
		// Absent means nullable.
		ContainsNull      *bool `json:"containsNull"`
		ValueContainsNull *bool `json:"valueContainsNull"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decode type %s: %w", raw, err)
	}
	switch t.Type {
	case "struct":
		g := &group{}
		for _, f := range t.Fields {
			n, err := deltaNode(f.Type)
			if err == nil && n == nil {
				err = fmt.Errorf("a nested void is not supported")
			}
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			g.add(f.Name, nullable(n, f.Nullable))
		}
		if len(g.fields) == 0 {
			return nil, fmt.Errorf("empty struct")
		}
		return g, nil
	case "array":
		e, err := deltaNode(t.ElementType)
		if err == nil && e == nil {
			err = fmt.Errorf("a nested void is not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		return parquet.List(nullable(e, t.ContainsNull == nil || *t.ContainsNull)), nil
	case "map":
		k, err := deltaNode(t.KeyType)
		if err == nil && k == nil {
			err = fmt.Errorf("a nested void is not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		v, err := deltaNode(t.ValueType)
		if err == nil && v == nil {
			err = fmt.Errorf("a nested void is not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		return parquet.Map(k, nullable(v, t.ValueContainsNull == nil || *t.ValueContainsNull)), nil
	}
	return nil, fmt.Errorf("type %s is not supported", raw)
}

func nullable(n parquet.Node, ok bool) parquet.Node {
	if ok {
		return parquet.Optional(n)
	}
	return parquet.Required(n)
}

// binSchema is the schema of the files a bin is written to: the table's data columns as the
// first file of the bin lays them out (its order, names, types, and required where it and
// the table both say so), with encodings of our own, standard list and map layouts, and the
// table's own type where the file's differs in representation (INT96 or millisecond
// timestamps, decimals of another width); then, optional and in table order, the table's
// columns the file lacks. The tables this package writes keep their files' schemas exactly.
func binSchema(first, table *parquet.Schema) (*parquet.Schema, error) {
	g, err := mergeGroup(first, table, "")
	if err != nil {
		return nil, err
	}
	return parquet.NewSchema(first.Name(), g), nil
}

// mergeGroup merges the struct src of the first file with its counterpart tgt in the table.
func mergeGroup(src, tgt parquet.Node, path string) (*group, error) {
	out := &group{}
	for _, f := range src.Fields() {
		t := matchOf(tgt, f.Name())
		if t == nil {
			continue // not a column of the table (such as a partition column written in the file)
		}
		n, err := mergeNode(f, t, path+t.Name())
		if err != nil {
			return nil, err
		}
		out.add(t.Name(), n)
	}
	for _, t := range tgt.Fields() {
		if matchOf(src, t.Name()) == nil {
			out.add(t.Name(), parquet.Optional(t))
		}
	}
	return out, nil
}

func mergeNode(src, tgt parquet.Node, path string) (parquet.Node, error) {
	var n parquet.Node
	switch {
	case src.Leaf() != tgt.Leaf():
		return tgt, nil // the conversion of this file refuses it
	case src.Leaf():
		typ := tgt.Type()
		if fix, err := leafFix(src.Type(), typ); err == nil && fix == nil {
			typ = src.Type()
		}
		n = parquet.Encoded(parquet.Leaf(typ), &parquet.Plain)
	default:
		var ltv format.LogicalTypeValue
		if lt := tgt.Type().LogicalType(); lt != nil {
			ltv = lt.Value
		}
		switch ltv.(type) {
		case *format.ListType:
			rep, err := oneRepeatedGroup(src, path)
			if err != nil || len(rep.Fields()) != 1 {
				return tgt, nil // the conversion of this file refuses it
			}
			e, err := mergeNode(rep.Fields()[0], tgt.Fields()[0].Fields()[0], path+".element")
			if err != nil {
				return nil, err
			}
			inner := &group{}
			inner.add("element", e)
			g := &group{typ: listType}
			g.add("list", parquet.Repeated(inner))
			n = g
		case *format.MapType:
			rep, err := oneRepeatedGroup(src, path)
			if err != nil || len(rep.Fields()) != 2 {
				return tgt, nil
			}
			tRep := tgt.Fields()[0]
			inner := &group{}
			for i, name := range []string{"key", "value"} {
				e, err := mergeNode(rep.Fields()[i], childOf(tRep, name), path+"."+name)
				if err != nil {
					return nil, err
				}
				inner.add(name, e)
			}
			g := &group{typ: mapType}
			g.add("key_value", parquet.Repeated(inner))
			n = g
		default:
			g, err := mergeGroup(src, tgt, path+".")
			if err != nil {
				return nil, err
			}
			n = g
		}
	}
	if src.Required() && tgt.Required() {
		return parquet.Required(n), nil
	}
	return parquet.Optional(n), nil
}

func primitiveNode(name string) (parquet.Node, error) {
	switch name {
	case "string":
		return parquet.String(), nil
	case "binary":
		return parquet.Leaf(parquet.ByteArrayType), nil
	case "boolean":
		return parquet.Leaf(parquet.BooleanType), nil
	case "byte":
		return parquet.Int(8), nil
	case "short":
		return parquet.Int(16), nil
	case "integer":
		return parquet.Int(32), nil
	case "long":
		return parquet.Int(64), nil
	case "float":
		return parquet.Leaf(parquet.FloatType), nil
	case "double":
		return parquet.Leaf(parquet.DoubleType), nil
	case "date":
		return parquet.Date(), nil
	case "timestamp":
		return parquet.Timestamp(parquet.Microsecond), nil
	case "timestamp_ntz":
		return parquet.TimestampAdjusted(parquet.Microsecond, false), nil
	}
	if p, s, ok := parseDecimal(name); ok {
		switch {
		case p <= 9:
			return parquet.Decimal(s, p, parquet.Int32Type), nil
		case p <= 18:
			return parquet.Decimal(s, p, parquet.Int64Type), nil
		}
		return parquet.Decimal(s, p, parquet.FixedLenByteArrayType(decimalBytes(p))), nil
	}
	return nil, fmt.Errorf("type %q is not supported", name)
}

// parseDecimal parses "decimal(p,s)".
func parseDecimal(name string) (precision, scale int, ok bool) {
	inner, found := strings.CutPrefix(name, "decimal(")
	if !found || !strings.HasSuffix(inner, ")") {
		return 0, 0, false
	}
	ps, ss, found := strings.Cut(strings.TrimSuffix(inner, ")"), ",")
	if !found {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(strings.TrimSpace(ps))
	s, err2 := strconv.Atoi(strings.TrimSpace(ss))
	if err1 != nil || err2 != nil || p < 1 || p > 38 || s < 0 || s > p {
		return 0, 0, false
	}
	return p, s, true
}

// decimalBytes is the fewest bytes that hold every unscaled value of a precision.
func decimalBytes(precision int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)
	return (limit.BitLen() + 1 + 7) / 8 // the sign bit included
}

// valueFix converts a non-null value of a source column to the table's representation.
type valueFix func(parquet.Value) (parquet.Value, error)

// conversion turns the rows of one input file into rows of the table's schema.
type conversion struct {
	view    *parquet.Schema // the file's schema, renamed to the table's layout and types
	fixes   []valueFix      // by source column; nil: the value is kept as it is
	notNull []string        // by source column: the column's path when it is optional in the file but required in the output
	conv    parquet.Conversion
}

// newConversion plans the conversion of the rows of a file with schema src to target.
func newConversion(src *parquet.Schema, target *parquet.Schema) (*conversion, error) {
	c := &conversion{fixes: make([]valueFix, len(src.Columns())), notNull: make([]string, len(src.Columns()))}
	b := viewBuilder{c: c}
	root := &group{}
	for _, f := range src.Fields() {
		t := matchOf(target, f.Name())
		n, err := b.node(f, fieldNode(t), f.Name())
		if err != nil {
			return nil, err
		}
		root.add(nameOf(t, f), n)
	}
	c.view = parquet.NewSchema("view", root)
	// A column required in the output must not be filled with zeros: one the file lacks is
	// refused, one that is optional in the file is checked for nulls as rows go.
	for _, p := range target.Columns() {
		tl, _ := target.Lookup(p...)
		vl, ok := c.view.Lookup(p...)
		switch {
		case !ok && requiredAlong(target, p):
			return nil, fmt.Errorf("column %s: required in the output, absent from the file", pathString(p))
		case ok && tl.MaxDefinitionLevel < vl.MaxDefinitionLevel:
			if len(p) > 1 {
				return nil, fmt.Errorf("column %s: required in the output, optional in the file", pathString(p))
			}
			c.notNull[vl.ColumnIndex] = pathString(p)
		}
	}
	conv, err := parquet.Convert(target, c.view)
	if err != nil {
		return nil, fmt.Errorf("convert to the table schema: %w", err)
	}
	c.conv = conv
	return c, nil
}

// rows converts rows of the source file, in place, to rows of the table's schema.
func (c *conversion) rows(rows []parquet.Row) error {
	for _, r := range rows {
		for i, v := range r {
			ci := v.Column()
			if ci < 0 || ci >= len(c.fixes) {
				continue
			}
			if c.notNull[ci] != "" && v.IsNull() {
				return fmt.Errorf("column %s: a null where the output column is required", c.notNull[ci])
			}
			if c.fixes[ci] != nil && !v.IsNull() {
				nv, err := c.fixes[ci](v)
				if err != nil {
					return err
				}
				r[i] = nv.Level(v.RepetitionLevel(), v.DefinitionLevel(), ci)
			}
		}
	}
	_, err := c.conv.Convert(rows)
	return err
}

// keyColumn returns where the cluster column at path is in the source file, with its fix;
// ok is false when the file lacks it (all its values are null).
func (c *conversion) keyColumn(path []string) (index int, fix valueFix, ok bool) {
	leaf, ok := c.view.Lookup(path...)
	if !ok || !leaf.Node.Leaf() {
		return 0, nil, false
	}
	return leaf.ColumnIndex, c.fixes[leaf.ColumnIndex], true
}

// requiredAlong reports whether a node on the path to a column of s is required.
func requiredAlong(s *parquet.Schema, p []string) bool {
	var n parquet.Node = s
	for _, name := range p {
		if n = childOf(n, name); n == nil {
			return false
		}
		if n.Required() {
			return true
		}
	}
	return false
}

// matchOf returns the field of n named name, else the one field whose name differs only in
// case (Delta column names are case-insensitive; some writers change the case in files).
func matchOf(n parquet.Node, name string) parquet.Field {
	if f := childOf(n, name); f != nil {
		return f
	}
	if n == nil || n.Leaf() {
		return nil
	}
	var match parquet.Field
	for _, f := range n.Fields() {
		if strings.EqualFold(f.Name(), name) {
			if match != nil {
				return nil
			}
			match = f
		}
	}
	return match
}

// fieldNode avoids a nil Field turning into a non-nil Node.
func fieldNode(f parquet.Field) parquet.Node {
	if f == nil {
		return nil
	}
	return f
}

// nameOf is the name of the table's field t, else that of the file's field f.
func nameOf(t, f parquet.Field) string {
	if t != nil {
		return t.Name()
	}
	return f.Name()
}

func childOf(n parquet.Node, name string) parquet.Field {
	if n == nil || n.Leaf() {
		return nil
	}
	for _, f := range n.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

type viewBuilder struct {
	c   *conversion
	col int // next source leaf column
}

// node returns the view of the source node src whose counterpart in the table's schema is
// tgt (nil: a column the table does not have, which the conversion drops).
func (b *viewBuilder) node(src, tgt parquet.Node, path string) (parquet.Node, error) {
	if tgt == nil {
		b.col += countLeaves(src)
		return src, nil
	}
	if src.Leaf() != tgt.Leaf() {
		return nil, fmt.Errorf("column %s: a %s in the file, a %s in the table", path, kindName(src), kindName(tgt))
	}
	if src.Leaf() {
		fix, err := leafFix(src.Type(), tgt.Type())
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", path, err)
		}
		b.c.fixes[b.col] = fix
		b.col++
		return repeatAs(parquet.Leaf(tgt.Type()), src), nil
	}
	out := &group{}
	var ltv format.LogicalTypeValue
	if lt := tgt.Type().LogicalType(); lt != nil {
		ltv = lt.Value
	}
	switch ltv.(type) {
	case *format.ListType:
		// Three levels: <list> -> repeated group -> element, whatever the names.
		rep, err := oneRepeatedGroup(src, path)
		if err != nil {
			return nil, err
		}
		if len(rep.Fields()) != 1 || rep.Name() == "array" || strings.HasSuffix(rep.Name(), "_tuple") {
			return nil, fmt.Errorf("column %s: a list in the legacy two-level form is not supported", path)
		}
		tRep := tgt.Fields()[0]
		e, err := b.node(rep.Fields()[0], tRep.Fields()[0], path+".element")
		if err != nil {
			return nil, err
		}
		inner := &group{}
		inner.add("element", e)
		out.add("list", parquet.Repeated(inner))
	case *format.MapType:
		rep, err := oneRepeatedGroup(src, path)
		if err != nil {
			return nil, err
		}
		if len(rep.Fields()) != 2 {
			return nil, fmt.Errorf("column %s: a map entry of %d fields", path, len(rep.Fields()))
		}
		tRep := tgt.Fields()[0]
		inner := &group{}
		for i, name := range []string{"key", "value"} {
			n, err := b.node(rep.Fields()[i], childOf(tRep, name), path+"."+name)
			if err != nil {
				return nil, err
			}
			inner.add(name, n)
		}
		out.add("key_value", parquet.Repeated(inner))
	default:
		for _, f := range src.Fields() {
			t := matchOf(tgt, f.Name())
			n, err := b.node(f, fieldNode(t), path+"."+f.Name())
			if err != nil {
				return nil, err
			}
			out.add(nameOf(t, f), n)
		}
	}
	return repeatAs(out, src), nil
}

func oneRepeatedGroup(src parquet.Node, path string) (parquet.Field, error) {
	fs := src.Fields()
	if len(fs) != 1 || !fs[0].Repeated() || fs[0].Leaf() {
		return nil, fmt.Errorf("column %s: not a list or map of the standard layout", path)
	}
	return fs[0], nil
}

func kindName(n parquet.Node) string {
	if n.Leaf() {
		return "primitive"
	}
	return "group"
}

func countLeaves(n parquet.Node) int {
	if n.Leaf() {
		return 1
	}
	k := 0
	for _, f := range n.Fields() {
		k += countLeaves(f)
	}
	return k
}

// repeatAs gives n the repetition of src.
func repeatAs(n, src parquet.Node) parquet.Node {
	switch {
	case src.Repeated():
		return parquet.Repeated(n)
	case src.Optional():
		return parquet.Optional(n)
	}
	return parquet.Required(n)
}

// timeUnit is a timestamp type's unit in nanoseconds, 0 when t is not a timestamp.
func timeUnit(t parquet.Type) int64 {
	if lt := t.LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok {
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				return 1e6
			case *format.MicroSeconds:
				return 1e3
			case *format.NanoSeconds:
				return 1
			}
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return 1e6
		case deprecated.TimestampMicros:
			return 1e3
		}
	}
	return 0
}

// decimalScale is a decimal type's scale, ok false when t is not a decimal.
func decimalScale(t parquet.Type) (scale int, ok bool) {
	if lt := t.LogicalType(); lt != nil {
		if d, ok := lt.Value.(*format.DecimalType); ok {
			return int(d.Scale), true
		}
	}
	return 0, false
}

// julianUnixEpoch is the Julian day of 1970-01-01, INT96 timestamps count days from it.
const julianUnixEpoch = 2440588

// leafFix returns how values of source type s become values of target type t: nil when they
// are kept as they are, an error when no conversion keeps their meaning.
func leafFix(s, t parquet.Type) (valueFix, error) {
	if tu := timeUnit(t); tu != 0 {
		switch su := timeUnit(s); {
		case s.Kind() == parquet.Int96:
			return func(v parquet.Value) (parquet.Value, error) {
				x := v.Int96()
				nanos := int64(uint64(x[1])<<32 | uint64(x[0]))
				days := int64(x[2]) - julianUnixEpoch
				// Per day, then per nanosecond of the day: days*86400e9 overflows int64 outside
				// 1677-2262, which Spark's INT96 timestamps reach.
				return parquet.Int64Value(days*(86400e9/tu) + nanos/tu), nil
			}, nil
		case s.Kind() != parquet.Int64 || su == 0:
			return nil, fmt.Errorf("cannot rewrite %s as a timestamp", s)
		case su == tu:
			return nil, nil
		case su > tu:
			f := su / tu
			return func(v parquet.Value) (parquet.Value, error) { return parquet.Int64Value(v.Int64() * f), nil }, nil
		default:
			f := tu / su
			return func(v parquet.Value) (parquet.Value, error) {
				x := v.Int64()
				q := x / f
				if x%f < 0 {
					q-- // floor, so instants before 1970 round down as after it
				}
				return parquet.Int64Value(q), nil
			}, nil
		}
	}
	if ts, ok := decimalScale(t); ok {
		ss, ok := decimalScale(s)
		if !ok || ss != ts {
			return nil, fmt.Errorf("cannot rewrite %s as %s", s, t)
		}
		if s.Kind() == t.Kind() && s.Length() == t.Length() {
			return nil, nil
		}
		return decimalFix(s.Kind(), t.Kind(), t.Length()), nil
	}
	switch {
	case s.Kind() == t.Kind():
		return nil, nil
	case s.Kind() == parquet.Int32 && t.Kind() == parquet.Int64:
		return func(v parquet.Value) (parquet.Value, error) { return parquet.Int64Value(int64(v.Int32())), nil }, nil
	case s.Kind() == parquet.Float && t.Kind() == parquet.Double:
		return func(v parquet.Value) (parquet.Value, error) { return parquet.DoubleValue(float64(v.Float())), nil }, nil
	}
	return nil, fmt.Errorf("cannot rewrite %s as %s", s, t)
}

// decimalFix converts the unscaled value of a decimal between physical types.
func decimalFix(from, to parquet.Kind, toLen int) valueFix {
	return func(v parquet.Value) (parquet.Value, error) {
		var x big.Int
		switch from {
		case parquet.Int32:
			x.SetInt64(int64(v.Int32()))
		case parquet.Int64:
			x.SetInt64(v.Int64())
		default: // big-endian two's complement
			b := v.ByteArray()
			x.SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 {
				x.Sub(&x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		switch to {
		case parquet.Int32:
			if !x.IsInt64() || x.Int64() != int64(int32(x.Int64())) {
				return parquet.Value{}, fmt.Errorf("decimal %s does not fit INT32", x.String())
			}
			return parquet.Int32Value(int32(x.Int64())), nil
		case parquet.Int64:
			if !x.IsInt64() {
				return parquet.Value{}, fmt.Errorf("decimal %s does not fit INT64", x.String())
			}
			return parquet.Int64Value(x.Int64()), nil
		}
		out := make([]byte, toLen)
		y := new(big.Int).Set(&x)
		if y.Sign() < 0 {
			y.Add(y, new(big.Int).Lsh(big.NewInt(1), uint(8*toLen)))
		}
		if y.Sign() < 0 || y.BitLen() > 8*toLen {
			return parquet.Value{}, fmt.Errorf("decimal %s does not fit %d bytes", x.String(), toLen)
		}
		y.FillBytes(out)
		return parquet.FixedLenByteArrayValue(out), nil
	}
}
