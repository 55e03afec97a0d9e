package ingest

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/deltaraster/deltaraster/internal/gdal"
)

var (
	// ErrBandLayout: a source's bands (count, data type) or the requested band names do not fit
	// the table. Nothing is written.
	ErrBandLayout = errors.New("ingest: band layout does not fit the table")
	// ErrTooLarge: the source has more pixels than Options.MaxPixels.
	ErrTooLarge = errors.New("ingest: raster larger than MaxPixels")
	// ErrNoCRS: the source has no coordinate reference system, so its tiles have no footprint.
	ErrNoCRS = errors.New("ingest: source has no coordinate reference system")
	// ErrUnsupported: the source cannot be tiled into this schema (complex data type, bands
	// with different nodata values, a geotransform that cannot be inverted, ...).
	ErrUnsupported = errors.New("ingest: unsupported raster")
	// ErrSourceChanged: the source's version changed while it was being read.
	ErrSourceChanged = errors.New("ingest: source changed while being read")
	// ErrNoTiles: Export found no tile of the source at that level (and bbox); the error also
	// matches ErrSourceNotFound, ErrLevelNotFound or ErrBBoxEmpty, which say why.
	ErrNoTiles = errors.New("ingest: no tiles to export")
)

// SourceError is an error about one source; Source is the URI as given.
type SourceError struct {
	Source string
	Err    error
}

// Error names the source once, on one line: GDAL's several messages about a failed read
// (libtiff's, then GDAL's naming the file) are joined (gdal.OneLine).
func (e *SourceError) Error() string {
	paths := []string{e.Source}
	if !strings.Contains(e.Source, "://") {
		if abs, err := filepath.Abs(e.Source); err == nil {
			paths = append(paths, abs)
		}
	}
	return fmt.Sprintf("source %s: %v", e.Source, gdal.OneLine(e.Err, paths...))
}
func (e *SourceError) Unwrap() error { return e.Err }

// UncommittedError is returned when a batch failed after data files were written: nothing
// was committed, and Files (paths relative to the table root) are left for vacuum.
type UncommittedError struct {
	Files []string
	Err   error
}

func (e *UncommittedError) Error() string {
	return fmt.Sprintf("%v (nothing committed; %d written data file(s) left for vacuum: %s)",
		e.Err, len(e.Files), strings.Join(e.Files, ", "))
}
func (e *UncommittedError) Unwrap() error { return e.Err }
