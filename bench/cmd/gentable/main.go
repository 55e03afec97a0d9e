// Command gentable writes a tile-like Delta table for the checkpoint benchmark
// (bench/run-checkpoint.sh): N live files in a base checkpoint at version 1, then a tail of
// commits (versions 2..T+1) with adds, removes and an app transaction each.
//
//	gentable -n 1000000 -out /tmp/cpbench/t1m
//
// The table, in its own directory:
//
//	_delta_log/00000000000000000000.json       protocol 1/2 (no features), metaData of a tile
//	                                           table partitioned by level, commitInfo
//	_delta_log/00000000000000000001.checkpoint.parquet
//	                                           the N adds, written by checkpoint.Write
//	_delta_log/00000000000000000001.crc, _last_checkpoint (-> 1)
//	_delta_log/000...002.json .. 000...T+1.json the tail: each -tail-adds new files, -tail-removes
//	                                           removes of live files (with size and a recent
//	                                           deletionTimestamp), one txn, commitInfo
//	_bench/last_checkpoint                     a copy of _last_checkpoint pointing at 1, so a
//	                                           benchmark can put the table back between runs
//	_bench/gentable.json                       the parameters; written last (the table is whole)
//
// With -foreign, checkpoint 1 is written by parquet-go as another engine writes one (Spark's
// schema and column order, every field nullable, ZSTD, row groups of -foreign-rowgroup rows:
// see foreign.go), and _last_checkpoint is written plainly, without checksum or schema.
//
// Commit 1 (the N adds in JSON) is not kept on disk by default, as after log cleanup: it is
// produced on the fly, while checkpoint.Write reads it, by a store that overlays it on the
// table directory. -commit1 writes it to disk as well (about 700 bytes per file).
//
// Everything is a function of -seed, -n and -time: two runs with the same flags write the same
// table, byte for byte (checkpoint included; gentable.json's timing aside). -time is the clock of the tail (the newest commit is at -time); the
// base files are two days older. Tombstones are kept by a checkpoint for a week
// (delta.deletedFileRetentionDuration), so a table is meant to be benchmarked within a week of
// -time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

func main() {
	var p params
	flag.IntVar(&p.N, "n", 100_000, "live files in the base checkpoint (version 1)")
	flag.StringVar(&p.Out, "out", "", "table directory to create (must not hold a table)")
	flag.Uint64Var(&p.Seed, "seed", 1, "seed of every generated value")
	flag.IntVar(&p.Tail, "tail", 100, "commits after the base checkpoint")
	flag.IntVar(&p.TailAdds, "tail-adds", 50, "adds per tail commit")
	flag.IntVar(&p.TailRemoves, "tail-removes", 20, "removes per tail commit")
	flag.Int64Var(&p.TimeMs, "time", 0, "time of the newest commit, Unix milliseconds (default: now, to the minute)")
	flag.BoolVar(&p.Commit1, "commit1", false, "also keep commit 1 (the N adds as JSON) on disk")
	flag.BoolVar(&p.Foreign, "foreign", false, "write checkpoint 1 with parquet-go in Spark's schema (see foreign.go), not with checkpoint.Write")
	flag.Int64Var(&p.ForeignRowGroup, "foreign-rowgroup", 1<<20, "with -foreign: rows per row group of checkpoint 1")
	flag.StringVar(&p.Raster, "raster", "", "BANDS:DTYPE, such as b1,b2,b3,b4:UInt16: a raster table as ingest writes it (its schema and configuration, unpartitioned), so ingest and ingestd append to it")
	flag.Parse()
	if p.Out == "" || p.N <= 0 || p.Tail < 0 || p.TailAdds < 0 || p.TailRemoves < 0 || p.ForeignRowGroup <= 0 || flag.NArg() > 0 || p.Foreign && p.Commit1 {
		flag.Usage()
		os.Exit(2)
	}
	if p.Raster != "" {
		bands, dtype, ok := strings.Cut(p.Raster, ":")
		spec, err := ingest.TableSpec(strings.Split(bands, ","), dtype)
		if !ok || err != nil || p.Foreign {
			fmt.Fprintln(os.Stderr, "gentable: -raster BANDS:DTYPE (not with -foreign):", err)
			os.Exit(2)
		}
		rasterSpec = &spec
	}
	if p.TimeMs == 0 {
		p.TimeMs = time.Now().Truncate(time.Minute).UnixMilli()
	}
	if err := run(context.Background(), p); err != nil {
		fmt.Fprintln(os.Stderr, "gentable:", err)
		os.Exit(1)
	}
}

// params are the generator's inputs; they are also written to _bench/gentable.json.
type params struct {
	N           int    `json:"n"`
	Out         string `json:"-"`
	Seed        uint64 `json:"seed"`
	Tail        int    `json:"tail"`
	TailAdds    int    `json:"tailAdds"`
	TailRemoves int    `json:"tailRemoves"`
	TimeMs      int64  `json:"timeMs"`
	Commit1     bool   `json:"commit1"`
	// Foreign: checkpoint 1 written by parquet-go (foreign.go), in row groups of
	// ForeignRowGroup rows.
	Foreign         bool  `json:"foreign,omitempty"`
	ForeignRowGroup int64 `json:"foreignRowGroup,omitempty"`
	// Raster: BANDS:DTYPE of a raster table (ingest.TableSpec), not partitioned.
	Raster string `json:"raster,omitempty"`
	// Filled in after generation.
	LatestVersion int64   `json:"latestVersion"`
	LiveFiles     int64   `json:"liveFiles"`
	Tombstones    int64   `json:"tombstones"`
	Seconds       float64 `json:"seconds"`
}

// Keys under the table root that the benchmark uses (ignored by Delta readers: not in
// _delta_log; vacuum skips paths starting with "_").
const (
	SavedLastCheckpointKey = "_bench/last_checkpoint"
	ParamsKey              = "_bench/gentable.json"
)

func run(ctx context.Context, p params) error {
	start := time.Now()
	if err := os.MkdirAll(p.Out, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(p.Out, "_delta_log")); err == nil {
		return fmt.Errorf("%s already holds a table", p.Out)
	}
	st, err := delta.OpenStore(ctx, p.Out)
	if err != nil {
		return err
	}
	defer st.Close()
	g := newGen(p)
	if err := g.selfCheck(); err != nil {
		return err
	}

	// Version 0: protocol, metadata.
	v0, err := g.commit0()
	if err != nil {
		return err
	}
	if err := st.PutIfAbsent(ctx, delta.CommitKey(0), v0); err != nil {
		return fmt.Errorf("write commit 0: %w", err)
	}

	if p.Foreign {
		if err := writeForeignCheckpoint(ctx, st, g, p.ForeignRowGroup); err != nil {
			return err
		}
	} else if err := writeCheckpoint1(ctx, st, g); err != nil {
		return err
	}

	// The tail.
	for v := int64(2); v <= int64(p.Tail)+1; v++ {
		b, err := g.tailCommit(v)
		if err != nil {
			return err
		}
		if err := st.PutIfAbsent(ctx, delta.CommitKey(v), b); err != nil {
			return fmt.Errorf("write commit %d: %w", v, err)
		}
	}

	// What the benchmark needs to reset the table between runs, then the parameters (last).
	lc, err := delta.ReadAll(ctx, st, delta.LastCheckpointKey)
	if err != nil {
		return err
	}
	if err := st.Put(ctx, SavedLastCheckpointKey, lc); err != nil {
		return err
	}
	p.LatestVersion = int64(p.Tail) + 1
	p.LiveFiles = int64(p.N) + int64(p.Tail)*int64(p.TailAdds-p.TailRemoves)
	p.Tombstones = int64(p.Tail) * int64(p.TailRemoves)
	p.Seconds = time.Since(start).Seconds()
	pj, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := st.Put(ctx, ParamsKey, append(pj, '\n')); err != nil {
		return err
	}
	fmt.Printf("%s\n", pj)
	return nil
}

// writeCheckpoint1 writes checkpoint 1 with checkpoint.Write, from commit 1 (on disk with
// -commit1, else produced on the fly by an overlay store).
func writeCheckpoint1(ctx context.Context, st delta.Store, g *gen) error {
	p := g.p
	// Version 1: the N adds, read by checkpoint.Write from an overlay (or from disk).
	var cpStore delta.Store = &overlay{Store: st, key: delta.CommitKey(1), open: g.commit1}
	if p.Commit1 {
		w, err := st.Create(ctx, delta.CommitKey(1))
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, g.commit1()); err != nil {
			return fmt.Errorf("write commit 1: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("write commit 1: %w", err)
		}
		cpStore = st
	}
	t1 := time.Now()
	res, err := checkpoint.Write(ctx, cpStore, 1, checkpoint.Options{
		Now: func() time.Time { return time.UnixMilli(g.t0) },
		Progress: func(n int64) {
			if n%(1<<20) < int64(delta.DefaultBatchRows) {
				fmt.Fprintf(os.Stderr, "gentable: checkpoint 1: %d files\n", n)
			}
		},
	})
	if err != nil {
		return err
	}
	if res.NumAddFiles != int64(p.N) {
		return fmt.Errorf("checkpoint 1 holds %d adds, want %d", res.NumAddFiles, p.N)
	}
	fmt.Fprintf(os.Stderr, "gentable: checkpoint 1: %d files, %d bytes, %.1fs\n", res.NumAddFiles, res.SizeInBytes, time.Since(t1).Seconds())
	return nil
}

// gen produces every value of the table from the seed: file i is a pure function of (seed, i).
type gen struct {
	p  params
	t0 int64 // the newest commit's time, ms
	// tail state
	nextFile int          // index of the next new file
	removed  map[int]bool // files removed so far
	rng      rnd
}

func newGen(p params) *gen {
	return &gen{p: p, t0: p.TimeMs, nextFile: p.N, removed: map[int]bool{}, rng: rnd{s: mix64(p.Seed ^ 0x7a11)}}
}

// rnd is splitmix64: small, fast, and good enough for benchmark data.
type rnd struct{ s uint64 }

func (r *rnd) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }

// mix64 is the splitmix64 finalizer, a bijection of uint64.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// file is one data file of the table.
type file struct {
	i, level, rows, col, row, scene int
	hi, lo                          uint64 // the name's uuid
	size, mtime, quadbin            int64
	redMin, redMax                  int
}

// fileAt returns file i, a pure function of (seed, i). Files 0..N-1 are the base; N.. are
// added by the tail, in order.
func (g *gen) fileAt(i int) file {
	seedMix := mix64(g.p.Seed + 0x5eed)
	r := rnd{s: mix64(uint64(i) ^ seedMix)}
	f := file{i: i}
	// Levels of a tile pyramid: each overview level has a quarter of the tiles of the one below.
	switch x := r.intn(1024); {
	case x < 768:
		f.level = 0
	case x < 960:
		f.level = 1
	case x < 1008:
		f.level = 2
	case x < 1020:
		f.level = 3
	default:
		f.level = 4
	}
	// The uuid's first half is a bijection of i, so names never collide.
	f.hi, f.lo = mix64(uint64(i)^seedMix^0xfeed), r.next()
	if i < g.p.N {
		f.mtime = g.t0 - 2*86_400_000 + int64(i)*10 // base: ingested over the two days before
	} else {
		f.mtime = g.commitTime(int64(2 + (i-g.p.N)/max(1, g.p.TailAdds)))
	}
	f.size = int64(1<<20 + r.intn(63<<20))
	f.rows = 16 + r.intn(4081)
	f.col = r.intn(40000 >> f.level)
	f.row = r.intn(40000 >> f.level)
	f.quadbin = int64(0x4800000000000000 | (r.next() & 0x00ffffffffffffff))
	f.scene = i / 64
	f.redMin, f.redMax = r.intn(500), 3000+r.intn(9000)
	return f
}

// appendPath appends a Spark-style name, about 75 bytes:
// level=L/part-<task>-<uuid>-c000.zstd.parquet.
func (f file) appendPath(b []byte) []byte {
	b = append(b, "level="...)
	b = strconv.AppendInt(b, int64(f.level), 10)
	b = append(b, "/part-"...)
	b = appendPadded(b, uint64(f.i%1000), 5)
	b = append(b, '-')
	b = appendHex(b, f.hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, (f.hi>>16)&0xffff, 4)
	b = append(b, '-')
	b = appendHex(b, f.hi&0xffff, 4)
	b = append(b, '-')
	b = appendHex(b, f.lo>>48, 4)
	b = append(b, '-')
	b = appendHex(b, f.lo&0xffffffffffff, 12)
	return append(b, "-c000.zstd.parquet"...)
}

// appendStats appends the stats JSON (about 435 bytes), with q as the quote: `"` for the JSON
// itself, `\"` for the JSON as a string inside a commit line.
func (f file) appendStats(b []byte, q string) []byte {
	kv := func(b []byte, k string) []byte {
		b = append(b, q...)
		b = append(b, k...)
		b = append(b, q...)
		return append(b, ':')
	}
	y, m, d := time.UnixMilli(f.mtime).UTC().Date()
	src := func(b []byte) []byte {
		b = append(b, q...)
		b = append(b, "s3://tiles/scenes/S2B_"...)
		b = appendPadded(b, uint64(y*10000+int(m)*100+d), 8)
		b = append(b, '_')
		b = appendPadded(b, uint64(f.scene), 7)
		b = append(b, ".tif"...)
		return append(b, q...)
	}
	b = append(b, '{')
	b = kv(b, "numRecords")
	b = strconv.AppendInt(b, int64(f.rows), 10)
	for _, max := range []bool{false, true} {
		if max {
			b = append(b, ',')
			b = kv(b, "maxValues")
		} else {
			b = append(b, ',')
			b = kv(b, "minValues")
		}
		col, row, qb, red := f.col, f.row, f.quadbin, f.redMin
		if max {
			col, row, qb, red = f.col+f.rows/64, f.row+63, f.quadbin+int64(f.rows), f.redMax
		}
		b = append(b, '{')
		b = kv(b, "source")
		b = src(b)
		b = append(b, ',')
		b = kv(b, "tile_col")
		b = strconv.AppendInt(b, int64(col), 10)
		b = append(b, ',')
		b = kv(b, "tile_row")
		b = strconv.AppendInt(b, int64(row), 10)
		b = append(b, ',')
		b = kv(b, "quadbin")
		b = strconv.AppendInt(b, qb, 10)
		b = append(b, ',')
		b = kv(b, "red_mean")
		b = strconv.AppendInt(b, int64(red), 10)
		b = append(b, ".0}"...)
	}
	b = append(b, ',')
	b = kv(b, "nullCount")
	b = append(b, '{')
	for _, c := range []string{"source", "tile_col", "tile_row", "quadbin", "red_mean", "ingested_at", "footprint"} {
		b = kv(b, c)
		b = append(b, "0,"...)
	}
	b = kv(b, "nodata")
	b = strconv.AppendInt(b, int64(f.rows), 10)
	return append(b, "}}"...)
}

func appendHex(b []byte, v uint64, width int) []byte {
	const digits = "0123456789abcdef"
	for i := width - 1; i >= 0; i-- {
		b = append(b, digits[(v>>(4*uint(i)))&0xf])
	}
	return b
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// rasterSpec is the raster table of -raster (nil without): no partition values.
var rasterSpec *delta.TableSpec

func (f file) add() delta.Add {
	lv := strconv.Itoa(f.level)
	if rasterSpec != nil {
		return delta.Add{Path: string(f.appendPath(nil)), PartitionValues: delta.PartitionValues{},
			Size: f.size, ModificationTime: f.mtime, DataChange: true, Stats: string(f.appendStats(nil, `"`))}
	}
	return delta.Add{Path: string(f.appendPath(nil)), PartitionValues: delta.PartitionValues{"level": &lv},
		Size: f.size, ModificationTime: f.mtime, DataChange: true, Stats: string(f.appendStats(nil, `"`))}
}

// appendAddJSON appends the add of f as one commit line, as MarshalAction would write it (the
// generated strings need no escaping but the stats' quotes), without the cost of reflection.
func appendAddJSON(b []byte, f file) []byte {
	b = append(b, `{"add":{"path":"`...)
	b = f.appendPath(b)
	if rasterSpec != nil {
		b = append(b, `","partitionValues":{},"size":`...)
	} else {
		b = append(b, `","partitionValues":{"level":"`...)
		b = strconv.AppendInt(b, int64(f.level), 10)
		b = append(b, `"},"size":`...)
	}
	b = strconv.AppendInt(b, f.size, 10)
	b = append(b, `,"modificationTime":`...)
	b = strconv.AppendInt(b, f.mtime, 10)
	b = append(b, `,"dataChange":true,"stats":"`...)
	b = f.appendStats(b, `\"`)
	return append(b, "\"}}\n"...)
}

// selfCheck makes sure the fast JSON of an add decodes to the same add as the slow one.
func (g *gen) selfCheck() error {
	for i := range min(g.p.N, 1000) {
		f := g.fileAt(i)
		a, err := delta.ParseAction(appendAddJSON(nil, f))
		if err != nil {
			return fmt.Errorf("self-check: %w", err)
		}
		want := f.add()
		if !reflect.DeepEqual(a.Add, &want) {
			return fmt.Errorf("self-check: file %d decodes to %+v, want %+v", i, a.Add, want)
		}
	}
	return nil
}

// commitTime is the commit timestamp of version v: one minute apart, the newest at t0.
func (g *gen) commitTime(v int64) int64 {
	latest := int64(g.p.Tail) + 1
	if v <= 1 {
		return g.t0 - 2*86_400_000 - (1-v)*60_000
	}
	return g.t0 - (latest-v)*60_000
}

// tableSchema is the tile-table schema of DESIGN.md with three bands.
func tableSchema() delta.StructType {
	raw := func(name, typ string) delta.StructField {
		return delta.StructField{Name: name, Type: json.RawMessage(typ), Nullable: true, Metadata: map[string]any{}}
	}
	fields := []delta.StructField{
		delta.NewField("source", "string"), delta.NewField("source_version", "string"),
		delta.NewField("level", "integer"), delta.NewField("tile_col", "integer"),
		delta.NewField("tile_row", "integer"), delta.NewField("quadbin", "long"),
		delta.NewField("crs", "string"),
		raw("geotransform", `{"type":"array","elementType":"double","containsNull":true}`),
		delta.NewField("width", "integer"), delta.NewField("height", "integer"),
		delta.NewField("dtype", "string"), delta.NewField("nodata", "double"),
	}
	for _, b := range []string{"red", "green", "blue"} {
		fields = append(fields, delta.NewField(b, "binary"), delta.NewField(b+"_min", "double"),
			delta.NewField(b+"_max", "double"), delta.NewField(b+"_mean", "double"),
			delta.NewField(b+"_valid", "long"))
	}
	fields = append(fields, delta.NewField("footprint", "binary"),
		raw("bbox", `{"type":"struct","fields":[`+
			`{"name":"xmin","type":"double","nullable":true,"metadata":{}},`+
			`{"name":"ymin","type":"double","nullable":true,"metadata":{}},`+
			`{"name":"xmax","type":"double","nullable":true,"metadata":{}},`+
			`{"name":"ymax","type":"double","nullable":true,"metadata":{}}]}`),
		delta.NewField("ingested_at", "timestamp"))
	return delta.StructType{Fields: fields}
}

func (g *gen) uuid(salt uint64) string {
	hi, lo := mix64(g.p.Seed^salt), mix64(g.p.Seed^salt^0xabcdef)
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xfff, lo>>52, lo&0xffffffffffff)
}

func (g *gen) commitInfo(v int64, op string, params map[string]string, blind bool) delta.CommitInfo {
	ci := delta.CommitInfo{}
	_ = ci.Set("timestamp", g.commitTime(v))
	_ = ci.Set("operation", op)
	_ = ci.Set("operationParameters", params)
	_ = ci.Set("isBlindAppend", blind)
	_ = ci.Set("engineInfo", "deltaraster-gentable")
	_ = ci.Set("txnId", g.uuid(uint64(v)<<8|1))
	return ci
}

func marshalLines(actions []delta.Action) ([]byte, error) {
	var b []byte
	for _, a := range actions {
		line, err := delta.MarshalAction(a)
		if err != nil {
			return nil, err
		}
		b = append(append(b, line...), '\n')
	}
	return b, nil
}

func (g *gen) commit0() ([]byte, error) {
	created := g.commitTime(0)
	m := delta.Metadata{ID: g.uuid(0x3e7a), Name: "tiles", Format: delta.Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString: tableSchema().String(), PartitionColumns: []string{"level"},
		Configuration: map[string]string{}, CreatedTime: &created}
	partitionBy := `["level"]`
	if rasterSpec != nil {
		m.SchemaString, m.PartitionColumns, m.Configuration = rasterSpec.Schema.String(), []string{}, rasterSpec.Configuration
		partitionBy = `[]`
	}
	return marshalLines([]delta.Action{
		{CommitInfo: g.commitInfo(0, "CREATE TABLE", map[string]string{"partitionBy": partitionBy, "isManaged": "false"}, true)},
		{Protocol: &delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{Metadata: &m},
	})
}

// commit1 streams commit 1: commitInfo, then the N base adds.
func (g *gen) commit1() io.Reader {
	head, _ := marshalLines([]delta.Action{{CommitInfo: g.commitInfo(1, "WRITE", map[string]string{"mode": "Append", "partitionBy": "[]"}, true)}})
	return &lineReader{g: g, buf: head}
}

// lineReader fills its buffer with generated add lines on demand.
type lineReader struct {
	g   *gen
	i   int // next file
	buf []byte
	off int
}

func (r *lineReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.i == r.g.p.N {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		for ; r.i < r.g.p.N && len(r.buf) < 256<<10; r.i++ {
			r.buf = appendAddJSON(r.buf, r.g.fileAt(r.i))
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// tailCommit is version v >= 2: TailAdds new files, TailRemoves removes of live files chosen
// at random, the ingest daemon's txn, commitInfo first.
func (g *gen) tailCommit(v int64) ([]byte, error) {
	ts := g.commitTime(v)
	actions := []delta.Action{{CommitInfo: g.commitInfo(v, "WRITE", map[string]string{"mode": "Append", "partitionBy": "[]"}, g.p.TailRemoves == 0)}}
	for range g.p.TailAdds {
		a := g.fileAt(g.nextFile).add()
		g.nextFile++
		actions = append(actions, delta.Action{Add: &a})
	}
	ext := true
	for range g.p.TailRemoves {
		var i int
		for {
			i = g.rng.intn(g.nextFile - g.p.TailAdds) // any file live before this commit
			if !g.removed[i] {
				break
			}
		}
		g.removed[i] = true
		a := g.fileAt(i).add()
		size, del := a.Size, ts
		actions = append(actions, delta.Action{Remove: &delta.Remove{Path: a.Path, DeletionTimestamp: &del,
			DataChange: true, ExtendedFileMetadata: &ext, PartitionValues: a.PartitionValues, Size: &size}})
	}
	actions = append(actions, delta.Action{Txn: &delta.SetTransaction{AppID: "ingestd-" + g.uuid(0x1d), Version: v - 2, LastUpdated: &ts}})
	return marshalLines(actions)
}

// overlay is a store that shows one generated object (commit 1) beside the objects of the
// store it wraps. Only whole reads of it are supported, which is how commits are read.
type overlay struct {
	delta.Store
	key  string
	open func() io.Reader
}

func (o *overlay) List(ctx context.Context, prefix, startAfter string) iter.Seq2[delta.ObjectInfo, error] {
	return func(yield func(delta.ObjectInfo, error) bool) {
		pending := strings.HasPrefix(o.key, prefix) && o.key > startAfter
		for info, err := range o.Store.List(ctx, prefix, startAfter) {
			if err == nil && pending && info.Key >= o.key {
				pending = false
				if info.Key != o.key && !yield(delta.ObjectInfo{Key: o.key, Size: 1}, nil) {
					return
				}
			}
			if !yield(info, err) {
				return
			}
		}
		if pending {
			yield(delta.ObjectInfo{Key: o.key, Size: 1}, nil)
		}
	}
}

func (o *overlay) Stat(ctx context.Context, key string) (delta.ObjectInfo, error) {
	if key == o.key {
		return delta.ObjectInfo{Key: key, Size: 1}, nil
	}
	return o.Store.Stat(ctx, key)
}

func (o *overlay) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if key == o.key {
		if offset != 0 || length >= 0 {
			return nil, errors.New("overlay: only whole reads of the generated commit")
		}
		return io.NopCloser(o.open()), nil
	}
	return o.Store.ReadRange(ctx, key, offset, length)
}
