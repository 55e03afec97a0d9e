// Command ingestbench times one ingest.Ingest of the given rasters into a fresh local table, for
// bench/run-ingest.sh. Run it under /usr/bin/time -v for the peak RSS; it prints one JSON
// object with the time it measured itself around Ingest (process start-up excluded):
//
//	{"seconds", "rawBytes", "MBps", "tiles", ...}
//
// rawBytes is width x height x bands x bytes per sample of every level the ingest reads (level
// 0 and the overviews the source has); MBps is rawBytes / seconds / 1e6.
//
//	ingestbench -table DIR|URL [-tile-size 256] [-workers 0] [-cpuprofile F] [-allocprofile F] [-raw-bytes N] SOURCE...
//	ingestbench -put URL FILE
//	ingestbench -drop URL
//
// The table must not exist (the ingest creates it): a run never appends to an earlier one. A
// table or source may be an object URL (s3://, gs://, azblob://): -raw-bytes then gives the
// raw pixel bytes (the sources are not opened again to count them); -drop deletes every
// object of a table and exits. -put uploads FILE to URL, creating the bucket
// when it is missing, and exits: it stages a source in a store.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/bench"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

type config struct {
	table      string
	tileSize   int
	workers    int
	targetFile int64
	cpuProfile string
	traceOut   string
	memProfile string
	allocProf  string
	allocRate  int
	heapEvery  time.Duration
	rawBytes   int64
	sources    []string
}

// result is what a run prints.
type result struct {
	Seconds     float64 `json:"seconds"`
	RawBytes    int64   `json:"rawBytes"`
	MBps        float64 `json:"MBps"`
	Tiles       int64   `json:"tiles"`
	EmptyTiles  int64   `json:"emptyTiles"`
	Files       int     `json:"files"`
	TableBytes  int64   `json:"tableBytes"`
	Workers     int     `json:"workers"` // -workers as given (0: the ingest's default)
	GOMAXPROCS  int     `json:"gomaxprocs"`
	HeapPeakMiB float64 `json:"heapPeakMiB"` // sampled live Go heap
	SysMiB      float64 `json:"sysMiB"`      // memory the Go runtime obtained from the OS
}

func main() {
	var c config
	fs := flag.NewFlagSet("ingestbench", flag.ExitOnError)
	fs.StringVar(&c.table, "table", "", "local table directory to create (must not exist)")
	fs.IntVar(&c.tileSize, "tile-size", ingest.DefaultTileSize, "tile size in pixels (ingest.Options.TileSize)")
	fs.Int64Var(&c.targetFile, "target-file-size", 0, "data file size in bytes (ingest.Options.TargetFileBytes; 0 = default)")
	fs.IntVar(&c.workers, "workers", 0, "decoding workers per source (ingest.Options.Workers; 0 = default)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the ingest to this file")
	fs.StringVar(&c.traceOut, "trace", "", "write an execution trace of the ingest (go tool trace) to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a heap profile, taken when the live heap was largest, to this file")
	fs.StringVar(&c.allocProf, "allocprofile", "", "write a heap profile taken after the ingest to this file: its alloc_space is every allocation of the run")
	fs.IntVar(&c.allocRate, "memprofilerate", 64<<10, "runtime.MemProfileRate for -allocprofile")
	fs.DurationVar(&c.heapEvery, "heap-every", 10*time.Millisecond, "live-heap sampling interval")
	fs.Int64Var(&c.rawBytes, "raw-bytes", 0, "raw pixel bytes of the sources (required for object sources)")
	drop := fs.String("drop", "", "delete every object under this table URL and exit")
	put := fs.String("put", "", "upload the one FILE argument to this object URL and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ingestbench -table DIR [-tile-size N] [-workers N] [-cpuprofile F] SOURCE...")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	c.sources = fs.Args()
	if *drop != "" {
		if err := dropTable(context.Background(), *drop); err != nil {
			fmt.Fprintf(os.Stderr, "ingestbench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *put != "" {
		if len(c.sources) != 1 {
			fs.Usage()
			os.Exit(2)
		}
		if err := putObject(context.Background(), *put, c.sources[0]); err != nil {
			fmt.Fprintf(os.Stderr, "ingestbench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if c.table == "" || len(c.sources) == 0 {
		fs.Usage()
		os.Exit(2)
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ingestbench: %v\n", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func run(ctx context.Context, c config) (result, error) {
	st, err := delta.OpenStore(ctx, c.table)
	if err != nil {
		return result{}, err
	}
	defer st.Close()
	if _, err := delta.ReadAll(ctx, st, delta.CommitKey(0)); err == nil {
		return result{}, fmt.Errorf("table %s exists: the benchmark wants a fresh table", c.table)
	} else if !errors.Is(err, delta.ErrNotFound) {
		return result{}, err
	}

	opts := ingest.Options{
		TileSize:        c.tileSize,
		Workers:         c.workers,
		TargetFileBytes: c.targetFile,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
	}
	if c.traceOut != "" {
		f, err := os.Create(c.traceOut)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return result{}, err
		}
		defer trace.Stop()
	}
	if c.memProfile != "" {
		stop := profileHeapPeak(c.memProfile, 50*time.Millisecond)
		defer stop()
	}
	if c.allocProf != "" {
		runtime.MemProfileRate = c.allocRate
	}
	hp := bench.StartHeapPeak(c.heapEvery)
	start := time.Now()
	sum, err := ingest.Ingest(ctx, st, c.sources, opts)
	secs := time.Since(start).Seconds()
	heap := hp.Stop()
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if c.allocProf != "" {
		if err := writeHeapProfile(c.allocProf); err != nil {
			return result{}, err
		}
	}
	if err != nil {
		return result{}, err
	}
	if !sum.Committed {
		return result{}, fmt.Errorf("nothing committed: %+v", sum)
	}
	raw := c.rawBytes
	if raw == 0 {
		if raw, err = rawBytes(c.sources); err != nil {
			return result{}, err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return result{
		Seconds: secs, RawBytes: raw, MBps: float64(raw) / secs / 1e6,
		Tiles: sum.Tiles, EmptyTiles: sum.EmptyTiles, Files: len(sum.Files), TableBytes: sum.Bytes,
		Workers: c.workers, GOMAXPROCS: runtime.GOMAXPROCS(0),
		HeapPeakMiB: float64(heap) / (1 << 20), SysMiB: float64(ms.Sys) / (1 << 20),
	}, nil
}

// putObject uploads a local file to an object URL in one streamed write, creating the bucket
// when it is missing.
func putObject(ctx context.Context, rawURL, file string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	key := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	if err := delta.CreateBucket(ctx, u.String()); err != nil {
		return err
	}
	st, err := delta.OpenStore(ctx, u.String())
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := st.Create(wctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		cancel() // abort: nothing is published
		w.Close()
		return err
	}
	return w.Close()
}

// dropTable deletes every object of a table (the benchmark's fresh tables would fill the store).
func dropTable(ctx context.Context, table string) error {
	st, err := delta.OpenStore(ctx, table)
	if err != nil {
		return err
	}
	defer st.Close()
	var keys []string
	for obj, err := range st.List(ctx, "", "") {
		if err != nil {
			return fmt.Errorf("drop %s: %w", table, err)
		}
		keys = append(keys, obj.Key)
	}
	for _, k := range keys {
		if err := st.Delete(ctx, k); err != nil {
			return fmt.Errorf("drop %s: %w", table, err)
		}
	}
	return nil
}

// rawBytes is the size of the uncompressed pixels of every level of the sources (local paths).
// It only reads the rasters' structure, after the ingest (no pixel is read here).
func rawBytes(sources []string) (int64, error) {
	var n int64
	for _, s := range sources {
		ds, err := godal.Open(s, godal.RasterOnly())
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", s, err)
		}
		bands := ds.Bands()
		for _, b := range bands {
			st := b.Structure()
			es := int64(st.DataType.Size())
			n += int64(st.SizeX) * int64(st.SizeY) * es
			for _, o := range b.Overviews() {
				os := o.Structure()
				n += int64(os.SizeX) * int64(os.SizeY) * es
			}
		}
		ds.Close()
	}
	return n, nil
}

// profileHeapPeak writes a heap profile to path each time the live heap grows past 1.05 times
// the largest seen, checking every interval, until stop is called; the file left holds the
// profile of (about) the peak.
func profileHeapPeak(path string, interval time.Duration) (stop func()) {
	runtime.MemProfileRate = 64 << 10
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak+peak/20 {
				peak = v
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// writeHeapProfile writes the heap profile now (its alloc_space and alloc_objects count every
// allocation sampled since the process started).
func writeHeapProfile(path string) error {
	runtime.GC() // the profile is as of the last collection
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
