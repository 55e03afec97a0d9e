// Command maintbench benchmarks maintenance.Optimize and maintenance.Vacuum, for
// bench/run-maintenance.sh (figures in bench/RESULTS.md). Every run prints one JSON object,
// with the time it measured itself and the process's peak RSS (getrusage).
//
//	maintbench gen-tiles -out DIR -n 10000      a tile table of N files of ~100 KB (4 tiles of
//	                                            128x128 UInt16 each), committed 500 at a time
//	maintbench optimize  -table DIR             maintenance.Optimize (target 256 MiB), then
//	                                            undoes it (the benchmark can run again)
//	maintbench rewrite   -table DIR             the floor: every live file read with parquet-go
//	                                            and its rows written to 256 MiB files with
//	                                            parquet-go (ZSTD, 32 MiB row groups, fsync), as
//	                                            optimize writes them, into DIR/_bench/rewrite
//	maintbench vacuum-prep -table DIR -orphans 100000
//	                                            for a table made by gentable: writes the sorted
//	                                            listing of its data files (live, tombstoned, and
//	                                            the orphans, 90% old and 10% younger than the
//	                                            retention) to DIR/_bench/listing.tsv
//	maintbench vacuum -table DIR -mode full|lite
//	                                            maintenance.Vacuum on a store whose data files
//	                                            exist only in that listing: listing streams from
//	                                            the file, deletes are counted, not done; the log
//	                                            is the real one. Undoes its commits afterwards.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/bench"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
	"github.com/deltaraster/deltaraster/maintenance"
	"github.com/deltaraster/deltaraster/quadbin"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	table := fs.String("table", "", "table directory")
	out := fs.String("out", "", "table directory to create (gen-tiles)")
	n := fs.Int("n", 10000, "files (gen-tiles)")
	orphans := fs.Int("orphans", 100000, "orphan files (vacuum-prep)")
	mode := fs.String("mode", "full", "vacuum mode: full or lite")
	target := fs.Int64("target", maintenance.DefaultTargetSize, "target file size in bytes (optimize, rewrite)")
	fs.Parse(args)
	ctx := context.Background()
	var res map[string]any
	var err error
	switch cmd {
	case "gen-tiles":
		res, err = genTiles(ctx, *out, *n)
	case "optimize":
		res, err = runOptimize(ctx, *table, *target)
	case "rewrite":
		res, err = runRewrite(ctx, *table, *target)
	case "vacuum-prep":
		res, err = vacuumPrep(ctx, *table, *orphans)
	case "vacuum":
		res, err = runVacuum(ctx, *table, *mode)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "maintbench:", err)
		os.Exit(1)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	res["mode"] = cmd
	res["maxRSSMiB"] = float64(ru.Maxrss) / 1024
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: maintbench gen-tiles|optimize|rewrite|vacuum-prep|vacuum [flags]")
	os.Exit(2)
}

const genKey = "_bench/gen.json"

// genTiles writes a tile table of n files, each 4 tiles of 128x128 UInt16: a gradient with
// noise, about 100 KB a file after ZSTD.
func genTiles(ctx context.Context, out string, n int) (map[string]any, error) {
	start := time.Now()
	s, err := delta.OpenStore(ctx, out)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: testutil.TileSchema(),
		Configuration: map[string]string{"deltaraster.format": "raster-tiles/1", "deltaraster.bands": "b1", "deltaraster.dtype": "UInt16"}},
		delta.TxnOptions{}); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []*delta.Add
	var bytesTotal int64
	now := time.Now()
	for i := 0; i < n; i++ {
		lon, lat := rng.Float64()*170-85, rng.Float64()*140-70
		tiles := make([]testutil.Tile, 0, 4)
		for r := 0; r < 2; r++ {
			for c := 0; c < 2; c++ {
				x0, y1 := lon+float64(c)*0.1, lat-float64(r)*0.1
				px := make([]byte, 128*128*2)
				base := rng.IntN(30000)
				for j := 0; j < 128*128; j++ {
					x, y := float64(j%128), float64(j/128)
					v := base + int(200*math.Sin((x+lon)/30)*math.Cos((y+lat)/40)) + rng.IntN(48)
					binary.LittleEndian.PutUint16(px[2*j:], uint16(v))
				}
				nd, mn, mx, mean := 0.0, float64(base), float64(base+4000), float64(base+2000)
				tiles = append(tiles, testutil.Tile{
					Source: fmt.Sprintf("s3://bench/scene-%06d.tif", i), SourceVersion: "v1", TileCol: int32(c), TileRow: int32(r),
					RasterWidth: 256, RasterHeight: 256, Quadbin: int64(quadbin.FromLonLat(x0+0.05, y1-0.05, 11)), CRS: "EPSG:4326",
					GeoTransform: []float64{x0, 0.1 / 128, 0, y1, 0, -0.1 / 128}, Width: 128, Height: 128, DType: "UInt16",
					NoData: &nd, B1: px, B1Min: &mn, B1Max: &mx, B1Mean: &mean, B1Valid: 128 * 128,
					Footprint: testutil.PolygonWKB(x0, y1-0.1, x0+0.1, y1), BBox: testutil.BBox{XMin: x0, YMin: y1 - 0.1, XMax: x0 + 0.1, YMax: y1}, IngestedAt: now.UTC(),
				})
			}
		}
		slices.SortFunc(tiles, func(a, b testutil.Tile) int { return cmp.Compare(a.Quadbin, b.Quadbin) })
		var buf bytes.Buffer
		geo := fmt.Sprintf(`{"version":"1.1.0","primary_column":"footprint","columns":{"footprint":{"encoding":"WKB","geometry_types":["Polygon"],"bbox":[%g,%g,%g,%g]}}}`,
			lon, lat-0.2, lon+0.2, lat)
		w := parquet.NewGenericWriter[testutil.Tile](&buf, parquet.Compression(&parquet.Zstd), parquet.KeyValueMetadata("geo", geo),
			parquet.SkipPageBounds("b1"), parquet.SkipPageStatistics("b1"),
			parquet.SkipPageBounds("footprint"), parquet.SkipPageStatistics("footprint"))
		if _, err := w.Write(tiles); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		name := "part-" + uuid.NewString() + ".zstd.parquet"
		if err := os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		bytesTotal += int64(buf.Len())
		stats := fmt.Sprintf(`{"numRecords":4,"minValues":{"quadbin":%d},"maxValues":{"quadbin":%d},"nullCount":{"quadbin":0}}`, tiles[0].Quadbin, tiles[3].Quadbin)
		batch = append(batch, &delta.Add{Path: name, PartitionValues: delta.PartitionValues{}, Size: int64(buf.Len()),
			ModificationTime: now.UnixMilli(), DataChange: true, Stats: stats,
			Tags: map[string]string{maintenance.TagSources: fmt.Sprintf(`[{"uri":%q,"version":"v1"}]`, tiles[0].Source)}})
		if len(batch) == 500 || i == n-1 {
			t, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				return nil, err
			}
			t.Add(batch...)
			if _, err := t.Commit(ctx, "WRITE", nil); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	g, _ := json.Marshal(map[string]any{"version": snap.Version(), "files": n, "bytes": bytesTotal})
	if err := s.Put(ctx, genKey, g); err != nil {
		return nil, err
	}
	return map[string]any{"files": n, "bytes": bytesTotal, "seconds": time.Since(start).Seconds()}, nil
}

type genInfo struct {
	Version int64 `json:"version"`
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
}

func readGen(ctx context.Context, s delta.Store) (genInfo, error) {
	var g genInfo
	b, err := delta.ReadAll(ctx, s, genKey)
	if err != nil {
		return g, fmt.Errorf("not a table made by gen-tiles: %w", err)
	}
	return g, json.Unmarshal(b, &g)
}

// undo deletes every commit after version v, and the data files those commits added.
func undo(ctx context.Context, s delta.Store, v int64) error {
	var later []int64
	for o, err := range s.List(ctx, delta.LogDir, "") {
		if err != nil {
			return err
		}
		if f, ok := delta.ParseLogKey(o.Key); ok && f.Version > v {
			if f.Kind != delta.KindCommit {
				if err := s.Delete(ctx, o.Key); err != nil {
					return err
				}
				continue
			}
			later = append(later, f.Version)
		}
	}
	for _, lv := range later {
		err := delta.ReadCommitActions(ctx, s, lv, func(a delta.Action) error {
			if a.Add != nil {
				return s.Delete(ctx, a.Add.Path)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.Sort(later)
	for i := len(later) - 1; i >= 0; i-- {
		if err := s.Delete(ctx, delta.CommitKey(later[i])); err != nil {
			return err
		}
	}
	return nil
}

func runOptimize(ctx context.Context, dir string, target int64) (map[string]any, error) {
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g, err := readGen(ctx, s)
	if err != nil {
		return nil, err
	}
	if v, err := latestVersion(ctx, s); err != nil || v != g.Version {
		return nil, fmt.Errorf("table at version %d, want %d as gen-tiles left it (%v)", v, g.Version, err)
	}
	peak := bench.StartHeapPeak(10 * time.Millisecond)
	start := time.Now()
	m, err := maintenance.Optimize(ctx, s, maintenance.OptimizeOptions{TargetSize: target})
	secs := time.Since(start).Seconds()
	heap := peak.Stop()
	if err != nil {
		return nil, err
	}
	if m.FilesRemoved != int64(g.Files) {
		return nil, fmt.Errorf("optimize removed %d files, want %d", m.FilesRemoved, g.Files)
	}
	if err := undo(ctx, s, g.Version); err != nil {
		return nil, fmt.Errorf("undo the optimize: %w", err)
	}
	return map[string]any{"files": m.FilesRemoved, "bytesIn": m.BytesRemoved, "filesOut": m.FilesAdded, "bytesOut": m.BytesAdded,
		"rows": m.Rows, "seconds": secs, "MBps": float64(m.BytesRemoved) / secs / 1e6, "heapPeakMiB": float64(heap) / (1 << 20)}, nil
}

func latestVersion(ctx context.Context, s delta.Store) (int64, error) {
	snap, err := delta.Open(ctx, s)
	if err != nil {
		return -1, err
	}
	return snap.Version(), nil
}

// runRewrite is the floor optimize is compared with: the live files read with parquet-go and
// their rows written to files of the target size with parquet-go, with optimize's writer
// settings (ZSTD, data page v1, blobs without page statistics, row groups cut at 32 MiB,
// fsync before the file is renamed into place), one file at a time; no stats, no commit.
func runRewrite(ctx context.Context, dir string, target int64) (map[string]any, error) {
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g, err := readGen(ctx, s)
	if err != nil {
		return nil, err
	}
	snap, err := delta.Open(ctx, s, delta.AtVersion(g.Version))
	if err != nil {
		return nil, err
	}
	var files []string
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, err
		}
		files = append(files, a.Path)
	}
	outDir := filepath.Join(dir, "_bench", "rewrite")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(outDir)
	peak := bench.StartHeapPeak(10 * time.Millisecond)
	start := time.Now()
	var in, outBytes int64
	var rows int64
	var outFiles int
	var f *os.File
	var pw *parquet.Writer
	var rgBase int64
	finish := func() error {
		if pw == nil {
			return nil
		}
		err := pw.Close()
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if fi, serr := os.Stat(f.Name()); serr == nil {
			outBytes += fi.Size()
		}
		pw = nil
		return err
	}
	buf := make([]parquet.Row, 32)
	for _, p := range files {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		in += int64(len(b))
		pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
		if err != nil {
			return nil, err
		}
		if pw == nil {
			if f, err = os.Create(filepath.Join(outDir, fmt.Sprintf("part-%05d.parquet", outFiles))); err != nil {
				return nil, err
			}
			outFiles++
			pw = parquet.NewWriter(f, pf.Schema(), parquet.Compression(&parquet.Zstd), parquet.DataPageVersion(1),
				parquet.SkipPageBounds("b1"), parquet.SkipPageStatistics("b1"),
				parquet.SkipPageBounds("footprint"), parquet.SkipPageStatistics("footprint"))
			rgBase = 0
		}
		for _, rg := range pf.RowGroups() {
			rr := rg.Rows()
			for {
				n, rerr := rr.ReadRows(buf)
				if _, err := pw.WriteRows(buf[:n]); err != nil {
					return nil, err
				}
				rows += int64(n)
				if size := pw.Size(); size-rgBase >= 32<<20 {
					if err := pw.Flush(); err != nil {
						return nil, err
					}
					rgBase = pw.Size()
				}
				if errors.Is(rerr, io.EOF) {
					break
				}
				if rerr != nil {
					return nil, rerr
				}
			}
			rr.Close()
		}
		if pw.Size() >= target {
			if err := finish(); err != nil {
				return nil, err
			}
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	heap := peak.Stop()
	return map[string]any{"files": len(files), "bytesIn": in, "filesOut": outFiles, "bytesOut": outBytes, "rows": rows,
		"seconds": secs, "MBps": float64(in) / secs / 1e6, "heapPeakMiB": float64(heap) / (1 << 20)}, nil
}

const listingKey = "_bench/listing.tsv"

// vacuumPrep writes the sorted listing of the data files of a gentable table: its live files
// and tombstones at the latest version, and orphans (90% older than the retention, 10% an hour
// old), one "key<TAB>size<TAB>mtime-ms" line each.
func vacuumPrep(ctx context.Context, dir string, orphans int) (map[string]any, error) {
	start := time.Now()
	s, err := delta.OpenStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	snap, err := delta.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	type obj struct {
		key  string
		size int64
		mt   int64
	}
	var objs []obj
	var live, tomb int
	for a, err := range snap.FileActions(ctx) {
		if err != nil {
			return nil, err
		}
		if a.Add != nil {
			k, err := delta.FileKey(a.Add.Path)
			if err != nil {
				return nil, err
			}
			objs = append(objs, obj{k, a.Add.Size, a.Add.ModificationTime})
			live++
		} else {
			k, err := delta.FileKey(a.Remove.Path)
			if err != nil {
				return nil, err
			}
			objs = append(objs, obj{k, 1 << 20, time.Now().Add(-30 * 24 * time.Hour).UnixMilli()})
			tomb++
		}
	}
	now := time.Now()
	for i := 0; i < orphans; i++ {
		mt := now.Add(-20 * 24 * time.Hour).UnixMilli()
		if i%10 == 9 {
			mt = now.Add(-time.Hour).UnixMilli()
		}
		objs = append(objs, obj{fmt.Sprintf("level=%d/part-%05d-%s-c000.zstd.parquet", i%5, i%1000, uuid.NewString()), 1 << 20, mt})
	}
	slices.SortFunc(objs, func(a, b obj) int { return strings.Compare(a.key, b.key) })
	var buf bytes.Buffer
	for _, o := range objs {
		fmt.Fprintf(&buf, "%s\t%d\t%d\n", o.key, o.size, o.mt)
	}
	if err := s.Put(ctx, listingKey, buf.Bytes()); err != nil {
		return nil, err
	}
	return map[string]any{"live": live, "tombstones": tomb, "orphans": orphans, "objects": len(objs), "version": snap.Version(),
		"seconds": time.Since(start).Seconds()}, nil
}

// listingStore is the table directory's store for the log, with data files that exist only
// in the listing file: List merges the real objects with the listing's lines; deletes of data
// files are counted.
type listingStore struct {
	delta.Store
	listing string
	deleted atomic.Int64
}

func (l *listingStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[delta.ObjectInfo, error] {
	real := l.Store.List(ctx, prefix, startAfter)
	if strings.HasPrefix(prefix, "_") {
		return real
	}
	return func(yield func(delta.ObjectInfo, error) bool) {
		f, err := os.Open(l.listing)
		if err != nil {
			yield(delta.ObjectInfo{}, err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
		nextFile := func() (delta.ObjectInfo, bool, error) {
			for sc.Scan() {
				parts := strings.Split(sc.Text(), "\t")
				if len(parts) != 3 {
					return delta.ObjectInfo{}, false, fmt.Errorf("bad listing line %q", sc.Text())
				}
				if !strings.HasPrefix(parts[0], prefix) || parts[0] <= startAfter {
					continue
				}
				size, _ := strconv.ParseInt(parts[1], 10, 64)
				mt, _ := strconv.ParseInt(parts[2], 10, 64)
				return delta.ObjectInfo{Key: parts[0], Size: size, ModTime: time.UnixMilli(mt)}, true, nil
			}
			return delta.ObjectInfo{}, false, sc.Err()
		}
		nextReal, stop := iter.Pull2(real)
		defer stop()
		fo, fok, ferr := nextFile()
		ro, rerr, rok := nextReal()
		for {
			if ferr != nil {
				yield(delta.ObjectInfo{}, ferr)
				return
			}
			if rok && rerr != nil {
				yield(delta.ObjectInfo{}, rerr)
				return
			}
			switch {
			case !fok && !rok:
				return
			case fok && (!rok || fo.Key < ro.Key):
				if !yield(fo, nil) {
					return
				}
				fo, fok, ferr = nextFile()
			default:
				if !yield(ro, nil) {
					return
				}
				ro, rerr, rok = nextReal()
			}
			if err := ctx.Err(); err != nil {
				yield(delta.ObjectInfo{}, err)
				return
			}
		}
	}
}

func (l *listingStore) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "_") {
		return l.Store.Delete(ctx, key)
	}
	l.deleted.Add(1)
	return ctx.Err()
}

func runVacuum(ctx context.Context, dir, mode string) (map[string]any, error) {
	inner, err := delta.OpenStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer inner.Close()
	v0, err := latestVersion(ctx, inner)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(listingKey))); err != nil {
		return nil, fmt.Errorf("run vacuum-prep first: %w", err)
	}
	s := &listingStore{Store: inner, listing: filepath.Join(dir, filepath.FromSlash(listingKey))}
	o := maintenance.VacuumOptions{Mode: maintenance.VacuumFull, TempDir: filepath.Join(dir, "_bench")}
	if mode == "lite" {
		o.Mode = maintenance.VacuumLite
	}
	runtime.GC()
	peak := bench.StartHeapPeak(10 * time.Millisecond)
	start := time.Now()
	m, err := maintenance.Vacuum(ctx, s, o)
	secs := time.Since(start).Seconds()
	heap := peak.Stop()
	if err != nil {
		return nil, err
	}
	if err := undo(ctx, inner, v0); err != nil {
		return nil, err
	}
	return map[string]any{"vacuumMode": m.Mode, "liveFiles": m.LiveFiles, "tombstonesKept": m.TombstonesKept, "listed": m.Listed,
		"tooYoung": m.TooYoung, "candidates": m.Candidates, "deleted": m.Deleted, "deletesSeen": s.deleted.Load(),
		"neededSetMiB": float64(m.NeededSetBytes) / (1 << 20), "neededFiles": m.NeededFiles, "neededRuns": m.NeededRuns,
		"seconds": secs, "heapPeakMiB": float64(heap) / (1 << 20)}, nil
}
