package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/cliflag"
)

func newIngestCmd() *cobra.Command {
	var (
		tileSize   int
		levels     []int
		keepEmpty  bool
		cacheMax   = byteSize(ingest.DefaultCacheMaxBytes)
		targetFile = byteSize(ingest.DefaultTargetFileBytes)
		maxPixels  int64
		bands      []string
		appID      string
		asJSON     bool
		bucket     bool
	)
	cmd := &cobra.Command{
		Use:   "ingest URL SOURCE...",
		Short: "Cut rasters into tiles and commit them to a raster table",
		Long: `Ingest reads each SOURCE raster (GeoTIFF, COG, anything GDAL reads), cuts it into square
tiles of --tile-size pixels at full resolution and at each of its overviews, writes the tiles
as Parquet data files of the raster table at URL, and commits them all in one commit. A table
that does not exist yet is created by that commit.

A source is a local path or a file://, s3://, gs://, azblob:// or mem:// URL of one object
(credentials and URL parameters as for tables). The table records its identity, the object's
location alone: a local file's absolute path (file:///x/a.tif, /x/a.tif and a relative path
to it are one source), or scheme://bucket/key (s3a:// is s3://; azblob://account@container/key
for Azure). URL parameters such as endpoint, region or use_path_style are used to read the
object and never written to the table, so s3://b/k.tif?endpoint=... and s3://b/k.tif are one
source, and any spelling finds it again (ingest, export --source).

Exactly once: re-ingesting a source that has not changed (same ETag, on GCS too, or for
local files the same size and modification time) adds nothing, and nothing is committed if
no source changed. A source that has changed is replaced: its old tiles are removed in the
same commit that adds the new ones. Every commit carries an app transaction (--app-id).

Band layout: one table holds one band layout, fixed by the first ingest: the number of
bands, their data type (all bands of a source share one, and one nodata value) and their
names, b1, b2, ... unless --bands names them. A source that does not fit, has no CRS or
more than --max-pixels pixels is refused with an error naming it, before anything is
written. Tiles whose pixels are all nodata are skipped unless --keep-empty.

Sizes take a suffix: KiB, MiB, GiB (or K, M, G) are powers of 1024, KB, MB, GB powers of
1000; a plain number is bytes.

Without --json: one line per source (added, replaced or unchanged, and its tiles), then a
total line with the table version. With --json, one object: version, committed,
tableCreated, sources [{uri (the identity), given (the source as given, when it differs),
sourceVersion, status, tiles, levels}], tiles, emptyTiles, keptTiles, files, bytes,
removedFiles, appId, appVersion, commitAttempts, durationNs, seconds and url. On a terminal, a progress line is drawn on stderr while tiles are written.`,
		Example: `  # Ingest two local scenes into a local table (created by this commit)
  deltactl ingest ./tiles /data/scenes/a.tif /data/scenes/b.tif

  # Name the bands, 512-pixel tiles, full resolution and the first overview only
  deltactl ingest file:///data/tiles file:///data/scenes/rgb.tif --bands red,green,blue \
      --tile-size 512 --levels 0,1

  # Scenes in S3 into an S3 table, with a JSON summary
  deltactl ingest s3://bucket/tables/tiles s3://bucket/scenes/2024-05-01.tif --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("ingest takes a table URL and at least one source, got %d arguments", len(args))
			}
			for i, a := range args {
				if a == "" {
					if i == 0 {
						return errors.New("ingest: empty table URL")
					}
					return fmt.Errorf("ingest: empty source (argument %d)", i+1)
				}
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if tileSize < ingest.MinTileSize || tileSize > ingest.MaxTileSize {
				return usageErrorf("invalid argument %d for --tile-size: want %d to %d", tileSize, ingest.MinTileSize, ingest.MaxTileSize)
			}
			for _, l := range levels {
				if l < 0 {
					return usageErrorf("invalid argument %d in --levels: levels start at 0 (full resolution)", l)
				}
			}
			if maxPixels < 0 {
				return usageErrorf("invalid argument %d for --max-pixels: want 0 (no limit) or more", maxPixels)
			}
			if cacheMax <= 0 || targetFile <= 0 {
				return usageErrorf("--cache-max and --target-file-size must be more than 0 bytes")
			}
			url, sources := args[0], args[1:]
			opts := ingest.Options{
				TileSize:        tileSize,
				Levels:          levels,
				KeepEmpty:       keepEmpty,
				CacheMaxBytes:   int64(cacheMax),
				StoreOptions:    storeOptions(cmd.Context()),
				TargetFileBytes: int64(targetFile),
				MaxPixels:       maxPixels,
				Bands:           bands,
				AppID:           appID,
				Logger:          warnLogger(cmd.ErrOrStderr()),
				Txn:             txnOptions(),
			}
			if err := prepareBucket(cmd.Context(), url, bucket); err != nil {
				return err
			}
			return bucketHint(runIngest(cmd, url, sources, opts, asJSON), url)
		}),
	}
	f := cmd.Flags()
	f.IntVar(&tileSize, "tile-size", ingest.DefaultTileSize, fmt.Sprintf("tile width and height in pixels (%d to %d)", ingest.MinTileSize, ingest.MaxTileSize))
	f.IntSliceVar(&levels, "levels", nil, "levels to ingest, comma-separated: 0 is full resolution, k the k-th overview (default: 0 and every overview of the source)")
	f.BoolVar(&keepEmpty, "keep-empty", false, "keep tiles whose pixels are all nodata")
	f.Var(&cacheMax, "cache-max", "cap of GDAL's block cache")
	f.Var(&targetFile, "target-file-size", "data files roll when their tile bytes reach this size")
	f.Int64Var(&maxPixels, "max-pixels", 0, "refuse sources with more pixels than this at full resolution (0: no limit)")
	f.StringSliceVar(&bands, "bands", nil, "band column names, comma-separated, when the ingest creates the table (default b1,b2,...); on an existing table they must be its names")
	f.StringVar(&appID, "app-id", ingest.DefaultAppID, "app transaction id of the commit")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary")
	createBucketFlag(cmd, &bucket)
	return cmd
}

func runIngest(cmd *cobra.Command, url string, sources []string, opts ingest.Options, asJSON bool) error {
	ctx := cmd.Context()
	st, err := openStore(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := &ingestBar{bar: newProgress(cmd.ErrOrStderr(), asJSON)}
	defer bar.bar.done()
	if bar.bar.on {
		opts.Progress = bar.report
	}
	sum, err := ingest.Ingest(ctx, st, sources, opts)
	if err != nil {
		bar.bar.done()
	} else {
		bar.finish(sum)
	}
	if err != nil {
		if sum.Committed {
			return fmt.Errorf("ingest into %s committed version %d, then: %w", url, sum.Version, err)
		}
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		if sum.Sources == nil {
			sum.Sources = []ingest.SourceResult{}
		}
		if sum.Files == nil {
			sum.Files = []string{}
		}
		if sum.RemovedFiles == nil {
			sum.RemovedFiles = []string{}
		}
		return writeJSON(out, struct {
			ingest.Summary
			Seconds float64 `json:"seconds"`
			URL     string  `json:"url"`
		}{sum, sum.Duration.Seconds(), url})
	}
	width := 0
	for _, s := range sum.Sources {
		width = max(width, len(s.Status))
	}
	for _, s := range sum.Sources {
		if s.Status == ingest.StatusUnchanged {
			fmt.Fprintf(out, "%-*s %s: already in the table at this version\n", width, s.Status, s.URI)
			continue
		}
		fmt.Fprintf(out, "%-*s %s: %s, %s\n", width, s.Status, s.URI, count(s.Tiles, "tile"), plural(s.Levels, "level"))
	}
	if !sum.Committed {
		fmt.Fprintf(out, "nothing to commit: every source is already in %s at version %d\n", url, sum.Version)
		return nil
	}
	var counts []string
	for _, status := range []string{ingest.StatusAdded, ingest.StatusReplaced, ingest.StatusUnchanged} {
		n := 0
		for _, s := range sum.Sources {
			if s.Status == status {
				n++
			}
		}
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, status))
		}
	}
	created := ""
	if sum.TableCreated {
		created = " (table created)"
	}
	empty := ""
	if sum.EmptyTiles > 0 {
		empty = fmt.Sprintf(" (%d empty skipped)", sum.EmptyTiles)
	}
	rewritten := ""
	if len(sum.RemovedFiles) > 0 {
		rewritten = fmt.Sprintf("; %s rewritten, %s of other sources kept", plural(len(sum.RemovedFiles), "file"), count(sum.KeptTiles, "tile"))
	}
	fmt.Fprintf(out, "committed version %d of %s%s: %s; %s%s in %s, %s%s; %s\n",
		sum.Version, url, created, strings.Join(counts, ", "), count(sum.Tiles, "tile"), empty,
		plural(len(sum.Files), "file"), size(sum.Bytes), rewritten, sum.Duration.Round(time.Millisecond))
	return nil
}

// ingestBar draws the progress of an Ingest on bar: the source being read, its tiles, the
// bytes of the tiles given to data files and how many of them are encoded so far, and the
// data files written.
type ingestBar struct {
	bar     *progress
	mu      sync.Mutex
	cur     ingest.Progress
	sources int // sources whose tiles were read
}

func (b *ingestBar) report(p ingest.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Source != "" {
		if p.Source != b.cur.Source {
			b.sources++
		}
		b.cur = p
	} else {
		// A data file finished, or the last one being encoded: the source's line stays.
		b.cur.FilesWritten, b.cur.BytesWritten = p.FilesWritten, p.BytesWritten
		b.cur.TileBytes, b.cur.TileBytesEncoded = p.TileBytes, p.TileBytesEncoded
	}
	c := &b.cur
	if c.Source == "" {
		b.bar.update("ingest: %v of tiles, %v encoded; %s (%v) written", sizeOf(c.TileBytes), sizeOf(c.TileBytesEncoded),
			plural(c.FilesWritten, "file"), sizeOf(c.BytesWritten))
		return
	}
	b.bar.update("ingest %s: level %d, tile %d/%d; %v of tiles, %v encoded; %s (%v) written", c.Source, c.Level,
		c.TilesDone, c.TilesTotal, sizeOf(c.TileBytes), sizeOf(c.TileBytesEncoded), plural(c.FilesWritten, "file"),
		sizeOf(c.BytesWritten))
}

// finish ends the bar with what the batch read and wrote.
func (b *ingestBar) finish(sum ingest.Summary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sources == 0 {
		b.bar.done() // every source was in the table already: nothing was drawn
		return
	}
	b.bar.finish("ingest: %s read from %s; %s of tiles encoded into %s (%s)", count(sum.Tiles+sum.EmptyTiles, "tile"),
		plural(b.sources, "source"), size(b.cur.TileBytes), plural(len(sum.Files), "file"), size(sum.Bytes))
}

// sizeOf is a size formatted only when drawn (see size).
type sizeOf int64

func (n sizeOf) String() string { return size(int64(n)) }

// warnLogger logs GDAL warnings (and worse) to w; the library's progress notes are left out.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// byteSize is a size flag (KiB, MiB, ... or KB, MB, ...): see cliflag.ByteSize.
type byteSize = cliflag.ByteSize

var parseByteSize = cliflag.ParseByteSize
