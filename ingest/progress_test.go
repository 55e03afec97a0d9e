package ingest

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestProgressBytesMove: the bytes a Progress reports move with every tile, before any data
// file is finished, and the last report adds up to the files written.
func TestProgressBytesMove(t *testing.T) {
	dir := t.TempDir()
	o := quietOpts()
	o.TileSize = 128
	o.Levels = []int{0}
	o.Workers = 2
	o.TargetFileBytes = 100 << 10 // a file every 3 tiles of 48 KiB (rgb.tif: 3 Byte bands)
	var got []Progress
	o.Progress = func(p Progress) { got = append(got, p) }
	sum, err := Ingest(context.Background(), openStore(t, filepath.Join(dir, "table")), []string{td("rgb.tif")}, o)
	if err != nil {
		t.Fatal(err)
	}
	const tileBytes = 3 * 128 * 128 // band blobs; the footprint's WKB comes on top
	if sum.Tiles != 6 || len(sum.Files) != 2 {
		t.Fatalf("ingested %d tiles in %d files, want 6 in 2", sum.Tiles, len(sum.Files))
	}
	var prev Progress
	tiles := 0
	for i, p := range got {
		if p.TileBytesEncoded < prev.TileBytesEncoded || p.TileBytes < prev.TileBytes || p.BytesWritten < prev.BytesWritten ||
			p.TileBytesEncoded > p.TileBytes {
			t.Errorf("progress %d went back or reports more tile bytes encoded than given: %+v after %+v", i, p, prev)
		}
		if p.Source != "" {
			tiles++
			if p.TileBytes < int64(tiles)*tileBytes || p.TileBytes > int64(tiles)*(tileBytes+1024) {
				t.Errorf("progress after tile %d: %d tile bytes, want %d plus the footprints", tiles, p.TileBytes, tiles*tileBytes)
			}
			if tiles == 1 && (p.FilesWritten != 0 || p.BytesWritten != 0) {
				t.Errorf("first tile's progress reports a file written: %+v", p)
			}
		}
		prev = p
	}
	if tiles != 6 {
		t.Errorf("%d progress reports of a tile, want 6", tiles)
	}
	last := got[len(got)-1]
	if last.FilesWritten != 2 || last.BytesWritten != sum.Bytes || last.TileBytesEncoded != last.TileBytes ||
		last.TileBytes < 6*tileBytes {
		t.Errorf("last progress %+v; the batch wrote 2 files of %d bytes in all from 6 tiles of %d bytes, all encoded", last, sum.Bytes, tileBytes)
	}
}

// TestExportProgress: an export reports each tile written, then the translation of a COG, then
// the upload of an object output.
func TestExportProgress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := quietOpts()
	o.TileSize = 128
	o.Levels = []int{0}
	st := openStore(t, filepath.Join(dir, "table"))
	if _, err := Ingest(ctx, st, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	tiles := func(n int64) []ExportProgress {
		var ps []ExportProgress
		for i := range n {
			ps = append(ps, ExportProgress{Stage: ExportTiles, Tiles: i + 1})
		}
		return ps
	}
	for _, tt := range []struct {
		name, format, out string
		want              []ExportProgress
	}{
		{"GTiff", "GTiff", filepath.Join(dir, "out.tif"), tiles(6)},
		{"COG", "COG", filepath.Join(dir, "out-cog.tif"), append(tiles(6), ExportProgress{Stage: ExportTranslate, Tiles: 6})},
		{"COG object", "COG", "mem://export-progress/out.tif", append(tiles(6), ExportProgress{Stage: ExportTranslate, Tiles: 6},
			ExportProgress{Stage: ExportUpload, Tiles: 6})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []ExportProgress
			err := Export(ctx, st, ExportOptions{Source: td("rgb.tif"), Out: tt.out, Format: tt.format,
				Logger: o.Logger, Progress: func(p ExportProgress) { got = append(got, p) }})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("progress %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

// TestWaitTicking: while the last data file is being written, waitTicking calls tick every
// interval, and returns once the file is recorded.
func TestWaitTicking(t *testing.T) {
	w := &batchWriter{}
	op := &fileOp{encoded: make(chan struct{}), uploaded: make(chan struct{}), done: make(chan fileResult, 1)}
	w.ops = []*fileOp{op}
	ticked := make(chan struct{}, 2)
	go func() {
		// The file is written once the waiter has ticked twice: no timing to guess.
		<-ticked
		<-ticked
		close(op.encoded)
		close(op.uploaded)
		op.done <- fileResult{f: writtenFile{Path: "part-1.parquet", Size: 10}}
	}()
	ticks := 0
	if err := w.waitTicking(time.Millisecond, func() {
		ticks++
		select {
		case ticked <- struct{}{}:
		default: // ticks after the second, before the file is recorded
		}
	}); err != nil {
		t.Fatal(err)
	}
	if ticks < 2 || len(w.written) != 1 || len(w.ops) != 0 {
		t.Errorf("%d ticks, %d files recorded, %d still written; want at least 2 (the file waited for them), 1 and 0", ticks, len(w.written), len(w.ops))
	}
}
