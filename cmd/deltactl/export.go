package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/ingest"
)

func newExportCmd() *cobra.Command {
	var (
		source   string
		out      string
		format   string
		level    int
		bbox     string
		cacheMax = byteSize(ingest.DefaultCacheMaxBytes)
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "export URL --source SOURCE --out FILE",
		Short: "Write the tiles of one source back to a GeoTIFF or COG",
		Long: `Export reads the tiles of one source from the raster table at URL and writes them back
to a raster file: the source's grid at --level (0 = full resolution, k = its k-th overview),
with its geotransform, CRS, data type, nodata and bands, pixel for pixel as ingested. Tiles
that were skipped as all nodata come back as nodata.

--source is the source, in any spelling of it (see deltactl ingest --help): a local path or
a file://, s3://, gs://, azblob:// or mem:// URL, with or without URL parameters. Only the
table is read, not the source. --out is a local path, a file:// URL, or an object URL (s3://,
gs://, azblob://, mem://): an object is built in a local temporary file (in $TMPDIR) and
uploaded once, whole. An existing file or object is replaced.

--format GTiff (the default) writes a tiled GeoTIFF. --format COG writes a Cloud Optimized
GeoTIFF: a scratch GeoTIFF is built beside the output first, then translated with GDAL's COG
driver (which writes overviews), and removed.

--bbox xmin,ymin,xmax,ymax (longitude and latitude, degrees) exports only the tiles whose
bounding box intersects it: the output covers the window of the grid those tiles make.

With --json, one object: source, out, format, level, bbox (null without --bbox), bytes (the
size of the output), seconds and url.`,
		Example: `  # A COG of one source of a local table
  deltactl export ./tiles --source /data/scenes/a.tif --out a.tif --format COG

  # The first overview of a source given as a file:// URL, as a GeoTIFF
  deltactl export file:///data/tiles --source file:///data/scenes/rgb.tif --out rgb-1.tif --level 1

  # The part of an S3 scene around Paris, from an S3 table, with a JSON summary
  deltactl export s3://bucket/tables/tiles --source s3://bucket/scenes/2024-05-01.tif \
      --out paris.tif --bbox 2.2,48.8,2.5,48.95 --json`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if source == "" {
				return usageErrorf("--source is empty: give the source as it was ingested")
			}
			if out == "" {
				return usageErrorf("--out is empty: give the path of the file to write")
			}
			var f string
			switch strings.ToLower(format) {
			case "gtiff":
				f = "GTiff"
			case "cog":
				f = "COG"
			default:
				return usageErrorf("invalid argument %q for --format: want GTiff or COG", format)
			}
			if level < 0 {
				return usageErrorf("invalid argument %d for --level: levels start at 0 (full resolution)", level)
			}
			if cacheMax <= 0 {
				return usageErrorf("--cache-max must be more than 0 bytes")
			}
			var box *[4]float64
			if cmd.Flags().Changed("bbox") {
				b, err := parseBBox(bbox)
				if err != nil {
					return usageErrorf("invalid argument %q for --bbox: %v", bbox, err)
				}
				box = &b
			}
			opts := ingest.ExportOptions{
				Source:        source,
				Out:           out,
				Format:        f,
				Level:         level,
				BBox:          box,
				CacheMaxBytes: int64(cacheMax),
				StoreOptions:  storeOptions(cmd.Context()),
				Logger:        warnLogger(cmd.ErrOrStderr()),
			}
			return runExport(cmd, args[0], opts, asJSON)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&source, "source", "", "the source to export, exactly as it was ingested (required)")
	fl.StringVar(&out, "out", "", "the file to write: a local path, file:// URL or object URL (required)")
	fl.StringVar(&format, "format", "GTiff", "GTiff or COG")
	fl.IntVar(&level, "level", 0, "level to export: 0 is full resolution, k the k-th overview")
	fl.StringVar(&bbox, "bbox", "", "only the tiles intersecting xmin,ymin,xmax,ymax (longitude, latitude)")
	fl.Var(&cacheMax, "cache-max", "cap of GDAL's block cache (bytes, or with a suffix: 64MiB)")
	fl.BoolVar(&asJSON, "json", false, "print a JSON summary")
	_ = cmd.MarkFlagRequired("source")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runExport(cmd *cobra.Command, table string, opts ingest.ExportOptions, asJSON bool) error {
	ctx := cmd.Context()
	st, err := openStore(ctx, table)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := &exportBar{bar: newProgress(cmd.ErrOrStderr(), asJSON), opts: &opts}
	defer bar.bar.done()
	if bar.bar.on {
		opts.Progress = bar.report
		bar.report(ingest.ExportProgress{Stage: ingest.ExportTiles})
	}
	start := time.Now()
	err = ingest.Export(ctx, st, opts)
	if err != nil {
		bar.bar.done()
		return err
	}
	bar.finish()
	elapsed := time.Since(start)
	var n int64 = -1
	if s, err := ingest.OutSize(ctx, opts.Out, opts.StoreOptions...); err == nil {
		n = s
	}
	w := cmd.OutOrStdout()
	if asJSON {
		var box []float64
		if opts.BBox != nil {
			box = opts.BBox[:]
		}
		return writeJSON(w, struct {
			Source  string    `json:"source"`
			Out     string    `json:"out"`
			Format  string    `json:"format"`
			Level   int       `json:"level"`
			BBox    []float64 `json:"bbox"`
			Bytes   int64     `json:"bytes"`
			Seconds float64   `json:"seconds"`
			URL     string    `json:"url"`
		}{opts.Source, opts.Out, opts.Format, opts.Level, box, n, elapsed.Seconds(), table})
	}
	fmt.Fprintf(w, "exported %s level %d from %s to %s (%s, %s, %s)\n",
		opts.Source, opts.Level, table, opts.Out, opts.Format, formatSize(n), elapsed.Round(time.Millisecond))
	return nil
}

// exportBar draws the progress of an Export on bar: the tiles written, then the translation
// to COG (or to the --bbox window) and the upload, each stage with its own line.
type exportBar struct {
	bar   *progress
	opts  *ingest.ExportOptions
	stage string
	tiles int64
	begun time.Time // of the stage
	steps []string  // the stages after the tiles, with their times
}

func (b *exportBar) report(p ingest.ExportProgress) {
	b.tiles = p.Tiles
	head := fmt.Sprintf("export %s level %d: ", b.opts.Source, b.opts.Level)
	if p.Stage == ingest.ExportTiles {
		b.stage = p.Stage
		b.bar.update("%s%s written", head, count(p.Tiles, "tile"))
		return
	}
	b.endStage()
	b.stage, b.begun = p.Stage, time.Now()
	switch p.Stage {
	case ingest.ExportTranslate:
		b.bar.now("%s%s written; translating to %s...", head, count(p.Tiles, "tile"), b.translation())
	case ingest.ExportUpload:
		b.bar.now("%s%s written; uploading to %s...", head, count(p.Tiles, "tile"), b.opts.Out)
	}
}

// translation names what the translate stage makes.
func (b *exportBar) translation() string {
	if b.opts.Format == "COG" {
		return "COG"
	}
	return "the bbox's window"
}

// endStage notes the time the stage after the tiles took.
func (b *exportBar) endStage() {
	d := elapsed(time.Since(b.begun))
	switch b.stage {
	case ingest.ExportTranslate:
		b.steps = append(b.steps, "translated to "+b.translation()+" in "+d)
	case ingest.ExportUpload:
		b.steps = append(b.steps, "uploaded in "+d)
	}
}

func (b *exportBar) finish() {
	if !b.bar.on {
		return
	}
	b.endStage()
	b.bar.finish("export %s level %d: %s written%s", b.opts.Source, b.opts.Level, count(b.tiles, "tile"),
		strings.Join(append([]string{""}, b.steps...), ", "))
}

// parseBBox parses xmin,ymin,xmax,ymax in longitude and latitude degrees.
func parseBBox(s string) ([4]float64, error) {
	var b [4]float64
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, fmt.Errorf("want 4 comma-separated numbers xmin,ymin,xmax,ymax, got %d values", len(parts))
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("%q is not a number", strings.TrimSpace(p))
		}
		b[i] = v
	}
	switch {
	case b[0] >= b[2]:
		return b, fmt.Errorf("xmin %g is not less than xmax %g", b[0], b[2])
	case b[1] >= b[3]:
		return b, fmt.Errorf("ymin %g is not less than ymax %g", b[1], b[3])
	case b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90:
		return b, fmt.Errorf("longitudes must be within -180..180 and latitudes within -90..90 (the bbox is in degrees, not in the source's CRS)")
	}
	return b, nil
}

// formatSize is the size of an output, or "size unknown" (-1).
func formatSize(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return size(n)
}
