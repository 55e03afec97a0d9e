// Command cpbench times one checkpoint of a table made by gentable, for
// bench/run-checkpoint.sh. Run it under /usr/bin/time -v for the peak RSS; it prints one JSON
// object with the time it measured itself (process start-up and reset excluded).
//
//	cpbench reset -table DIR   put the table back as gentable left it: no checkpoint or .crc at
//	                           the latest version (ours or delta-go's), _last_checkpoint -> 1
//	cpbench ours  -table DIR   checkpoint.Write at the latest version: reads checkpoint 1 and
//	                           the tail, writes the new checkpoint, _last_checkpoint and .crc
//	cpbench hook  -table DIR   the post-commit hook as a committing writer runs it in-process
//	                           (checkpoint.PostCommit with the interval set to the latest
//	                           version, given that version's commit): the .crc, then the
//	                           checkpoint
//	cpbench copy  -table DIR   the floor: checkpoint 1 read with arrow-go pqarrow in record
//	                           batches of -batch rows and written to _bench/copy.parquet with
//	                           the writer properties and row-group cut of checkpoint/parquet.go
//	cpbench txns  -table DIR -version V
//	                           Snapshot.AppTransactions at version V, -runs times: through
//	                           checkpoint 1 (V=1, as gentable wrote it) or through the
//	                           checkpoint `ours` wrote at the latest version (V=latest)
//
// ours and copy refuse to run on a table that was not reset.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/deltaraster/deltaraster/bench"
	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

// Keys written by gentable.
const (
	savedLastCheckpointKey = "_bench/last_checkpoint"
	paramsKey              = "_bench/gentable.json"
	copyKey                = "_bench/copy.parquet"
)

type config struct {
	mode       string
	table      string
	batch      int
	rowGroup   int64
	cpuProfile string
	heapProf   string
	liveProf   string
	heapEvery  time.Duration
	noSync     bool
	softLimit  bool
	version    int64
	runs       int
}

// result is what a run prints.
type result struct {
	Mode        string  `json:"mode"`
	Table       string  `json:"table"`
	Files       int64   `json:"files"`      // live files (ours), rows copied (copy)
	Tombstones  int64   `json:"tombstones"` // ours only
	Seconds     float64 `json:"seconds"`
	HeapPeakMiB float64 `json:"heapPeakMiB"` // sampled live heap, every -heap-every
	// LiveMaxMiB is the largest heap live after a forced GC at a batch boundary (-liveprofile).
	LiveMaxMiB float64 `json:"liveMaxMiB,omitempty"`
	// GoResidentMaxMiB is the largest memory the Go runtime held and had not returned to the
	// OS (/memory/classes/total minus heap/released), GoalMaxMiB the largest heap goal, both
	// sampled every -heap-every; RSSFileMiB and RSSAnonMiB split the resident set at the end
	// (/proc/self/status): file-backed pages are mostly the binary's own code and data.
	GoResidentMaxMiB float64 `json:"goResidentMaxMiB"`
	GoalMaxMiB       float64 `json:"goalMaxMiB"`
	// LimitMaxMiB is the largest soft memory limit seen (absent when none was set).
	LimitMaxMiB float64 `json:"limitMaxMiB,omitempty"`
	RSSFileMiB  float64 `json:"rssFileMiB"`
	RSSAnonMiB  float64 `json:"rssAnonMiB"`
	HWMMiB      float64 `json:"hwmMiB"`
	SysMiB      float64 `json:"sysMiB"` // memory obtained from the OS by the Go runtime
	OutBytes    int64   `json:"outBytes"`
	GCs         uint32  `json:"gcs"`
	OK          bool    `json:"ok"` // the counts match gentable.json (ours), the row count matches (copy)
}

// tableParams is the part of gentable.json that cpbench checks against.
type tableParams struct {
	N             int64 `json:"n"`
	LatestVersion int64 `json:"latestVersion"`
	LiveFiles     int64 `json:"liveFiles"`
	Tombstones    int64 `json:"tombstones"`
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: cpbench reset|ours|copy -table DIR [flags]")
		os.Exit(2)
	}
	c := config{mode: os.Args[1]}
	fs := flag.NewFlagSet(c.mode, flag.ExitOnError)
	fs.StringVar(&c.table, "table", "", "table directory made by gentable")
	fs.IntVar(&c.batch, "batch", delta.DefaultBatchRows, "rows per record batch (checkpoint.Options.BatchRows)")
	fs.Int64Var(&c.rowGroup, "rowgroup", checkpoint.DefaultRowGroupBytes, "row-group cut in bytes (checkpoint.Options.RowGroupBytes)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured work to this file")
	fs.StringVar(&c.heapProf, "heapprofile", "", "write a heap profile to this file each time the heap live after a GC reaches a new peak (10% over the last)")
	fs.StringVar(&c.liveProf, "liveprofile", "", "ours: collect garbage at every batch boundary (Options.Progress) and write the heap profile of the largest live heap seen there to this file (exact, unlike -heapprofile; slow: one GC a batch)")
	fs.DurationVar(&c.heapEvery, "heap-every", 5*time.Millisecond, "live-heap sampling interval")
	fs.BoolVar(&c.softLimit, "softlimit", true, "ours: checkpoint.Options.SoftMemoryLimit, as deltactl checkpoint sets it (hook never sets it: ingestd's hook does not)")
	fs.BoolVar(&c.noSync, "nosync", false, "copy: do not fsync the output (the store fsyncs a checkpoint)")
	fs.Int64Var(&c.version, "version", 1, "txns: the version read")
	fs.IntVar(&c.runs, "runs", 5, "txns: how many times AppTransactions runs")
	_ = fs.Parse(os.Args[2:])
	if c.table == "" || fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintf(os.Stderr, "cpbench %s: %v\n", c.mode, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	pb, err := os.ReadFile(filepath.Join(c.table, paramsKey))
	if err != nil {
		return fmt.Errorf("not a finished gentable table: %w", err)
	}
	var p tableParams
	if err := json.Unmarshal(pb, &p); err != nil {
		return fmt.Errorf("decode %s: %w", paramsKey, err)
	}
	switch c.mode {
	case "reset":
		return reset(c.table, p.LatestVersion)
	case "txns":
		return txns(ctx, c)
	}
	if err := checkReset(c.table, p.LatestVersion); err != nil {
		return err
	}
	var work func() (result, error)
	switch c.mode {
	case "ours":
		work = func() (result, error) { return ours(ctx, c, p) }
	case "hook":
		work = func() (result, error) { return hook(ctx, c, p) }
	case "copy":
		work = func() (result, error) { return copyFloor(ctx, c, p) }
	default:
		return fmt.Errorf("unknown mode %q (want reset, ours, hook or copy)", c.mode)
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	if c.heapProf != "" {
		stop := heapProfileAtPeaks(c.heapProf)
		defer stop()
	}
	hp := bench.StartHeapPeak(c.heapEvery)
	rs := startResidentPeak(c.heapEvery)
	start := time.Now()
	res, err := work()
	res.Seconds = time.Since(start).Seconds()
	res.HeapPeakMiB = float64(hp.Stop()) / (1 << 20)
	res.GoResidentMaxMiB, res.GoalMaxMiB, res.LimitMaxMiB = rs.stop()
	res.RSSFileMiB, res.RSSAnonMiB, res.HWMMiB = procStatus()
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.SysMiB, res.GCs = float64(ms.Sys)/(1<<20), ms.NumGC
	res.Mode, res.Table = c.mode, c.table
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if !res.OK {
		return fmt.Errorf("unexpected counts: %s", b)
	}
	return nil
}

func ours(ctx context.Context, c config, p tableParams) (result, error) {
	st, err := delta.OpenStore(ctx, c.table)
	if err != nil {
		return result{}, err
	}
	defer st.Close()
	o := checkpoint.Options{BatchRows: c.batch, RowGroupBytes: c.rowGroup, SoftMemoryLimit: c.softLimit}
	var lp *liveProfiler
	if c.liveProf != "" {
		lp = &liveProfiler{path: c.liveProf}
		o.Progress = func(int64) { lp.sample() }
	}
	res, err := checkpoint.Write(ctx, st, p.LatestVersion, o)
	if err != nil {
		return result{}, err
	}
	r := result{Files: res.NumAddFiles, Tombstones: res.NumTombstones, OutBytes: res.SizeInBytes,
		OK: res.Version == p.LatestVersion && res.NumAddFiles == p.LiveFiles && res.NumTombstones == p.Tombstones}
	if lp != nil {
		r.LiveMaxMiB = float64(lp.max) / (1 << 20)
	}
	return r, lp.err()
}

// hook runs checkpoint.PostCommit for the latest version as a writer that has just committed
// it would (delta.Txn.Commit calls the hook in-process with the snapshot it read and the
// commit's actions), with the interval set so that this version is checkpointed.
func hook(ctx context.Context, c config, p tableParams) (result, error) {
	st, err := delta.OpenStore(ctx, c.table)
	if err != nil {
		return result{}, err
	}
	defer st.Close()
	read, err := delta.Open(ctx, st, delta.AtVersion(p.LatestVersion-1))
	if err != nil {
		return result{}, err
	}
	var acts []delta.Action
	if err := delta.ReadCommitActions(ctx, st, p.LatestVersion, func(a delta.Action) error {
		acts = append(acts, a)
		return nil
	}); err != nil {
		return result{}, err
	}
	o := checkpoint.HookOptions{Interval: p.LatestVersion, Checkpoint: checkpoint.Options{BatchRows: c.batch, RowGroupBytes: c.rowGroup}}
	committed := delta.Committed{Store: st, Version: p.LatestVersion, ReadVersion: p.LatestVersion - 1, Read: read, Actions: acts}
	if err := checkpoint.PostCommit(o)(ctx, committed); err != nil {
		return result{}, err
	}
	snap, err := delta.Open(ctx, st)
	if err != nil {
		return result{}, err
	}
	lc := snap.Segment().Checkpoint
	return result{Files: p.LiveFiles, Tombstones: p.Tombstones, OK: lc != nil && lc.Version == p.LatestVersion}, nil
}

// liveProfiler collects garbage at each call and keeps the heap profile of the largest live
// heap seen: after runtime.GC the profile is exact.
type liveProfiler struct {
	path string
	max  uint64
	werr error
}

func (l *liveProfiler) sample() {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	v := s[0].Value.Uint64()
	if v <= l.max {
		return
	}
	l.max = v
	f, err := os.Create(l.path)
	if err != nil {
		l.werr = err
		return
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		l.werr = err
	}
	if err := f.Close(); err != nil && l.werr == nil {
		l.werr = err
	}
}

func (l *liveProfiler) err() error {
	if l == nil {
		return nil
	}
	return l.werr
}

// copyFloor copies checkpoint 1 row for row with arrow-go, the way checkpoint/parquet.go
// writes: Snappy, no dictionary, no statistics, the same data page size, buffered row groups
// cut once the encoded bytes of the current one reach -rowgroup. Keep the properties in step
// with newPQFile.
func copyFloor(ctx context.Context, c config, p tableParams) (result, error) {
	in := filepath.Join(c.table, delta.CheckpointKey(1))
	pf, err := file.OpenParquetFile(in, false)
	if err != nil {
		return result{}, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(c.batch)}, memory.DefaultAllocator)
	if err != nil {
		return result{}, err
	}
	schema, err := fr.Schema()
	if err != nil {
		return result{}, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return result{}, err
	}
	defer rr.Release()

	out, err := os.Create(filepath.Join(c.table, copyKey))
	if err != nil {
		return result{}, err
	}
	defer out.Close()
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(false),
		parquet.WithMaxRowGroupLength(1<<40),
		parquet.WithDataPageSize(min(64<<10, max(c.rowGroup/16, 256))),
		parquet.WithBatchSize(128),
		parquet.WithCreatedBy(delta.EngineInfo),
	)
	cw := &countingWriter{w: out}
	fw, err := pqarrow.NewFileWriter(schema, cw, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		return result{}, err
	}
	if err := fw.NewBufferedRowGroupChecked(); err != nil {
		return result{}, err
	}
	var rows int64
	for rr.Next() {
		rec := rr.RecordBatch()
		rows += rec.NumRows()
		if err := fw.WriteBuffered(rec); err != nil {
			return result{}, err
		}
		if fw.RowGroupTotalBytesWritten() >= c.rowGroup {
			if err := fw.NewBufferedRowGroupChecked(); err != nil {
				return result{}, err
			}
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return result{}, err
	}
	if err := fw.Close(); err != nil {
		return result{}, err
	}
	if !c.noSync {
		if err := out.Sync(); err != nil {
			return result{}, err
		}
	}
	// Checkpoint 1 holds protocol, metaData and the N adds.
	return result{Files: rows, OutBytes: cw.n, OK: rows == p.N+2}, nil
}

// heapProfileAtPeaks writes the heap profile to path whenever the heap live after the last GC
// (the profile's own moment), sampled every 50 ms, exceeds the last profiled one by 10%, until
// the returned stop is called.
func heapProfileAtPeaks(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var last uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > last+last/10 {
				last = v
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// countingWriter keeps the Parquet writer from closing the file and counts bytes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// isLatestCheckpointOrCRC reports whether a _delta_log entry is a checkpoint (any kind) or the
// .crc of version v, or a temporary file left by an interrupted writer.
func isLatestCheckpointOrCRC(name string, v int64) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	f, ok := delta.ParseLogName(name)
	return ok && f.Version == v && (f.IsCheckpoint() || f.Kind == delta.KindCRC)
}

// reset deletes what a checkpoint at version v left (ours: the checkpoint, .crc and
// _last_checkpoint; delta-go: checkpoint parts, _last_checkpoint and its working folder), and
// puts back the _last_checkpoint gentable wrote.
func reset(table string, v int64) error {
	logDir := filepath.Join(table, "_delta_log")
	entries, err := os.ReadDir(logDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if isLatestCheckpointOrCRC(e.Name(), v) {
			if err := os.RemoveAll(filepath.Join(logDir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(table, copyKey)); err != nil {
		return err
	}
	saved, err := os.ReadFile(filepath.Join(table, savedLastCheckpointKey))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(table, delta.LastCheckpointKey), saved, 0o644)
}

// checkReset refuses a table that still holds a checkpoint at v or whose _last_checkpoint was
// moved.
func checkReset(table string, v int64) error {
	entries, err := os.ReadDir(filepath.Join(table, "_delta_log"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if isLatestCheckpointOrCRC(e.Name(), v) {
			return fmt.Errorf("%s holds _delta_log/%s: run cpbench reset first", table, e.Name())
		}
	}
	saved, err := os.ReadFile(filepath.Join(table, savedLastCheckpointKey))
	if err != nil {
		return err
	}
	cur, err := os.ReadFile(filepath.Join(table, delta.LastCheckpointKey))
	if err != nil || string(cur) != string(saved) {
		return fmt.Errorf("%s: _last_checkpoint was changed: run cpbench reset first", table)
	}
	return nil
}

// txns times Snapshot.AppTransactions at c.version, c.runs times on one snapshot, and prints
// the times in milliseconds.
func txns(ctx context.Context, c config) error {
	s, err := delta.OpenStore(ctx, c.table)
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := delta.Open(ctx, s, delta.AtVersion(c.version))
	if err != nil {
		return err
	}
	var ms []float64
	n := 0
	for range c.runs {
		start := time.Now()
		t, err := snap.AppTransactions(ctx)
		if err != nil {
			return err
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		n = len(t)
	}
	b, err := json.Marshal(map[string]any{"mode": "txns", "table": c.table, "version": c.version,
		"checkpoint": snap.Segment().Checkpoint != nil, "commits": len(snap.Segment().Commits), "apps": n, "ms": ms})
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

type residentPeak struct {
	done, finished chan struct{}
	res, goal      uint64
	limit          uint64
}

// startResidentPeak samples the Go runtime's resident estimate and heap goal every interval.
func startResidentPeak(interval time.Duration) *residentPeak {
	r := &residentPeak{done: make(chan struct{}), finished: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/gomemlimit:bytes"}}
	go func() {
		defer close(r.finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			metrics.Read(s)
			r.res = max(r.res, s[0].Value.Uint64()-s[1].Value.Uint64())
			r.goal = max(r.goal, s[2].Value.Uint64())
			if l := s[3].Value.Uint64(); l != math.MaxInt64 {
				r.limit = max(r.limit, l)
			}
			select {
			case <-r.done:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

func (r *residentPeak) stop() (resMiB, goalMiB, limitMiB float64) {
	close(r.done)
	<-r.finished
	return float64(r.res) / (1 << 20), float64(r.goal) / (1 << 20), float64(r.limit) / (1 << 20)
}

// procStatus returns RssFile, RssAnon and VmHWM of this process in MiB (zeros off Linux).
func procStatus() (file, anon, hwm float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		switch {
		case strings.HasPrefix(line, "RssFile:"):
			_, _ = fmt.Sscanf(line, "RssFile: %f kB", &kb)
			file = kb / 1024
		case strings.HasPrefix(line, "RssAnon:"):
			_, _ = fmt.Sscanf(line, "RssAnon: %f kB", &kb)
			anon = kb / 1024
		case strings.HasPrefix(line, "VmHWM:"):
			_, _ = fmt.Sscanf(line, "VmHWM: %f kB", &kb)
			hwm = kb / 1024
		}
	}
	return file, anon, hwm
}
