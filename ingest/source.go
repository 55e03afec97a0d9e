package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/gdal"
)

// sourceRef is a source resolved to where its bytes are, with its identity and version.
type sourceRef struct {
	uri     string // as given: it holds the connection parameters the object is opened with
	id      string // the identity the table holds (see SourceID)
	loc     *sourceLoc
	version string
	local   string      // local path, or "" for an object in a store
	store   delta.Store // for objects
	key     string
	size    int64
	// ahead, while the tiles of an object are read, is its copy being made (see readAhead).
	ahead *readAhead
}

// stores caches the stores opened for the sources of one call.
type stores struct {
	m    map[string]delta.Store
	opts []delta.StoreOption
}

func (s *stores) close() {
	for _, st := range s.m {
		st.Close()
	}
}

func (s *stores) open(ctx context.Context, u string) (delta.Store, error) {
	if st, ok := s.m[u]; ok {
		return st, nil
	}
	st, err := delta.OpenStore(ctx, u, s.opts...)
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = map[string]delta.Store{}
	}
	s.m[u] = st
	return st, nil
}

// resolve stats a parsed source: local files by os.Stat (version = size and mtime), s3, gs,
// azblob and mem objects through a store on their bucket, opened with the connection
// parameters of the URI as given (version = ETag, or size and mtime where the backend has no
// ETag).
func (s *stores) resolve(ctx context.Context, uri string, loc *sourceLoc) (*sourceRef, error) {
	if loc.local != "" {
		r, err := statLocal(loc.local)
		if err != nil {
			return nil, err
		}
		r.uri, r.id, r.loc = uri, loc.id, loc
		return r, nil
	}
	st, err := s.open(ctx, loc.bucketURL)
	if err != nil {
		return nil, err
	}
	info, err := st.Stat(ctx, loc.key)
	if err != nil {
		return nil, err
	}
	return &sourceRef{uri: uri, id: loc.id, loc: loc, version: ObjectVersion(info, false), store: st, key: loc.key, size: info.Size}, nil
}

func sizeTimeVersion(size, mtimeNanos int64) string {
	return strconv.FormatInt(size, 10) + "-" + strconv.FormatInt(mtimeNanos, 10)
}

func statLocal(path string) (*sourceRef, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	v := ObjectVersion(delta.ObjectInfo{Size: fi.Size(), ModTime: fi.ModTime()}, true)
	return &sourceRef{version: v, local: path, size: fi.Size()}, nil
}

// recheck fails with ErrSourceChanged when the source's version is no longer the one read.
func (s *stores) recheck(ctx context.Context, r *sourceRef) error {
	var now *sourceRef
	var err error
	if r.local != "" {
		now, err = statLocal(r.local)
	} else {
		now, err = s.resolve(ctx, r.uri, r.loc)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSourceChanged, err)
	}
	if now.version != r.version {
		return fmt.Errorf("%w: version %s, now %s", ErrSourceChanged, r.version, now.version)
	}
	return nil
}

// errorHandler makes GDAL warnings log records and failures errors.
func errorHandler(log *slog.Logger, source string) godal.ErrorHandler {
	return func(ec godal.ErrorCategory, code int, msg string) error {
		switch {
		case ec >= godal.CE_Failure:
			return fmt.Errorf("gdal: %s", msg)
		case ec == godal.CE_Warning:
			log.Warn("gdal warning", "source", source, "code", code, "msg", msg)
		}
		return nil
	}
}

// openDataset opens a source with GDAL: local files by path (with the sidecars that exist
// beside them: .ovr, .aux.xml, .msk), objects through a fresh VSI view. close releases both.
func openDataset(ctx context.Context, r *sourceRef, eh godal.ErrorHandler) (*godal.Dataset, func(), error) {
	path := r.local
	release := func() {}
	var siblings []string
	if r.local == "" {
		p, unregister, err := openView(ctx, r.store, r.key, r.size, r.ahead)
		if err != nil {
			return nil, nil, err
		}
		path, release = p, unregister
	} else {
		for _, ext := range []string{".ovr", ".aux.xml", ".msk"} {
			if _, err := os.Stat(r.local + ext); err == nil {
				siblings = append(siblings, filepath.Base(r.local)+ext)
			}
		}
	}
	opts := []godal.OpenOption{godal.RasterOnly(), godal.ErrLogger(eh)}
	if len(siblings) > 0 {
		opts = append(opts, godal.SiblingFiles(siblings...))
	}
	ds, err := godal.Open(path, opts...)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("open raster: %w", err)
	}
	return ds, func() {
		ds.Close()
		release()
	}, nil
}

// levelInfo is the grid of one level of a source.
type levelInfo struct {
	width, height int
	gt            [6]float64
	// blockW, blockH are GDAL's natural block size of the level's first band: tiles of a
	// tiled file, strips (full width) of a striped one.
	blockW, blockH int
}

// rasterInfo is what the tiler needs to know about a source.
type rasterInfo struct {
	bands     int
	dtype     godal.DataType
	noData    float64
	hasNoData bool
	crs       string // EPSG:n or WKT2
	levels    []levelInfo
}

func (ri *rasterInfo) layout(names []string) layout {
	if names == nil {
		names = defaultBandNames(ri.bands)
	}
	return layout{Bands: names, DType: ri.dtype.String()}
}

var supportedTypes = []godal.DataType{godal.Byte, godal.UInt16, godal.Int16, godal.UInt32, godal.Int32, godal.Float32, godal.Float64}

func dtypeByName(name string) (godal.DataType, bool) {
	for _, t := range supportedTypes {
		if t.String() == name {
			return t, true
		}
	}
	return godal.Unknown, false
}

// inspect reads a dataset's bands, grid, CRS and overviews and refuses what cannot be tiled:
// no CRS (ErrNoCRS), no geotransform, complex or mixed data types, bands with different
// nodata values (ErrUnsupported), more than maxPixels pixels (ErrTooLarge).
func inspect(ds *godal.Dataset, maxPixels int64, eh godal.ErrorHandler) (*rasterInfo, error) {
	st := ds.Structure()
	if st.NBands == 0 {
		return nil, fmt.Errorf("%w: no raster bands", ErrUnsupported)
	}
	if maxPixels > 0 && int64(st.SizeX)*int64(st.SizeY) > maxPixels {
		return nil, fmt.Errorf("%w: %d x %d = %d pixels, limit %d", ErrTooLarge, st.SizeX, st.SizeY,
			int64(st.SizeX)*int64(st.SizeY), maxPixels)
	}
	if strings.TrimSpace(ds.Projection()) == "" {
		return nil, ErrNoCRS
	}
	gt, err := ds.GeoTransform(godal.ErrLogger(eh))
	if err != nil {
		return nil, fmt.Errorf("%w: no geotransform: %v", ErrUnsupported, err)
	}
	if gt[1]*gt[5]-gt[2]*gt[4] == 0 {
		return nil, fmt.Errorf("%w: geotransform %v cannot be inverted", ErrUnsupported, gt)
	}
	bands := ds.Bands()
	ri := &rasterInfo{bands: len(bands), dtype: bands[0].Structure().DataType}
	if _, ok := dtypeByName(ri.dtype.String()); !ok {
		return nil, fmt.Errorf("%w: data type %s", ErrUnsupported, ri.dtype)
	}
	ri.noData, ri.hasNoData = bands[0].NoData()
	nOvr := len(bands[0].Overviews())
	for i, b := range bands {
		if dt := b.Structure().DataType; dt != ri.dtype {
			return nil, fmt.Errorf("%w: band %d is %s, band 1 is %s", ErrUnsupported, i+1, dt, ri.dtype)
		}
		nd, ok := b.NoData()
		if ok != ri.hasNoData || (ok && !sameFloat(nd, ri.noData)) {
			return nil, fmt.Errorf("%w: band %d has another nodata value than band 1", ErrUnsupported, i+1)
		}
		nOvr = min(nOvr, len(b.Overviews()))
	}
	sr := ds.SpatialRef()
	if sr == nil {
		return nil, ErrNoCRS
	}
	if name, code := sr.AuthorityName(""), sr.AuthorityCode(""); strings.EqualFold(name, "EPSG") && code != "" {
		ri.crs = "EPSG:" + code
	} else if ri.crs, err = gdal.WKT2(ds.Projection()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	b0 := bands[0].Structure()
	ri.levels = []levelInfo{{width: st.SizeX, height: st.SizeY, gt: gt, blockW: b0.BlockSizeX, blockH: b0.BlockSizeY}}
	for k := 0; k < nOvr; k++ {
		o := bands[0].Overviews()[k].Structure()
		same := true
		for _, b := range bands[1:] {
			ob := b.Overviews()[k].Structure()
			same = same && ob.SizeX == o.SizeX && ob.SizeY == o.SizeY
		}
		if !same || o.SizeX <= 0 || o.SizeY <= 0 {
			break
		}
		ri.levels = append(ri.levels, levelInfo{width: o.SizeX, height: o.SizeY,
			gt:     overviewGeoTransform(gt, st.SizeX, st.SizeY, o.SizeX, o.SizeY),
			blockW: o.BlockSizeX, blockH: o.BlockSizeY})
	}
	return ri, nil
}

// sameFloat is equality that holds for NaN too.
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
