package maintenance

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
	"github.com/deltaraster/deltaraster/quadbin"
)

// testTile is a row of a tile table as the tests write it (shared with the benchmarks).
type testTile = testutil.Tile

// tileID identifies a tile, as the issue counts them.
type tileID struct {
	Source   string
	Level    int32
	Col, Row int32
}

func idOf(t *testTile) tileID { return tileID{t.Source, t.Level, t.TileCol, t.TileRow} }

// digest is a checksum of the row's content, to check a rewrite keeps every value.
func digestOf(t *testTile) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%s|%d|%d|%d|%d|%s|%v|%v|%v|%d|", t.Source, t.SourceVersion, t.Level, t.TileCol, t.TileRow,
		t.Quadbin, t.CRS, t.GeoTransform, t.BBox, t.NoData == nil, t.B1Valid)
	h.Write(t.B1)
	h.Write(t.Footprint)
	fmt.Fprintf(h, "|%d", t.IngestedAt.UnixMicro())
	return h.Sum64()
}

func tableSpec() delta.TableSpec {
	return delta.TableSpec{Schema: testutil.TileSchema(),
		Configuration: map[string]string{"deltaraster.format": "raster-tiles/1", "deltaraster.bands": "b1", "deltaraster.dtype": "Byte"}}
}

var memSeq atomic.Int64

// memStore opens a fresh in-memory table store.
func memStore(t testing.TB) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), fmt.Sprintf("mem://maint-%d-%d", time.Now().UnixNano(), memSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openStore(t testing.TB, url string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createTable(t testing.TB, s delta.Store, conf map[string]string, o delta.TxnOptions) {
	t.Helper()
	spec := tableSpec()
	for k, v := range conf {
		spec.Configuration[k] = v
	}
	if _, err := delta.CreateTable(context.Background(), s, spec, o); err != nil {
		t.Fatal(err)
	}
}

// sceneTiles makes the n x n level-0 tiles of a scene whose top-left corner is lon0, lat0,
// each size degrees wide, and, when n > 1, the tile of level 1 covering it.
func sceneTiles(src string, lon0, lat0, size float64, n int, at time.Time) []testTile {
	var out []testTile
	mk := func(level int32, c, r int, x0, y1, w float64) testTile {
		x1, y0 := x0+w, y1-w
		z := int(math.Floor(math.Log2(360 / w)))
		q := quadbin.FromLonLat((x0+x1)/2, (y0+y1)/2, z)
		nd := 0.0
		px := make([]byte, 64)
		seed := fnv.New64a()
		fmt.Fprintf(seed, "%s/%d/%d/%d", src, level, c, r)
		binary.LittleEndian.PutUint64(px, seed.Sum64())
		for i := 8; i < len(px); i++ {
			px[i] = px[i-8] ^ byte(i)
		}
		mn, mx, mean := 1.0, 255.0, 128.0
		return testTile{
			Source: src, SourceVersion: "v1", Level: level, TileCol: int32(c), TileRow: int32(r),
			RasterWidth: int32(8 * n), RasterHeight: int32(8 * n), Quadbin: int64(q), CRS: "EPSG:4326",
			GeoTransform: []float64{x0, w / 8, 0, y1, 0, -w / 8}, Width: 8, Height: 8, DType: "Byte", NoData: &nd,
			B1: px, B1Min: &mn, B1Max: &mx, B1Mean: &mean, B1Valid: 64,
			Footprint: testutil.PolygonWKB(x0, y0, x1, y1), BBox: testutil.BBox{XMin: x0, YMin: y0, XMax: x1, YMax: y1}, IngestedAt: at.UTC().Truncate(time.Microsecond),
		}
	}
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			out = append(out, mk(0, c, r, lon0+float64(c)*size, lat0-float64(r)*size, size))
		}
	}
	if n > 1 {
		out = append(out, mk(1, 0, 0, lon0, lat0, size*float64(n)))
	}
	return out
}

// writeTileFile writes tiles as one data file (sorted by level, quadbin, as ingest does; with
// GeoParquet metadata, stats of the columns the tests use, and the sources tag) and returns
// its add action.
func writeTileFile(ctx context.Context, s delta.Store, dir string, tiles []testTile, now time.Time) (*delta.Add, error) {
	tiles = slices.Clone(tiles)
	slices.SortFunc(tiles, func(a, b testTile) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Quadbin, b.Quadbin), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.TileRow, b.TileRow), cmp.Compare(a.TileCol, b.TileCol))
	})
	bb := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	type mm struct{ lo, hi int64 }
	ints := map[string]*mm{}
	upd := func(k string, v int64) {
		if m, ok := ints[k]; ok {
			m.lo, m.hi = min(m.lo, v), max(m.hi, v)
		} else {
			ints[k] = &mm{v, v}
		}
	}
	srcs := map[string]string{}
	for _, t := range tiles {
		bb[0], bb[1] = min(bb[0], t.BBox.XMin), min(bb[1], t.BBox.YMin)
		bb[2], bb[3] = max(bb[2], t.BBox.XMax), max(bb[3], t.BBox.YMax)
		upd("level", int64(t.Level))
		upd("tile_col", int64(t.TileCol))
		upd("tile_row", int64(t.TileRow))
		upd("quadbin", t.Quadbin)
		srcs[t.Source] = t.SourceVersion
	}
	geo, _ := json.Marshal(map[string]any{"version": "1.1.0", "primary_column": "footprint", "columns": map[string]any{
		"footprint": map[string]any{"encoding": "WKB", "geometry_types": []string{"Polygon"}, "bbox": bb[:],
			"covering": map[string]any{"bbox": map[string][]string{"xmin": {"bbox", "xmin"}, "ymin": {"bbox", "ymin"},
				"xmax": {"bbox", "xmax"}, "ymax": {"bbox", "ymax"}}}}}})
	name := dir + "part-" + uuid.NewString() + ".zstd.parquet"
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[testTile](&buf, parquet.Compression(&parquet.Zstd), parquet.KeyValueMetadata("geo", string(geo)))
	if _, err := w.Write(tiles); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := s.Put(ctx, name, buf.Bytes()); err != nil {
		return nil, err
	}
	minV, maxV, nulls := map[string]any{}, map[string]any{}, map[string]any{}
	for k, m := range ints {
		minV[k], maxV[k], nulls[k] = m.lo, m.hi, 0
	}
	minV["bbox"] = map[string]any{"xmin": bb[0], "ymin": bb[1]}
	maxV["bbox"] = map[string]any{"xmax": bb[2], "ymax": bb[3]}
	stats, _ := json.Marshal(map[string]any{"numRecords": len(tiles), "minValues": minV, "maxValues": maxV, "nullCount": nulls})
	var tags []sourceTag
	for u, v := range srcs {
		tags = append(tags, sourceTag{u, v})
	}
	slices.SortFunc(tags, func(a, b sourceTag) int { return cmp.Compare(a.URI, b.URI) })
	rawTags, _ := json.Marshal(tags)
	return &delta.Add{Path: name, PartitionValues: delta.PartitionValues{}, Size: int64(buf.Len()),
		ModificationTime: now.UnixMilli(), DataChange: true, Stats: string(stats),
		Tags: map[string]string{TagSources: string(rawTags)}}, nil
}

// appendFiles commits the files in one blind append.
func appendFiles(ctx context.Context, s delta.Store, o delta.TxnOptions, adds ...*delta.Add) (int64, error) {
	t, err := delta.Begin(ctx, s, o)
	if err != nil {
		return -1, err
	}
	t.Add(adds...)
	return t.Commit(ctx, "WRITE", map[string]any{"mode": "Append"})
}

// genTable writes nFiles files of one scene each (n x n tiles plus an overview tile, at a
// random place in lon [0, 100), lat [-50, 50)), filesPerCommit per commit. It returns the
// tiles written, by id, with their digests.
func genTable(t testing.TB, s delta.Store, seed uint64, nFiles, n, filesPerCommit int, o delta.TxnOptions) map[tileID]uint64 {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	want := map[tileID]uint64{}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	var batch []*delta.Add
	for i := 0; i < nFiles; i++ {
		size := 0.25
		lon := rng.Float64() * (100 - size*float64(n))
		lat := -50 + size*float64(n) + rng.Float64()*(100-size*float64(n))
		tiles := sceneTiles(fmt.Sprintf("s3://scenes/s%d-%05d.tif", seed, i), lon, lat, size, n, now)
		for i := range tiles {
			want[idOf(&tiles[i])] = digestOf(&tiles[i])
		}
		a, err := writeTileFile(ctx, s, "", tiles, now)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, a)
		if len(batch) == filesPerCommit || i == nFiles-1 {
			if _, err := appendFiles(ctx, s, o, batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	return want
}

// liveFiles lists the live files of version v (-1: the latest).
func liveFiles(t testing.TB, s delta.Store, v int64) []*delta.Add {
	t.Helper()
	ctx := context.Background()
	var opts []delta.SnapshotOption
	if v >= 0 {
		opts = append(opts, delta.AtVersion(v))
	}
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var out []*delta.Add
	for a, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// readFile reads every row of a data file.
func readFile(ctx context.Context, s delta.Store, a *delta.Add) ([]testTile, error) {
	key, err := delta.FileKey(a.Path)
	if err != nil {
		return nil, err
	}
	b, err := delta.ReadAll(ctx, s, key)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != a.Size {
		return nil, fmt.Errorf("%s: %d bytes, the log says %d", a.Path, len(b), a.Size)
	}
	r := parquet.NewGenericReader[testTile](bytes.NewReader(b))
	defer r.Close()
	out := make([]testTile, r.NumRows())
	n, err := r.Read(out)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	if n != len(out) {
		return nil, fmt.Errorf("%s: read %d of %d rows", a.Path, n, len(out))
	}
	return out, nil
}

// readTable reads every tile of version v (-1: latest) and fails on duplicates.
func readTable(t testing.TB, s delta.Store, v int64) map[tileID]uint64 {
	t.Helper()
	got, err := tryReadTable(s, v)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func tryReadTable(s delta.Store, v int64) (map[tileID]uint64, error) {
	ctx := context.Background()
	var opts []delta.SnapshotOption
	if v >= 0 {
		opts = append(opts, delta.AtVersion(v))
	}
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		return nil, err
	}
	got := map[tileID]uint64{}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, err
		}
		tiles, err := readFile(ctx, s, a)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", snap.Version(), err)
		}
		for i := range tiles {
			id := idOf(&tiles[i])
			if _, dup := got[id]; dup {
				return nil, fmt.Errorf("version %d: tile %v twice", snap.Version(), id)
			}
			got[id] = digestOf(&tiles[i])
		}
	}
	return got, nil
}

// sameTiles compares two tile sets.
func sameTiles(got, want map[tileID]uint64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d tiles, want %d", len(got), len(want))
	}
	for id, d := range want {
		g, ok := got[id]
		if !ok {
			return fmt.Errorf("tile %v missing", id)
		}
		if g != d {
			return fmt.Errorf("tile %v changed", id)
		}
	}
	return nil
}

// fixedClock is a clock tests set.
type fixedClock struct{ t atomic.Int64 }

func newClock(t time.Time) *fixedClock {
	c := &fixedClock{}
	c.t.Store(t.UnixNano())
	return c
}
func (c *fixedClock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fixedClock) Set(t time.Time)         { c.t.Store(t.UnixNano()) }
func (c *fixedClock) Advance(d time.Duration) { c.t.Add(int64(d)) }

// copyStore copies every object of src into dst.
func copyStore(t testing.TB, src, dst delta.Store) {
	t.Helper()
	ctx := context.Background()
	for o, err := range src.List(ctx, "", "") {
		if err != nil {
			t.Fatal(err)
		}
		b, err := delta.ReadAll(ctx, src, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(ctx, o.Key, b); err != nil {
			t.Fatal(err)
		}
	}
}

// testNow is a fixed time for tiles whose ingestion time does not matter.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// checkMetrics checks entries of commitInfo.operationMetrics (a map of strings, as Spark
// writes it).
func checkMetrics(t *testing.T, ci delta.CommitInfo, want map[string]int64) {
	t.Helper()
	var got map[string]string
	if err := json.Unmarshal(ci["operationMetrics"], &got); err != nil {
		t.Fatalf("operationMetrics %s: %v", ci["operationMetrics"], err)
	}
	for k, v := range want {
		if got[k] != fmt.Sprint(v) {
			t.Errorf("operationMetrics[%s] = %q, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
