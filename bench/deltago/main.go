// Command deltago checkpoints a table made by bench/cmd/gentable with github.com/rivian/delta-go,
// the peer of the checkpoint benchmark (bench/run-checkpoint.sh). It lives in its own module so
// the main go.mod does not depend on delta-go.
//
//	deltago -table DIR [-version 101]
//
// delta-go's writer supports protocol writer version 1 only; gentable's tables are reader 1 /
// writer 2 with no features, so UnsafeIgnoreUnsupportedReaderWriterVersionErrors is set. Every
// other setting is delta-go's default (NewCheckpointConfiguration: in memory, multi-part
// checkpoints of 50,000 rows, no concurrency). Reset the table (cpbench reset) before each run.
// Prints one JSON object; run it under /usr/bin/time -v for the peak RSS.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	delta "github.com/rivian/delta-go"
	"github.com/rivian/delta-go/lock/nillock"
	"github.com/rivian/delta-go/storage"
	"github.com/rivian/delta-go/storage/filestore"
)

func main() {
	table := flag.String("table", "", "table directory made by gentable")
	version := flag.Int64("version", 101, "version to checkpoint")
	rowsPerPart := flag.Int("rows-per-part", 0, "MaxRowsPerPart (0: delta-go's default, 50000)")
	flag.Parse()
	if *table == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	abs, err := filepath.Abs(*table)
	if err != nil {
		fail(err)
	}
	store := filestore.New(storage.NewPath(abs))
	cfg := delta.NewCheckpointConfiguration()
	cfg.UnsafeIgnoreUnsupportedReaderWriterVersionErrors = true
	cfg.DisableCleanup = true
	if *rowsPerPart > 0 {
		cfg.MaxRowsPerPart = *rowsPerPart
	}
	start := time.Now()
	ok, err := delta.CreateCheckpoint(store, nillock.New(), cfg, *version)
	secs := time.Since(start).Seconds()
	if err != nil {
		fail(err)
	}
	if !ok {
		fail(fmt.Errorf("no checkpoint written"))
	}
	// What delta-go recorded in _last_checkpoint: numOfAddFiles and size (rows).
	var lc struct {
		Version       int64 `json:"version"`
		Size          int64 `json:"size"`
		Parts         *int  `json:"parts"`
		SizeInBytes   int64 `json:"sizeInBytes"`
		NumOfAddFiles int64 `json:"numOfAddFiles"`
	}
	b, err := os.ReadFile(filepath.Join(abs, "_delta_log", "_last_checkpoint"))
	if err == nil {
		err = json.Unmarshal(b, &lc)
	}
	if err != nil {
		fail(fmt.Errorf("read _last_checkpoint: %w", err))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	parts := 1
	if lc.Parts != nil {
		parts = *lc.Parts
	}
	out, _ := json.Marshal(map[string]any{
		"mode": "delta-go", "table": *table, "files": lc.NumOfAddFiles, "rows": lc.Size,
		"parts": parts, "outBytes": lc.SizeInBytes, "seconds": secs,
		"sysMiB": float64(ms.Sys) / (1 << 20), "gcs": ms.NumGC, "ok": lc.Version == *version,
	})
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "deltago:", err)
	os.Exit(1)
}
