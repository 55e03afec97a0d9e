package testutil

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// Tile is a row of a one-band tile table: the columns of the raster table (band b1), as a Go
// struct for parquet-go's GenericWriter, so tests and benchmarks of tile tables need no GDAL.
type Tile struct {
	Source        string    `parquet:"source"`
	SourceVersion string    `parquet:"source_version"`
	Level         int32     `parquet:"level"`
	TileCol       int32     `parquet:"tile_col"`
	TileRow       int32     `parquet:"tile_row"`
	RasterWidth   int32     `parquet:"raster_width"`
	RasterHeight  int32     `parquet:"raster_height"`
	Quadbin       int64     `parquet:"quadbin"`
	CRS           string    `parquet:"crs"`
	GeoTransform  []float64 `parquet:"geotransform,list"`
	Width         int32     `parquet:"width"`
	Height        int32     `parquet:"height"`
	DType         string    `parquet:"dtype"`
	NoData        *float64  `parquet:"nodata,optional"`
	B1            []byte    `parquet:"b1,plain"`
	B1Min         *float64  `parquet:"b1_min,optional"`
	B1Max         *float64  `parquet:"b1_max,optional"`
	B1Mean        *float64  `parquet:"b1_mean,optional"`
	B1Valid       int64     `parquet:"b1_valid"`
	Footprint     []byte    `parquet:"footprint,plain"`
	BBox          BBox      `parquet:"bbox"`
	IngestedAt    time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// BBox is the bbox column of a Tile.
type BBox struct {
	XMin float64 `parquet:"xmin"`
	YMin float64 `parquet:"ymin"`
	XMax float64 `parquet:"xmax"`
	YMax float64 `parquet:"ymax"`
}

// TileSchema is the Delta schema of a table of Tile rows.
func TileSchema() delta.StructType {
	f := func(name string, typ any, nullable bool) delta.StructField {
		raw, _ := json.Marshal(typ)
		return delta.StructField{Name: name, Type: raw, Nullable: nullable, Metadata: map[string]any{}}
	}
	bbox := map[string]any{"type": "struct", "fields": []delta.StructField{
		f("xmin", "double", false), f("ymin", "double", false), f("xmax", "double", false), f("ymax", "double", false)}}
	return delta.StructType{Type: "struct", Fields: []delta.StructField{
		f("source", "string", false), f("source_version", "string", false), f("level", "integer", false),
		f("tile_col", "integer", false), f("tile_row", "integer", false), f("raster_width", "integer", false),
		f("raster_height", "integer", false), f("quadbin", "long", false), f("crs", "string", false),
		f("geotransform", map[string]any{"type": "array", "elementType": "double", "containsNull": false}, false),
		f("width", "integer", false), f("height", "integer", false), f("dtype", "string", false),
		f("nodata", "double", true), f("b1", "binary", false), f("b1_min", "double", true),
		f("b1_max", "double", true), f("b1_mean", "double", true), f("b1_valid", "long", false),
		f("footprint", "binary", false), f("bbox", bbox, false), f("ingested_at", "timestamp", false),
	}}
}

// PolygonWKB is the little-endian WKB polygon of the rectangle (x0, y0)-(x1, y1): a Tile's
// footprint.
func PolygonWKB(x0, y0, x1, y1 float64) []byte {
	b := []byte{1}
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 5)
	for _, p := range [][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[0]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[1]))
	}
	return b
}
