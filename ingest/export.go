package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/airbusgeo/godal"
	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
	"github.com/deltaraster/deltaraster/internal/gdal"
)

// Export writes the tiles of one source at one level (optionally only those whose bbox
// intersects ExportOptions.BBox) back to a raster: a GeoTIFF, or a COG made by translating a
// scratch GeoTIFF with the COG driver (the COG driver is never written to directly). The
// output has the source's grid at that level (geotransform, CRS, nodata, data type, bands),
// cropped to the raster's size; tile slots with no row (all-nodata tiles skipped at ingest)
// are filled with nodata (NaN for floats without nodata).
func Export(ctx context.Context, store delta.Store, opts ExportOptions) error {
	if opts.Source == "" {
		return errors.New("export: no source")
	}
	if bucket, key, ok, err := storeOut(opts.Out); err != nil {
		return err
	} else if ok {
		return exportToStore(ctx, store, opts, bucket, key)
	}
	out, err := localOut(opts.Out)
	if err != nil {
		return err
	}
	format := strings.ToUpper(opts.Format)
	switch format {
	case "", "GTIFF":
		format = "GTiff"
	case "COG":
	default:
		return fmt.Errorf("export: format %q (want GTiff or COG)", opts.Format)
	}
	if opts.Level < 0 {
		return fmt.Errorf("export: negative level %d", opts.Level)
	}
	if opts.CacheMaxBytes <= 0 {
		opts.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// The output's directory, checked first: GDAL would fail at the first tile, naming it.
	switch fi, err := os.Stat(filepath.Dir(out)); {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("export to %s: directory %s does not exist", opts.Out, filepath.Dir(out))
	case err != nil:
		return errwrap.URL("export to", opts.Out, err)
	case !fi.IsDir():
		return fmt.Errorf("export to %s: %s is not a directory", opts.Out, filepath.Dir(out))
	}
	initGDAL(opts.CacheMaxBytes)
	snap, err := delta.Open(ctx, store)
	if err != nil {
		return errwrap.URL("export from", store.URL(), err)
	}
	l, err := layoutOf(snap.Metadata())
	if err != nil {
		return errwrap.URL("export from", store.URL(), err)
	}
	c, err := newCodec(l)
	if err != nil {
		return err
	}
	dt, _ := dtypeByName(l.DType)
	e := &exporter{opts: &opts, codec: c, dtype: dt, eh: errorHandler(opts.Logger, opts.Source),
		written: map[[2]int32]string{}, want: exportID(opts.Source)}
	scratch := out
	if format == "COG" || opts.BBox != nil {
		dir := opts.TempDir
		if dir == "" {
			dir = filepath.Dir(out)
		}
		f, err := os.CreateTemp(dir, ".deltaraster-export-*.tif")
		if err != nil {
			return fmt.Errorf("export: scratch file: %w", err)
		}
		scratch = f.Name()
		f.Close()
		defer os.Remove(scratch)
	}
	e.path, e.scratch = scratch, scratch != out
	wroteOut := false // out is removed on failure only once this call has written it
	fail := func(err error) error {
		if e.ds != nil {
			e.ds.Close()
		}
		if wroteOut || (scratch == out && e.ds != nil) {
			os.Remove(out)
		}
		return fmt.Errorf("export %s level %d from %s: %w", opts.Source, opts.Level, store.URL(), gdal.OneLine(err, out, scratch))
	}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return fail(err)
		}
		if !e.mayHold(a) {
			continue
		}
		if err := e.readFile(ctx, store, a); err != nil {
			return fail(err)
		}
	}
	if e.ds == nil {
		return fail(e.noTiles(ctx, store, snap))
	}
	if err := e.fillGaps(); err != nil {
		return fail(err)
	}
	wroteOut = scratch == out
	if err := e.ds.Close(godal.ErrLogger(e.eh)); err != nil {
		e.ds = nil
		return fail(err)
	}
	e.ds = nil
	if scratch == out {
		return nil
	}
	src, err := godal.Open(scratch, godal.ErrLogger(e.eh))
	if err != nil {
		return fail(err)
	}
	defer src.Close()
	var sw []string
	if opts.BBox != nil {
		x0, y0 := int(e.minCR[0])*e.size, int(e.minCR[1])*e.size
		x1 := min(int(e.maxCR[0]+1)*e.size, e.w)
		y1 := min(int(e.maxCR[1]+1)*e.size, e.h)
		sw = append(sw, "-srcwin", strconv.Itoa(x0), strconv.Itoa(y0), strconv.Itoa(x1-x0), strconv.Itoa(y1-y0))
	}
	var dst *godal.Dataset
	wroteOut = true
	e.progress(ExportTranslate)
	if format == "COG" {
		dst, err = src.Translate(out, sw, godal.DriverName("COG"), godal.CreationOption("COMPRESS=DEFLATE", "BLOCKSIZE="+strconv.Itoa(blockSize(e.size)), "BIGTIFF=IF_SAFER"), godal.ErrLogger(e.eh))
	} else {
		dst, err = src.Translate(out, sw, godal.GTiff, godal.CreationOption(gtiffOptions(e.size)...), godal.ErrLogger(e.eh))
	}
	if err != nil {
		return fail(err)
	}
	if err := dst.Close(godal.ErrLogger(e.eh)); err != nil {
		return fail(err)
	}
	return nil
}

// localOut is the local file path of an export's output: a plain path, or the path of a
// file:// URL. Other URLs are refused (Export uploads to s3, gs, azblob and mem itself).
func localOut(out string) (string, error) {
	if out == "" {
		return "", errors.New("export: no output path")
	}
	if strings.Contains(out, "://") {
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "file" {
			return "", fmt.Errorf("export: output %q: want a local path or file:// URL", out)
		}
		out = u.Path
	}
	return out, nil
}

// blockSize is the GeoTIFF block size for a tile size: the tile size when it is a multiple of
// 16 (as TIFF requires), else 256.
func blockSize(ts int) int {
	if ts%16 == 0 {
		return ts
	}
	return 256
}

func gtiffOptions(ts int) []string {
	b := strconv.Itoa(blockSize(ts))
	return []string{"TILED=YES", "BLOCKXSIZE=" + b, "BLOCKYSIZE=" + b, "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"}
}

// exporter writes the tiles of one source and level into a GeoTIFF.
type exporter struct {
	opts    *ExportOptions
	codec   *codec
	dtype   godal.DataType
	eh      godal.ErrorHandler
	path    string
	scratch bool // path is a scratch file, translated to the output afterwards
	ds      *godal.Dataset
	version string
	size    int
	w, h    int
	// want is the identity of the source exported; a table value matches by its identity (ids).
	want    string
	ids     entryIDs
	matched string // the identity matched, when want is an azblob URL without an account
	// written maps each tile written to the source value (spelling) it came from.
	written map[[2]int32]string
	minCR   [2]int32
	maxCR   [2]int32
	pad     float64
	nodata  bool
	// outside counts the source's tiles at the level outside the bbox; extent is their union.
	outside int64
	extent  [4]float64
	tiles   int64 // written
}

// progress counts a tile written (stage ExportTiles) and reports the stage.
func (e *exporter) progress(stage string) {
	if stage == ExportTiles {
		e.tiles++
	}
	if e.opts.Progress != nil {
		e.opts.Progress(ExportProgress{Stage: stage, Tiles: e.tiles})
	}
}

// missed notes a tile of the source at the level that the bbox does not intersect.
func (e *exporter) missed(t *tile) {
	if e.outside == 0 {
		e.extent = t.BBox
	}
	e.outside++
	e.extent = [4]float64{min(e.extent[0], t.BBox[0]), min(e.extent[1], t.BBox[1]), max(e.extent[2], t.BBox[2]), max(e.extent[3], t.BBox[3])}
}

// exportID is the identity of the source to export; a source that does not parse is matched
// as it is (see entryIDs).
func exportID(source string) string {
	if id, err := SourceID(source); err == nil {
		return id
	}
	return source
}

// matches reports whether a source value of the table is the source exported: its identity is
// want, or, when want is an azblob URL without an account (none was given, none is set in the
// environment), want with an account.
func (e *exporter) matches(v string) bool {
	id := e.ids.id(v)
	return id == e.want || (e.anyAccount() && dropAzureAccount(id) == e.want)
}

func (e *exporter) anyAccount() bool {
	return strings.HasPrefix(e.want, "azblob://") && dropAzureAccount(e.want) == e.want
}

// sameAccount fails when a source exported without an account matches sources of two accounts.
func (e *exporter) sameAccount(v string) error {
	if !e.anyAccount() {
		return nil
	}
	id := e.ids.id(v)
	if e.matched == "" {
		e.matched = id
	} else if id != e.matched {
		return fmt.Errorf("the table holds %s and %s: give the storage account (azblob://ACCOUNT@CONTAINER/KEY)", e.matched, id)
	}
	return nil
}

// wantSet is the identities whose spellings the exported source's rows may have.
func (e *exporter) wantSet() map[string]bool {
	return map[string]bool{e.want: true}
}

// mayHold reports from the log alone whether a data file can hold tiles of the source and
// level.
func (e *exporter) mayHold(a *delta.Add) bool {
	if raw, ok := a.Tags[tagSources]; ok {
		var tags []sourceTag
		if json.Unmarshal([]byte(raw), &tags) == nil {
			found := false
			for _, t := range tags {
				found = found || e.matches(t.URI)
			}
			if !found {
				return false
			}
		}
	} else if !statsMayHold(a.Stats, e.wantSet()) {
		return false
	}
	var s struct {
		Min map[string]any `json:"minValues"`
		Max map[string]any `json:"maxValues"`
	}
	if a.Stats != "" && json.Unmarshal([]byte(a.Stats), &s) == nil {
		lo, ok1 := s.Min[colLevel].(float64)
		hi, ok2 := s.Max[colLevel].(float64)
		if ok1 && ok2 && (float64(e.opts.Level) < lo || float64(e.opts.Level) > hi) {
			return false
		}
	}
	return true
}

// rowGroupMayHold uses the row group's column statistics of source and level.
func (e *exporter) rowGroupMayHold(rg parquet.RowGroup) bool {
	type bounded interface {
		Bounds() (parquet.Value, parquet.Value, bool)
	}
	chunks := rg.ColumnChunks()
	if i, ok := e.codec.byName[colSource]; ok {
		if b, ok := chunks[i].(bounded); ok {
			if lo, hi, ok := b.Bounds(); ok && !rangeMayHold(string(lo.ByteArray()), string(hi.ByteArray()), e.wantSet()) {
				return false
			}
		}
	}
	if i, ok := e.codec.byName[colLevel]; ok {
		if b, ok := chunks[i].(bounded); ok {
			if lo, hi, ok := b.Bounds(); ok && (int32(e.opts.Level) < lo.Int32() || int32(e.opts.Level) > hi.Int32()) {
				return false
			}
		}
	}
	return true
}

func (e *exporter) readFile(ctx context.Context, s delta.Store, a *delta.Add) (err error) {
	defer recoverParquet(a.Path, &err)
	f, err := openDataFile(ctx, s, a)
	if err != nil {
		return err
	}
	if !e.codec.sameSchema(f.Schema()) {
		return fmt.Errorf("%w: data file %s has another schema than the table's layout", ErrBandLayout, a.Path)
	}
	buf := make([]parquet.Row, 8)
	var t tile
	for _, rg := range f.RowGroups() {
		if !e.rowGroupMayHold(rg) {
			continue
		}
		rows := rg.Rows()
		for {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return err
			}
			n, rerr := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				if err := e.codec.decode(r, &t); err != nil {
					rows.Close()
					return errwrap.URL("data file", a.Path, err)
				}
				if int(t.Level) != e.opts.Level || !e.matches(t.Source) {
					continue
				}
				if !e.inBBox(&t) {
					e.missed(&t)
					continue
				}
				if err := e.sameAccount(t.Source); err != nil {
					rows.Close()
					return err
				}
				if err := e.put(&t); err != nil {
					rows.Close()
					return fmt.Errorf("data file %s: tile %d,%d: %w", a.Path, t.Col, t.Row, err)
				}
				e.progress(ExportTiles)
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return fmt.Errorf("read data file %s: %w", a.Path, rerr)
			}
		}
		rows.Close()
	}
	return nil
}

func (e *exporter) inBBox(t *tile) bool {
	b := e.opts.BBox
	if b == nil {
		return true
	}
	return t.BBox[0] <= b[2] && t.BBox[2] >= b[0] && t.BBox[1] <= b[3] && t.BBox[3] >= b[1]
}

// create makes the GeoTIFF from the first tile's grid.
func (e *exporter) create(t *tile) error {
	e.version, e.size = t.SourceVersion, int(t.Width)
	e.w, e.h = int(t.RasterWidth), int(t.RasterHeight)
	if t.Width != t.Height || e.size <= 0 || e.w <= 0 || e.h <= 0 {
		return fmt.Errorf("tile of %dx%d in a raster of %dx%d", t.Width, t.Height, e.w, e.h)
	}
	co := gtiffOptions(e.size)
	if e.scratch {
		// Blocks outside the exported window are never written nor stored.
		co = append(co, "SPARSE_OK=TRUE")
	}
	ds, err := godal.Create(godal.GTiff, e.path, len(e.codec.layout.Bands), e.dtype, e.w, e.h,
		godal.CreationOption(co...), godal.ErrLogger(e.eh))
	if err != nil {
		return err
	}
	e.ds = ds
	// The level's origin: exact from the tile at 0,0, else computed back from this tile.
	gt := t.GeoTransform
	x0, y0 := float64(int(t.Col)*e.size), float64(int(t.Row)*e.size)
	if t.Col != 0 || t.Row != 0 {
		gt[0] -= x0*gt[1] + y0*gt[2]
		gt[3] -= x0*gt[4] + y0*gt[5]
	}
	if err := ds.SetGeoTransform(gt, godal.ErrLogger(e.eh)); err != nil {
		return err
	}
	if err := ds.SetProjection(t.CRS, godal.ErrLogger(e.eh)); err != nil {
		return fmt.Errorf("set CRS %q: %w", t.CRS, err)
	}
	e.nodata = t.HasNoData
	e.pad = 0
	switch {
	case t.HasNoData:
		e.pad = t.NoData
		for _, b := range ds.Bands() {
			if err := b.SetNoData(t.NoData, godal.ErrLogger(e.eh)); err != nil {
				return err
			}
		}
	case e.dtype == godal.Float32 || e.dtype == godal.Float64:
		e.pad = math.NaN()
	}
	e.minCR, e.maxCR = [2]int32{t.Col, t.Row}, [2]int32{t.Col, t.Row}
	return nil
}

// put writes one tile's pixels inside the raster.
func (e *exporter) put(t *tile) error {
	if e.ds == nil {
		if err := e.create(t); err != nil {
			return err
		}
	}
	if t.SourceVersion != e.version {
		return fmt.Errorf("the table holds two versions of the source (%s and %s)", e.version, t.SourceVersion)
	}
	if int(t.Width) != e.size || int(t.Height) != e.size || int(t.RasterWidth) != e.w || int(t.RasterHeight) != e.h {
		return fmt.Errorf("tile grid differs from the first tile's (tile size %d, raster %dx%d)", e.size, e.w, e.h)
	}
	k := [2]int32{t.Col, t.Row}
	if from, ok := e.written[k]; ok {
		if from != t.Source {
			// The same tile of the same version under another spelling of the source (a
			// table where it was ingested twice before identities): the same pixels.
			return nil
		}
		return fmt.Errorf("tile %d,%d appears twice", t.Col, t.Row)
	}
	x0, y0 := int(t.Col)*e.size, int(t.Row)*e.size
	w, h := min(e.size, e.w-x0), min(e.size, e.h-y0)
	if w <= 0 || h <= 0 {
		return fmt.Errorf("tile %d,%d lies outside the raster", t.Col, t.Row)
	}
	for i, b := range e.ds.Bands() {
		buf, err := cropPixels(e.dtype, t.Bands[i], e.size, w, h)
		if err != nil {
			return err
		}
		if err := b.Write(x0, y0, buf, w, h, godal.ErrLogger(e.eh)); err != nil {
			return err
		}
	}
	e.written[k] = t.Source
	e.minCR = [2]int32{min(e.minCR[0], t.Col), min(e.minCR[1], t.Row)}
	e.maxCR = [2]int32{max(e.maxCR[0], t.Col), max(e.maxCR[1], t.Row)}
	return nil
}

// fillGaps writes the pad value into the tile slots of the exported window that have no row.
func (e *exporter) fillGaps() error {
	lo, hi := e.minCR, e.maxCR
	if e.opts.BBox == nil {
		lo = [2]int32{0, 0}
		hi = [2]int32{int32((e.w+e.size-1)/e.size) - 1, int32((e.h+e.size-1)/e.size) - 1}
	}
	for row := lo[1]; row <= hi[1]; row++ {
		for col := lo[0]; col <= hi[0]; col++ {
			if _, ok := e.written[[2]int32{col, row}]; ok {
				continue
			}
			x0, y0 := int(col)*e.size, int(row)*e.size
			w, h := min(e.size, e.w-x0), min(e.size, e.h-y0)
			buf := make([]float64, w*h)
			for i := range buf {
				buf[i] = e.pad
			}
			for _, b := range e.ds.Bands() {
				if err := b.Write(x0, y0, buf, w, h, godal.ErrLogger(e.eh)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// cropPixels decodes the top-left w x h pixels of a size x size little-endian tile into a
// typed slice godal can write.
func cropPixels(dt godal.DataType, b []byte, size, w, h int) (any, error) {
	es := dt.Size()
	if len(b) != size*size*es {
		return nil, fmt.Errorf("band blob of %d bytes, want %d", len(b), size*size*es)
	}
	at := func(x, y int) []byte { o := (y*size + x) * es; return b[o : o+es] }
	le := binary.LittleEndian
	switch dt {
	case godal.Byte:
		out := make([]uint8, 0, w*h)
		for y := 0; y < h; y++ {
			out = append(out, b[y*size:y*size+w]...)
		}
		return out, nil
	case godal.UInt16:
		return crop(w, h, func(x, y int) uint16 { return le.Uint16(at(x, y)) }), nil
	case godal.Int16:
		return crop(w, h, func(x, y int) int16 { return int16(le.Uint16(at(x, y))) }), nil
	case godal.UInt32:
		return crop(w, h, func(x, y int) uint32 { return le.Uint32(at(x, y)) }), nil
	case godal.Int32:
		return crop(w, h, func(x, y int) int32 { return int32(le.Uint32(at(x, y))) }), nil
	case godal.Float32:
		return crop(w, h, func(x, y int) float32 { return math.Float32frombits(le.Uint32(at(x, y))) }), nil
	case godal.Float64:
		return crop(w, h, func(x, y int) float64 { return math.Float64frombits(le.Uint64(at(x, y))) }), nil
	}
	return nil, fmt.Errorf("%w: data type %s", ErrUnsupported, dt)
}

func crop[T pixel](w, h int, get func(x, y int) T) []T {
	out := make([]T, 0, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out = append(out, get(x, y))
		}
	}
	return out
}
