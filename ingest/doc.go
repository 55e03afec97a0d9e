// Package ingest turns rasters into raster tables and back: Ingest cuts sources (GeoTIFF,
// COG, anything GDAL reads) into tiles, writes them as Parquet data files and commits them to a
// Delta table in one commit; Export writes the tiles of one source back to a GeoTIFF or COG.
//
// # Table layout
//
// One row per tile; the columns are those of the design's raster table (source,
// source_version, level, tile_col, tile_row, quadbin, crs, geotransform, width, height, dtype,
// nodata, one binary column per band with <band>_min/_max/_mean/_valid, footprint, bbox,
// ingested_at) plus raster_width and raster_height, the size in pixels of the source at the
// tile's level, which Export needs to crop padded edge tiles and to place tiles skipped as
// empty. A table holds one band layout (band count, names, GDAL data type), recorded in the
// table configuration (deltaraster.format, deltaraster.bands, deltaraster.dtype). Band names
// are Options.Bands or b1..bN.
//
// Data files are named part-<uuid>.zstd.parquet at the table root. Their schema is built at
// run time (the band columns are dynamic) as a parquet.Group, so the Parquet columns are in
// name order; the Delta schema lists them in logical order. Rows are parquet.Row values.
// Pages are ZSTD-compressed (the fastest level, about zstd level 1, Arrow's default; a 1 MiB
// window); band blobs are raw little-endian row-major pixels (PLAIN encoding, no bounds or
// page statistics); rows are sorted by (level, quadbin) within each file; row groups are cut
// when their buffered size reaches Options.RowGroupBytes; files roll when their tile bytes
// reach Options.TargetFileBytes. Tiles wait in a local spool file (Options.TempDir) until
// their file is written, so memory never holds a file; the compressed pages of the row group
// being written wait in memory outside the Go heap, reused from row group to row group (about
// Options.RowGroupBytes; in temporary files when that is above 64 MiB). A file is encoded in
// the background while the tiles of the next one are read (one file at a time). Into a table
// in an object store, a file is encoded into a local temporary file and uploaded whole
// (delta.UploadFile) while the next one is encoded: one upload in flight at most.
// Every file carries GeoParquet 1.1 "geo" metadata: primary column footprint, WKB, geometry
// type Polygon, CRS omitted (OGC:CRS84, longitude first), covering bbox.xmin/ymin/xmax/ymax.
//
// # Tiles
//
// Tiles lie in the source's own grid at each level (level 0 is full resolution, level k the
// k-th overview of the source): tile c, r covers pixels [c*size, (c+1)*size) x [r*size,
// (r+1)*size), read one window at a time (block-aligned when the tile size is a multiple of
// the block size). Edge tiles are padded to the full size with the nodata value (NaN for
// floats without nodata, else 0). Statistics count valid pixels only: not nodata and, for
// floats, not NaN. A tile with no valid pixel in any band is skipped unless
// Options.KeepEmpty. A source's bands must share one data type and one nodata value (the
// table has one nodata column); masks and alpha bands are stored as ordinary bands.
//
// The footprint is the polygon of the tile's pixels inside the raster (not its padding),
// transformed to EPSG:4326 (longitude, latitude) with OGR: 8 points per edge, so curved edges
// of polar or conic grids are followed; rotated geotransforms are handled as any affine
// transform. bbox is the footprint's envelope. Tiles crossing the antimeridian or holding a
// pole get the naive envelope of their transformed edge points.
//
// quadbin is the QUADBIN cell (CARTO's Web Mercator quadtree index, computed by package
// quadbin) of the tile centre at the finest resolution whose cells are at least as wide as the
// tile's longitude span, so one cell is about one tile and coarser levels get coarser cells
// (0 to 26).
//
// crs is EPSG:n when the source CRS has an EPSG authority code at its root, else its WKT2
// (2019) on one line.
//
// # Workers
//
// The tiles of a source are decoded by Options.Workers goroutines at once (default
// GOMAXPROCS), each with its own GDAL dataset, since a dataset is not safe for concurrent use
// and decoding is most of the work. The tile grid of each level is cut into units, runs of a
// few tiles of one tile row aligned on the source's blocks (whole tile rows for striped
// sources), dealt to the workers in turn; the tiles are taken back in row-major order, so the
// data files, and the first error reported, are the same whatever the number of workers.
// Workers read at most one unit ahead (about 32 MiB of tiles in all). Fewer workers are used
// when the blocks each one needs at once would not fit in three quarters of the GDAL block
// cache (Options.CacheMaxBytes): a striped source 20000 pixels wide needs about 40 MiB of
// strips per tile row, so it is read by one worker under the default 64 MiB.
//
// # Sources
//
// A source is a local path or file:// URL, or an s3://, gs://, azblob:// or mem:// object URL
// (mem://NAME/KEY reads the process-wide memory bucket NAME that delta.OpenStore("mem://NAME")
// shares). Objects are read by GDAL through a Go VSI handler over the store: one object per
// open, bounded block caches, no directory listing, a fresh path per open. While its tiles
// are read, an object is streamed with one sequential read into a 64 MiB ring file in
// Options.TempDir, which serves the workers' reads; reads the stream does not cover are
// ranged reads of the store (see readahead.go).
//
// A source's identity (SourceID) is its location alone: the absolute, cleaned path of a local
// file (file:///x/y.tif, /x/y.tif and a relative path to it are one source), or
// scheme://bucket/key of an object (s3a:// and s3n:// are s3://; azblob://account@container/key
// names the storage account). The connection parameters of a URL (its query: endpoint,
// region, use_path_style, protocol, domain, credentials; its user part) are used to open the
// object and kept out of the table, which holds the identity only: in the source column, the
// deltaraster.sources tag, commitInfo and the summary's uri. Spellings of one object given
// together are one source. Tables written before identities hold sources as they were given;
// their values are matched by their identity (read against this process's environment and
// working directory), so ingest and Export find a source there under any spelling. A source
// such a table holds under two spellings (ingested twice) is replaced by the next ingest of it,
// which leaves it once under its identity; Export skips the second copy of each tile.
//
// A source's version
// (source_version) is its ETag (on GCS too, where every write, and every metadata change,
// makes a new one), or size and mtime for local files; it is
// checked again after the source is read, and a source that changed meanwhile fails the batch
// (ErrSourceChanged).
//
// A source without a CRS is refused (ErrNoCRS): its tiles could have no footprint, bbox or
// quadbin, and a table where some rows cannot be located would defeat spatial pruning. Assign
// a CRS first (gdal_edit.py -a_srs). So are complex data types and bands with differing nodata
// values (ErrUnsupported) and sources above Options.MaxPixels (ErrTooLarge). Every source is
// checked, band layout included, before anything is written.
//
// # Exactly once
//
// Each data file's Delta add carries a tag, deltaraster.sources, listing the (identity,
// version) pairs of its rows, so an ingest finds which files hold its sources from the log alone,
// without reading data files (a file without the tag, rewritten by another engine, is checked
// by its source min/max stats, then by reading its source and source_version columns only).
// A source already present at the same version, and only that version, adds nothing. A source
// present at another version is replaced in the same commit: every file holding it is
// rewritten without its rows (other sources' rows are copied into the new files) and removed
// (copy-on-write; the transaction marks those files read, so a concurrent remove of one is a
// conflict). Each commit carries a txn action (Options.AppID, version = previous + 1) and
// lists its sources in commitInfo.operationParameters.
//
// Concurrent writers: a commit that conflicts (the same AppID advanced, or a file it rewrites
// removed) is re-planned against the new table; when the plan is unchanged (no concurrent
// commit touched these sources) the same files are committed at the next version, else the
// batch fails. Writers sharing an AppID are thereby serialized; writers with different AppIDs
// must not ingest the same source at the same time (both would add it). A table that does not
// exist is created by the ingest's own commit (delta.BeginCreate: version 0 holds the protocol,
// the metadata from the first source and the data); a writer that loses the creation race
// re-plans and appends after delta.ErrTableExists when the winner's band layout is the same.
//
// # Errors
//
// An error about one source is a *SourceError naming it. When a batch fails after data files
// were written, nothing is committed and the error is an *UncommittedError listing those
// files, which vacuum removes later. Sentinels: ErrBandLayout, ErrTooLarge, ErrNoCRS,
// ErrUnsupported, ErrSourceChanged, ErrNoTiles. An export that finds no tile says why, with
// an error that matches ErrNoTiles and one of ErrSourceNotFound (naming the table's sources
// nearest to the one given), ErrLevelNotFound (naming the levels the source has) and
// ErrBBoxEmpty (naming what the level's tiles cover).
//
// # GDAL
//
// GDAL's block cache is process-wide; every Ingest and Export sets its limit
// (Options.CacheMaxBytes, default 64 MiB) through internal/gdal before opening any raster.
// When tiles fall on whole blocks (the tile size a multiple of the block size, as with 256 x
// 256 tiles of a 256 x 256 tiled GeoTIFF, or whole strips), each worker drops its blocks from
// the cache once it has read its unit: no later tile needs them, and the cache stays at what
// the workers are reading instead of filling up to the limit with blocks never read again.
// GDAL warnings are logged with slog (Options.Logger), failures are errors.
//
// # Examples
//
// Runnable examples (example_test.go, run by go test): [Ingest] ingests a raster twice (the
// second time adds nothing); [Export] writes it back as a COG with the same pixels.
package ingest
