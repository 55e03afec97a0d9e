package ingest

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// Defaults of Options.
const (
	DefaultTileSize        = 256
	MinTileSize            = 128
	MaxTileSize            = 2048
	DefaultCacheMaxBytes   = 64 << 20
	DefaultTargetFileBytes = 128 << 20
	DefaultRowGroupBytes   = 32 << 20
	DefaultAppID           = "deltaraster-ingest"
)

// Options are the settings of one Ingest call; zero fields take the defaults.
type Options struct {
	// TileSize is the width and height of a tile in pixels (default 256, 128 to 2048).
	TileSize int
	// Levels lists the levels to ingest (0 = full resolution, k = the k-th overview). Nil
	// means level 0 and every overview the source has; a level the source lacks is skipped.
	Levels []int
	// KeepEmpty keeps tiles whose pixels are all nodata (or NaN); they are skipped by default.
	KeepEmpty bool
	// Workers is how many goroutines decode one source at once, each with its own GDAL
	// dataset (default GOMAXPROCS). Fewer are used when the blocks each worker needs at once
	// would not all fit in three quarters of CacheMaxBytes (a striped source decodes
	// full-width strips), or when the source has fewer than two tile slots per worker. The
	// data files do not depend on it (see the package documentation, Workers).
	Workers int
	// CacheMaxBytes caps GDAL's process-wide block cache (default 64 MiB). It is set before
	// any raster is opened; the last Ingest or Export to start sets it for the process.
	CacheMaxBytes int64
	// StoreOptions open the stores of object sources (request time limit, retries).
	StoreOptions []delta.StoreOption
	// TargetFileBytes rolls data files when the tile bytes of a file reach it (default 128
	// MiB). It is measured before compression, so files come out at most about this size.
	TargetFileBytes int64
	// RowGroupBytes cuts Parquet row groups when their buffered size reaches it (default 32
	// MiB).
	RowGroupBytes int64
	// MaxPixels refuses sources with more pixels (width x height at full resolution) than
	// this; 0 means no limit.
	MaxPixels int64
	// Bands names the band columns when the ingest creates the table; when the table exists
	// they must equal its names. Nil names bands b1, b2, ... (or takes the table's names).
	Bands []string
	// AppID is the Delta app transaction id every commit carries (default
	// "deltaraster-ingest"); its version is the previous one plus 1.
	AppID string
	// TempDir holds the spool of tiles waiting to be sorted into a data file (default
	// os.TempDir()).
	TempDir string
	// Logger receives GDAL warnings and progress notes (default slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called after each tile, each finished data file, and every 200
	// ms while the batch's last data file is encoded, from the goroutine that called Ingest
	// (or Commit). It should return quickly: it holds up the ingest.
	Progress func(Progress)
	// Txn are the options of the Delta transactions (retries, clock, post-commit hook).
	Txn delta.TxnOptions
	// Now is the clock for ingested_at and file times (default time.Now).
	Now func() time.Time
	// Holdings, when set, is the caller's record of the sources the table holds (ingestd's
	// index). A plan whose sources it says are all absent does not read the table's file list,
	// which costs a replay of every live file's log entry (seconds at a million files); see
	// Holdings.
	Holdings Holdings
}

// Holdings is what a caller knows, kept current from the table's commits, of the sources a
// table holds. It is only ever trusted to say "absent": a plan checks the commits between
// the version it answers for and the version the plan reads, and streams the file list
// (the plan without Holdings) whenever it answers false or that gap cannot be read.
// Absent may be called from several goroutines at once.
type Holdings interface {
	// Absent reports whether, at the table version it returns, no live data file may hold
	// data of any of the identities (SourceID values). False when one may, or when it cannot
	// tell (a file another engine rewrote with statistics that cover one of them, say).
	Absent(ids []string) (version int64, absent bool)
}

// Progress reports how far an Ingest is.
type Progress struct {
	Source       string `json:"source"`
	Level        int    `json:"level"`
	TilesDone    int64  `json:"tilesDone"`    // tiles read from this source so far
	TilesTotal   int64  `json:"tilesTotal"`   // tile slots of this source (all levels)
	FilesWritten int    `json:"filesWritten"` // data files finished in this batch
	BytesWritten int64  `json:"bytesWritten"` // their bytes
	// TileBytes is the bytes of the tiles (pixels and footprints, before encoding) given to
	// the batch's data files so far: it moves with every tile.
	TileBytes int64 `json:"tileBytes"`
	// TileBytesEncoded is the part of TileBytes encoded into data files so far, the file
	// being encoded included: it moves while a file is encoded, before it is finished.
	TileBytesEncoded int64 `json:"tileBytesEncoded"`
}

func (o *Options) fill() error {
	if o.TileSize == 0 {
		o.TileSize = DefaultTileSize
	}
	if o.TileSize < MinTileSize || o.TileSize > MaxTileSize {
		return fmt.Errorf("ingest: tile size %d outside %d..%d", o.TileSize, MinTileSize, MaxTileSize)
	}
	for _, l := range o.Levels {
		if l < 0 {
			return fmt.Errorf("ingest: negative level %d", l)
		}
	}
	if o.Workers < 0 {
		return fmt.Errorf("ingest: negative Workers %d", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if o.TargetFileBytes <= 0 {
		o.TargetFileBytes = DefaultTargetFileBytes
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.MaxPixels < 0 {
		return fmt.Errorf("ingest: negative MaxPixels %d", o.MaxPixels)
	}
	if o.Bands != nil {
		if err := checkBandNames(o.Bands); err != nil {
			return err
		}
	}
	if o.AppID == "" {
		o.AppID = DefaultAppID
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Source is the source: any spelling of it (see SourceID), such as the URI it was
	// ingested with or its identity as the table holds it.
	Source string
	// Out is where to write: a local path, a file:// URL, or an object in a store (s3://, gs://,
	// azblob://, mem://), built in TempDir (or $TMPDIR) and uploaded once.
	Out string
	// Format is "GTiff" (default) or "COG". A COG is built as a GTiff first and translated
	// with the COG driver.
	Format string
	// Level is the level to export (0 = full resolution).
	Level int
	// BBox, when set, limits the export to the tiles whose bbox (lon/lat: xmin, ymin, xmax,
	// ymax) intersects it; the output covers those tiles' window of the grid.
	BBox *[4]float64
	// CacheMaxBytes caps GDAL's block cache (default 64 MiB).
	CacheMaxBytes int64
	// StoreOptions open the store of an object output (request time limit, retries).
	StoreOptions []delta.StoreOption
	// TempDir holds the scratch GTiff of a COG export (default: beside Out).
	TempDir string
	// Logger receives GDAL warnings (default slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called after each tile written and as each later stage begins,
	// from the goroutine that called Export. It should return quickly: it holds up the export.
	Progress func(ExportProgress)
}

// The stages of an Export (ExportProgress.Stage).
const (
	ExportTiles     = "tiles"     // writing the tiles into a GeoTIFF
	ExportTranslate = "translate" // translating the scratch GeoTIFF to the output (COG, or the --bbox window)
	ExportUpload    = "upload"    // uploading the output to its store
)

// ExportProgress reports how far an Export is.
type ExportProgress struct {
	Stage string `json:"stage"` // ExportTiles, ExportTranslate or ExportUpload
	Tiles int64  `json:"tiles"` // tiles written so far (all of them after ExportTiles)
}
