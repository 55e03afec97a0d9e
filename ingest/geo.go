package ingest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/airbusgeo/godal"
)

// edgeSegments is how many segments each tile edge is cut into before it is transformed to
// lon/lat, so curved edges (polar and conic projections) stay inside the footprint's ring.
const edgeSegments = 8

var nan = math.NaN()

// pixelToGeo applies a GDAL geotransform (corner convention) to pixel coordinates.
func pixelToGeo(gt [6]float64, px, py float64) (float64, float64) {
	return gt[0] + px*gt[1] + py*gt[2], gt[3] + px*gt[4] + py*gt[5]
}

// tileGeoTransform is the geotransform of the tile whose top-left pixel is x0, y0.
func tileGeoTransform(gt [6]float64, x0, y0 int) [6]float64 {
	ox, oy := pixelToGeo(gt, float64(x0), float64(y0))
	return [6]float64{ox, gt[1], gt[2], oy, gt[4], gt[5]}
}

// overviewGeoTransform is GDAL's geotransform of an overview of size ow x oh of a w x h
// raster with geotransform gt.
func overviewGeoTransform(gt [6]float64, w, h, ow, oh int) [6]float64 {
	sx, sy := float64(w)/float64(ow), float64(h)/float64(oh)
	return [6]float64{gt[0], gt[1] * sx, gt[2] * sy, gt[3], gt[4] * sx, gt[5] * sy}
}

// footprinter computes tile footprints in lon/lat (EPSG:4326, longitude first).
type footprinter struct {
	tr       *godal.Transform
	wgs84    *godal.SpatialRef
	xs, ys   []float64
	ok       []bool
	identity bool
}

func newFootprinter(src *godal.SpatialRef, eh godal.ErrorHandler) (*footprinter, error) {
	wgs84, err := godal.NewSpatialRefFromEPSG(4326, godal.ErrLogger(eh))
	if err != nil {
		return nil, fmt.Errorf("make EPSG:4326: %w", err)
	}
	tr, err := godal.NewTransform(src, wgs84, godal.ErrLogger(eh))
	if err != nil {
		wgs84.Close()
		return nil, fmt.Errorf("%w: no transformation from the source CRS to EPSG:4326: %v", ErrUnsupported, err)
	}
	return &footprinter{tr: tr, wgs84: wgs84}, nil
}

func (f *footprinter) close() {
	f.tr.Close()
	f.wgs84.Close()
}

// footprint returns the WKB polygon and bbox (xmin, ymin, xmax, ymax) in lon/lat of the w x h
// pixel window whose geotransform is gt, and the lon/lat of the window's centre. The ring runs
// along the four edges, edgeSegments points per edge, closed; points that fail to transform
// are left out (an error when fewer than three remain).
func (f *footprinter) footprint(gt [6]float64, w, h int) (wkb []byte, bbox [4]float64, centre [2]float64, err error) {
	n := 4*edgeSegments + 1 // ring points (last = centre, before closing)
	f.xs, f.ys, f.ok = f.xs[:0], f.ys[:0], f.ok[:0]
	add := func(px, py float64) {
		x, y := pixelToGeo(gt, px, py)
		f.xs, f.ys = append(f.xs, x), append(f.ys, y)
	}
	W, H := float64(w), float64(h)
	for i := 0; i < edgeSegments; i++ { // top, left to right
		add(W*float64(i)/edgeSegments, 0)
	}
	for i := 0; i < edgeSegments; i++ { // right, top to bottom
		add(W, H*float64(i)/edgeSegments)
	}
	for i := 0; i < edgeSegments; i++ { // bottom, right to left
		add(W-W*float64(i)/edgeSegments, H)
	}
	for i := 0; i < edgeSegments; i++ { // left, bottom to top
		add(0, H-H*float64(i)/edgeSegments)
	}
	add(W/2, H/2)
	for range f.xs {
		f.ok = append(f.ok, false)
	}
	if err := f.tr.TransformEx(f.xs, f.ys, nil, f.ok); err != nil && !slices.Contains(f.ok, true) {
		return nil, bbox, centre, fmt.Errorf("%w: transform tile corners to EPSG:4326: %v", ErrUnsupported, err)
	}
	if !f.ok[n-1] {
		return nil, bbox, centre, fmt.Errorf("%w: the tile centre does not transform to EPSG:4326", ErrUnsupported)
	}
	centre = [2]float64{f.xs[n-1], f.ys[n-1]}
	ring := make([][2]float64, 0, n)
	bbox = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for i := 0; i < n-1; i++ {
		if !f.ok[i] || math.IsNaN(f.xs[i]) || math.IsNaN(f.ys[i]) || math.IsInf(f.xs[i], 0) || math.IsInf(f.ys[i], 0) {
			continue
		}
		x, y := f.xs[i], f.ys[i]
		ring = append(ring, [2]float64{x, y})
		bbox[0], bbox[1] = min(bbox[0], x), min(bbox[1], y)
		bbox[2], bbox[3] = max(bbox[2], x), max(bbox[3], y)
	}
	if len(ring) < 3 {
		return nil, bbox, centre, fmt.Errorf("%w: fewer than 3 tile edge points transform to EPSG:4326", ErrUnsupported)
	}
	ring = append(ring, ring[0])
	return polygonWKB(ring), bbox, centre, nil
}

// polygonWKB encodes a one-ring polygon as little-endian ISO WKB.
func polygonWKB(ring [][2]float64) []byte {
	b := make([]byte, 0, 1+4+4+4+16*len(ring))
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ring)))
	for _, p := range ring {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[0]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[1]))
	}
	return b
}

// parsePolygonWKB decodes what polygonWKB writes (any byte order, one or more rings).
func parsePolygonWKB(b []byte) ([][][2]float64, error) {
	if len(b) < 9 {
		return nil, fmt.Errorf("wkb: %d bytes", len(b))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 0 {
		bo = binary.BigEndian
	}
	if t := bo.Uint32(b[1:]); t != 3 {
		return nil, fmt.Errorf("wkb: geometry type %d, want 3 (Polygon)", t)
	}
	nr := int(bo.Uint32(b[5:]))
	p := 9
	var rings [][][2]float64
	for r := 0; r < nr; r++ {
		if p+4 > len(b) {
			return nil, fmt.Errorf("wkb: truncated")
		}
		np := int(bo.Uint32(b[p:]))
		p += 4
		if p+16*np > len(b) {
			return nil, fmt.Errorf("wkb: truncated")
		}
		ring := make([][2]float64, np)
		for i := range ring {
			ring[i][0] = math.Float64frombits(bo.Uint64(b[p:]))
			ring[i][1] = math.Float64frombits(bo.Uint64(b[p+8:]))
			p += 16
		}
		rings = append(rings, ring)
	}
	return rings, nil
}

// geoMetadata is the GeoParquet 1.1 "geo" key-value metadata of a data file whose tiles
// cover bbox. The CRS is omitted, which GeoParquet defines as OGC:CRS84 (lon/lat).
func geoMetadata(bbox [4]float64) string {
	col := map[string]any{
		"encoding":       "WKB",
		"geometry_types": []string{"Polygon"},
		"covering": map[string]any{"bbox": map[string][]string{
			"xmin": {colBBox, "xmin"}, "ymin": {colBBox, "ymin"},
			"xmax": {colBBox, "xmax"}, "ymax": {colBBox, "ymax"},
		}},
	}
	if !math.IsInf(bbox[0], 0) {
		col["bbox"] = bbox[:]
	}
	b, _ := json.Marshal(map[string]any{
		"version":        "1.1.0",
		"primary_column": colFootprint,
		"columns":        map[string]any{colFootprint: col},
	})
	return string(b)
}
