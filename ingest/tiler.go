package ingest

import (
	"context"
	"fmt"
	"math"
	"unsafe"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/quadbin"
)

// pixel is a GDAL data type this package stores.
type pixel interface {
	~uint8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~float32 | ~float64
}

// tiler cuts one level of an open source into tiles: windows of the level's own grid aligned on
// multiples of the tile size (so reads fall on the source's blocks when the tile size is a
// multiple of the block size), read one window at a time, band by band; edge tiles are padded
// to the full tile size.
type tiler struct {
	info  *rasterInfo
	size  int // tile size
	eh    godal.ErrorHandler
	fp    *footprinter
	bands []godal.Band // of the current level
	level int
	lv    levelInfo
	buf   []byte // scratch for one band window
}

// tileCount is the number of tile slots of a level.
func tileCount(lv levelInfo, size int) (cols, rows int) {
	return (lv.width + size - 1) / size, (lv.height + size - 1) / size
}

func (tl *tiler) setLevel(ds *godal.Dataset, level int) {
	tl.level, tl.lv = level, tl.info.levels[level]
	tl.bands = ds.Bands()
	if level > 0 {
		for i, b := range tl.bands {
			tl.bands[i] = b.Overviews()[level-1]
		}
	}
}

// read fills t with tile col, row of the current level (bands, statistics, footprint,
// quadbin) and reports whether any pixel of any band is valid.
func (tl *tiler) read(ctx context.Context, col, row int, t *tile) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ts := tl.size
	x0, y0 := col*ts, row*ts
	w, h := min(ts, tl.lv.width-x0), min(ts, tl.lv.height-y0)
	nb := len(tl.bands)
	if cap(t.Bands) < nb {
		t.Bands = make([][]byte, nb)
		t.Stats = make([]bandStats, nb)
	}
	t.Bands, t.Stats = t.Bands[:nb], t.Stats[:nb]
	valid := false
	for i, b := range tl.bands {
		var err error
		var s bandStats
		switch tl.info.dtype {
		case godal.Byte:
			t.Bands[i], s, err = readWindow[uint8](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.UInt16:
			t.Bands[i], s, err = readWindow[uint16](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.Int16:
			t.Bands[i], s, err = readWindow[int16](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.UInt32:
			t.Bands[i], s, err = readWindow[uint32](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.Int32:
			t.Bands[i], s, err = readWindow[int32](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.Float32:
			t.Bands[i], s, err = readWindow[float32](tl, b, x0, y0, w, h, t.Bands[i])
		case godal.Float64:
			t.Bands[i], s, err = readWindow[float64](tl, b, x0, y0, w, h, t.Bands[i])
		default:
			err = fmt.Errorf("%w: data type %s", ErrUnsupported, tl.info.dtype)
		}
		if err != nil {
			return false, fmt.Errorf("read level %d tile %d,%d band %d: %w", tl.level, col, row, i+1, err)
		}
		t.Stats[i] = s
		valid = valid || s.Valid > 0
	}
	t.Level, t.Col, t.Row = int32(tl.level), int32(col), int32(row)
	t.RasterWidth, t.RasterHeight = int32(tl.lv.width), int32(tl.lv.height)
	t.Width, t.Height = int32(ts), int32(ts)
	t.GeoTransform = tileGeoTransform(tl.lv.gt, x0, y0)
	t.CRS = tl.info.crs
	t.DType = tl.info.dtype.String()
	t.NoData, t.HasNoData = tl.info.noData, tl.info.hasNoData
	// The footprint covers the tile's pixels inside the raster (not the padding).
	wkb, bbox, centre, err := tl.fp.footprint(t.GeoTransform, w, h)
	if err != nil {
		return false, fmt.Errorf("level %d tile %d,%d: %w", tl.level, col, row, err)
	}
	t.Footprint, t.BBox = wkb, bbox
	t.Quadbin = int64(quadbin.FromLonLat(centre[0], centre[1], quadbinResolutionFor(bbox[2]-bbox[0])))
	return valid, nil
}

// padValue is what fills the pixels of an edge tile outside the raster: the nodata value when
// the type can hold it, else NaN for floats, else 0.
func padValue[T pixel](hasNoData bool, noData float64) T {
	var z T
	if hasNoData && float64(T(noData)) == noData {
		return T(noData)
	}
	if isFloat(z) {
		return T(math.NaN())
	}
	return z
}

func isFloat[T pixel](v T) bool {
	switch any(v).(type) {
	case float32, float64:
		return true
	}
	return false
}

// readWindow reads a w x h window of band b at x0, y0 into a size x size tile (row-major,
// little-endian, padded), reusing dst, and computes the statistics of its valid pixels: not
// nodata, and not NaN for floats. A full window is read straight into the tile; an edge window
// is read into scratch and copied.
func readWindow[T pixel](tl *tiler, b godal.Band, x0, y0, w, h int, dst []byte) ([]byte, bandStats, error) {
	ts := tl.size
	var zero T
	es := int(unsafe.Sizeof(zero))
	if cap(dst) < ts*ts*es || uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%8 != 0 {
		dst = alignedBytes(ts * ts * es)
	}
	dst = dst[:ts*ts*es]
	out := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(dst))), ts*ts)
	if w == ts && h == ts {
		if err := b.Read(x0, y0, out, w, h, godal.ErrLogger(tl.eh)); err != nil {
			return dst, bandStats{}, err
		}
	} else {
		win := reslice[T](&tl.buf, w*h)
		if err := b.Read(x0, y0, win, w, h, godal.ErrLogger(tl.eh)); err != nil {
			return dst, bandStats{}, err
		}
		pad := padValue[T](tl.info.hasNoData, tl.info.noData)
		for y := 0; y < ts; y++ {
			line := out[y*ts : (y+1)*ts]
			if y >= h {
				for x := range line {
					line[x] = pad
				}
				continue
			}
			copy(line, win[y*w:(y+1)*w])
			for x := w; x < ts; x++ {
				line[x] = pad
			}
		}
	}
	var s bandStats
	switch v := any(out).(type) {
	case []uint8:
		s = intStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []uint16:
		s = intStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []int16:
		s = intStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []uint32:
		s = intStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []int32:
		s = intStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []float32:
		s = floatStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	case []float64:
		s = floatStats(v, ts, w, h, tl.info.hasNoData, tl.info.noData)
	}
	if !littleEndian {
		swapBytes(dst, es)
	}
	return dst, s, nil
}

// floatStats are the statistics of the w x h pixels at the top left of a tile of stride ts:
// NaN and the nodata value are not valid.
func floatStats[T ~float32 | ~float64](out []T, ts, w, h int, hasND bool, nd float64) bandStats {
	s := bandStats{Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for y := 0; y < h; y++ {
		for _, v := range out[y*ts : y*ts+w] {
			f := float64(v)
			if f != f || (hasND && f == nd) {
				continue
			}
			s.Valid++
			sum += f
			s.Min, s.Max = min(s.Min, f), max(s.Max, f)
		}
	}
	if s.Valid > 0 {
		s.Mean = sum / float64(s.Valid)
	} else {
		s.Min, s.Max, s.Mean = nan, nan, nan
	}
	return s
}

// reslice returns *buf viewed as n values of T, growing it when needed. The buffer is a []T
// allocation in disguise so T's alignment holds.
func reslice[T pixel](buf *[]byte, n int) []T {
	var zero T
	es := int(unsafe.Sizeof(zero))
	if cap(*buf) < n*es {
		*buf = alignedBytes(n * es)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(*buf))), n)
}

// alignedBytes allocates n bytes aligned for any pixel type.
func alignedBytes(n int) []byte {
	words := make([]float64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)[:n]
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// swapBytes reverses the byte order of every es-byte value of b.
func swapBytes(b []byte, es int) {
	for i := 0; i+es <= len(b); i += es {
		for j := 0; j < es/2; j++ {
			b[i+j], b[i+es-1-j] = b[i+es-1-j], b[i+j]
		}
	}
}
