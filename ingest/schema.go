package ingest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

// Column names of a raster table (see the package documentation).
const (
	colSource        = "source"
	colSourceVersion = "source_version"
	colLevel         = "level"
	colTileCol       = "tile_col"
	colTileRow       = "tile_row"
	colRasterWidth   = "raster_width"
	colRasterHeight  = "raster_height"
	colQuadbin       = "quadbin"
	colCRS           = "crs"
	colGeoTransform  = "geotransform"
	colWidth         = "width"
	colHeight        = "height"
	colDType         = "dtype"
	colNoData        = "nodata"
	colFootprint     = "footprint"
	colBBox          = "bbox"
	colIngestedAt    = "ingested_at"
)

var fixedColumns = []string{colSource, colSourceVersion, colLevel, colTileCol, colTileRow,
	colRasterWidth, colRasterHeight, colQuadbin, colCRS, colGeoTransform, colWidth, colHeight,
	colDType, colNoData, colFootprint, colBBox, colIngestedAt}

var bandSuffixes = []string{"_min", "_max", "_mean", "_valid"}

// Table configuration keys that record the band layout.
const (
	confFormat = "deltaraster.format"
	confBands  = "deltaraster.bands"
	confDType  = "deltaraster.dtype"
	formatName = "raster-tiles/1"
)

var bandNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// checkBandNames checks that names are usable, distinct band column names.
func checkBandNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("%w: no band names", ErrBandLayout)
	}
	all := map[string]bool{}
	for _, c := range fixedColumns {
		all[c] = true
	}
	for _, n := range names {
		if !bandNameRE.MatchString(n) {
			return fmt.Errorf("%w: band name %q (want lower case letters, digits and _, starting with a letter)", ErrBandLayout, n)
		}
		for _, c := range append([]string{n}, suffixed(n)...) {
			if all[c] {
				return fmt.Errorf("%w: band name %q makes column %q twice", ErrBandLayout, n, c)
			}
			all[c] = true
		}
	}
	return nil
}

func suffixed(band string) []string {
	out := make([]string, len(bandSuffixes))
	for i, s := range bandSuffixes {
		out[i] = band + s
	}
	return out
}

func defaultBandNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("b%d", i+1)
	}
	return names
}

// layout is the band layout of a table: every row has these bands, of this data type.
type layout struct {
	Bands []string
	DType string // GDAL data type name
}

func (l layout) String() string {
	return fmt.Sprintf("%d band(s) %s of %s", len(l.Bands), strings.Join(l.Bands, ","), l.DType)
}

func (l layout) equal(o layout) bool { return l.DType == o.DType && slices.Equal(l.Bands, o.Bands) }

// layoutOf reads the layout recorded in a table's metadata.
func layoutOf(m delta.Metadata) (layout, error) {
	if m.Configuration[confFormat] != formatName {
		return layout{}, fmt.Errorf("%w: the table is not a raster tile table (configuration %s is %q, want %q)",
			ErrBandLayout, confFormat, m.Configuration[confFormat], formatName)
	}
	l := layout{Bands: strings.Split(m.Configuration[confBands], ","), DType: m.Configuration[confDType]}
	if err := checkBandNames(l.Bands); err != nil {
		return layout{}, fmt.Errorf("table configuration %s: %w", confBands, err)
	}
	if _, ok := dtypeByName(l.DType); !ok {
		return layout{}, fmt.Errorf("%w: table configuration %s: unsupported data type %q", ErrBandLayout, confDType, l.DType)
	}
	return l, nil
}

// TableSpec is the Delta table Ingest creates for sources of these bands (names) and data type
// (a GDAL data type name, such as UInt16): for tools that make raster tables without a source,
// such as the benchmarks' table generator.
func TableSpec(bands []string, dtype string) (delta.TableSpec, error) {
	if err := checkBandNames(bands); err != nil {
		return delta.TableSpec{}, err
	}
	if _, ok := dtypeByName(dtype); !ok {
		return delta.TableSpec{}, fmt.Errorf("%w: unsupported data type %q", ErrBandLayout, dtype)
	}
	return layout{Bands: bands, DType: dtype}.tableSpec(), nil
}

// tableSpec is the Delta table a layout is stored in.
func (l layout) tableSpec() delta.TableSpec {
	return delta.TableSpec{
		Schema: l.deltaSchema(),
		Configuration: map[string]string{
			confFormat: formatName,
			confBands:  strings.Join(l.Bands, ","),
			confDType:  l.DType,
		},
	}
}

func field(name string, typ any, nullable bool) delta.StructField {
	raw, _ := json.Marshal(typ)
	return delta.StructField{Name: name, Type: raw, Nullable: nullable, Metadata: map[string]any{}}
}

// deltaSchema is the table schema, in logical column order.
func (l layout) deltaSchema() delta.StructType {
	bboxType := map[string]any{"type": "struct", "fields": []delta.StructField{
		field("xmin", "double", false), field("ymin", "double", false),
		field("xmax", "double", false), field("ymax", "double", false),
	}}
	fs := []delta.StructField{
		field(colSource, "string", false),
		field(colSourceVersion, "string", false),
		field(colLevel, "integer", false),
		field(colTileCol, "integer", false),
		field(colTileRow, "integer", false),
		field(colRasterWidth, "integer", false),
		field(colRasterHeight, "integer", false),
		field(colQuadbin, "long", false),
		field(colCRS, "string", false),
		field(colGeoTransform, map[string]any{"type": "array", "elementType": "double", "containsNull": false}, false),
		field(colWidth, "integer", false),
		field(colHeight, "integer", false),
		field(colDType, "string", false),
		field(colNoData, "double", true),
	}
	for _, b := range l.Bands {
		fs = append(fs, field(b, "binary", false),
			field(b+"_min", "double", true), field(b+"_max", "double", true),
			field(b+"_mean", "double", true), field(b+"_valid", "long", false))
	}
	fs = append(fs,
		field(colFootprint, "binary", false),
		field(colBBox, bboxType, false),
		field(colIngestedAt, "timestamp", false),
	)
	return delta.StructType{Type: "struct", Fields: fs}
}

// colKind says which tile field a Parquet leaf column holds.
type colKind int

const (
	kSource colKind = iota
	kSourceVersion
	kLevel
	kTileCol
	kTileRow
	kRasterWidth
	kRasterHeight
	kQuadbin
	kCRS
	kGeoTransform
	kWidth
	kHeight
	kDType
	kNoData
	kFootprint
	kXMin
	kYMin
	kXMax
	kYMax
	kIngestedAt
	kBand
	kBandMin
	kBandMax
	kBandMean
	kBandValid
)

type leafCol struct {
	kind     colKind
	band     int
	path     string
	maxDef   int
	maxRep   int
	optional bool
}

// codec maps tiles to Parquet rows of a layout's schema and back. The schema is built at run
// time (a parquet.Group: the band columns are dynamic), so its leaf columns are in the
// Group's order (sorted by name); rows are parquet.Row values with explicit levels.
type codec struct {
	layout layout
	schema *parquet.Schema
	leaves []leafCol
	byName map[string]int // leaf path ("bbox.xmin") -> column index
}

func dbl() parquet.Node { return parquet.Leaf(parquet.DoubleType) }

func newCodec(l layout) (*codec, error) {
	if err := checkBandNames(l.Bands); err != nil {
		return nil, err
	}
	blob := func() parquet.Node { return parquet.Encoded(parquet.Leaf(parquet.ByteArrayType), &parquet.Plain) }
	g := parquet.Group{
		colSource:        parquet.String(),
		colSourceVersion: parquet.String(),
		colLevel:         parquet.Int(32),
		colTileCol:       parquet.Int(32),
		colTileRow:       parquet.Int(32),
		colRasterWidth:   parquet.Int(32),
		colRasterHeight:  parquet.Int(32),
		colQuadbin:       parquet.Int(64),
		colCRS:           parquet.String(),
		colGeoTransform:  parquet.List(dbl()),
		colWidth:         parquet.Int(32),
		colHeight:        parquet.Int(32),
		colDType:         parquet.String(),
		colNoData:        parquet.Optional(dbl()),
		colFootprint:     blob(),
		colBBox:          parquet.Group{"xmin": dbl(), "ymin": dbl(), "xmax": dbl(), "ymax": dbl()},
		colIngestedAt:    parquet.Timestamp(parquet.Microsecond),
	}
	kinds := map[string]leafCol{
		colSource: {kind: kSource}, colSourceVersion: {kind: kSourceVersion}, colLevel: {kind: kLevel},
		colTileCol: {kind: kTileCol}, colTileRow: {kind: kTileRow}, colRasterWidth: {kind: kRasterWidth},
		colRasterHeight: {kind: kRasterHeight}, colQuadbin: {kind: kQuadbin}, colCRS: {kind: kCRS},
		colGeoTransform + ".list.element": {kind: kGeoTransform}, colWidth: {kind: kWidth},
		colHeight: {kind: kHeight}, colDType: {kind: kDType}, colNoData: {kind: kNoData},
		colFootprint: {kind: kFootprint}, "bbox.xmin": {kind: kXMin}, "bbox.ymin": {kind: kYMin},
		"bbox.xmax": {kind: kXMax}, "bbox.ymax": {kind: kYMax}, colIngestedAt: {kind: kIngestedAt},
	}
	for i, b := range l.Bands {
		g[b] = blob()
		g[b+"_min"] = parquet.Optional(dbl())
		g[b+"_max"] = parquet.Optional(dbl())
		g[b+"_mean"] = parquet.Optional(dbl())
		g[b+"_valid"] = parquet.Int(64)
		kinds[b] = leafCol{kind: kBand, band: i}
		kinds[b+"_min"] = leafCol{kind: kBandMin, band: i}
		kinds[b+"_max"] = leafCol{kind: kBandMax, band: i}
		kinds[b+"_mean"] = leafCol{kind: kBandMean, band: i}
		kinds[b+"_valid"] = leafCol{kind: kBandValid, band: i}
	}
	c := &codec{layout: l, schema: parquet.NewSchema("tile", g), byName: map[string]int{}}
	for i, path := range c.schema.Columns() {
		name := strings.Join(path, ".")
		lc, ok := kinds[name]
		if !ok {
			return nil, fmt.Errorf("ingest: unexpected column %s in the tile schema", name)
		}
		leaf, _ := c.schema.Lookup(path...)
		if leaf.ColumnIndex != i {
			return nil, fmt.Errorf("ingest: column %s at index %d, want %d", name, leaf.ColumnIndex, i)
		}
		lc.path, lc.maxDef, lc.maxRep = name, leaf.MaxDefinitionLevel, leaf.MaxRepetitionLevel
		lc.optional = leaf.Node.Optional()
		c.leaves = append(c.leaves, lc)
		c.byName[name] = i
	}
	return c, nil
}

// blobColumns are the paths whose values are large blobs: no bounds or page statistics.
func (c *codec) blobColumns() []string {
	out := []string{colFootprint}
	return append(out, c.layout.Bands...)
}

// tile is one row of a raster table.
type tile struct {
	Source, SourceVersion     string
	Level, Col, Row           int32
	RasterWidth, RasterHeight int32
	Quadbin                   int64
	CRS                       string
	GeoTransform              [6]float64
	Width, Height             int32
	DType                     string
	NoData                    float64
	HasNoData                 bool
	Bands                     [][]byte
	Stats                     []bandStats
	Footprint                 []byte
	BBox                      [4]float64
	IngestedAt                int64 // microseconds since the epoch, UTC
}

// bandStats are one band's statistics over the valid pixels of a tile; Min, Max and Mean are
// null (NaN here) when Valid is 0.
type bandStats struct {
	Min, Max, Mean float64
	Valid          int64
}

// encode appends t as one row to row[:0] and returns it.
func (c *codec) encode(row parquet.Row, t *tile) parquet.Row {
	row = row[:0]
	opt := func(v float64, ok bool, i int) parquet.Value {
		if !ok {
			return parquet.Value{}.Level(0, 0, i)
		}
		return parquet.DoubleValue(v).Level(0, 1, i)
	}
	for i, lc := range c.leaves {
		var v parquet.Value
		switch lc.kind {
		case kSource:
			v = parquet.ByteArrayValue([]byte(t.Source))
		case kSourceVersion:
			v = parquet.ByteArrayValue([]byte(t.SourceVersion))
		case kLevel:
			v = parquet.Int32Value(t.Level)
		case kTileCol:
			v = parquet.Int32Value(t.Col)
		case kTileRow:
			v = parquet.Int32Value(t.Row)
		case kRasterWidth:
			v = parquet.Int32Value(t.RasterWidth)
		case kRasterHeight:
			v = parquet.Int32Value(t.RasterHeight)
		case kQuadbin:
			v = parquet.Int64Value(t.Quadbin)
		case kCRS:
			v = parquet.ByteArrayValue([]byte(t.CRS))
		case kGeoTransform:
			for j, g := range t.GeoTransform {
				rep := lc.maxRep
				if j == 0 {
					rep = 0
				}
				row = append(row, parquet.DoubleValue(g).Level(rep, lc.maxDef, i))
			}
			continue
		case kWidth:
			v = parquet.Int32Value(t.Width)
		case kHeight:
			v = parquet.Int32Value(t.Height)
		case kDType:
			v = parquet.ByteArrayValue([]byte(t.DType))
		case kNoData:
			row = append(row, opt(t.NoData, t.HasNoData, i))
			continue
		case kFootprint:
			v = parquet.ByteArrayValue(t.Footprint)
		case kXMin, kYMin, kXMax, kYMax:
			v = parquet.DoubleValue(t.BBox[lc.kind-kXMin])
		case kIngestedAt:
			v = parquet.Int64Value(t.IngestedAt)
		case kBand:
			v = parquet.ByteArrayValue(t.Bands[lc.band])
		case kBandMin:
			s := t.Stats[lc.band]
			row = append(row, opt(s.Min, s.Valid > 0, i))
			continue
		case kBandMax:
			s := t.Stats[lc.band]
			row = append(row, opt(s.Max, s.Valid > 0, i))
			continue
		case kBandMean:
			s := t.Stats[lc.band]
			row = append(row, opt(s.Mean, s.Valid > 0, i))
			continue
		case kBandValid:
			v = parquet.Int64Value(t.Stats[lc.band].Valid)
		}
		row = append(row, v.Level(0, lc.maxDef, i))
	}
	return row
}

// decode fills t from a row of this codec's schema. Byte slices alias the row's values.
func (c *codec) decode(row parquet.Row, t *tile) error {
	nb := len(c.layout.Bands)
	if cap(t.Bands) < nb {
		t.Bands = make([][]byte, nb)
		t.Stats = make([]bandStats, nb)
	}
	t.Bands, t.Stats = t.Bands[:nb], t.Stats[:nb]
	gt := 0
	for _, v := range row {
		ci := v.Column()
		if ci < 0 || ci >= len(c.leaves) {
			return fmt.Errorf("decode tile row: column index %d out of range", ci)
		}
		lc := c.leaves[ci]
		null := v.IsNull()
		f := func() float64 {
			if null {
				return nan
			}
			return v.Double()
		}
		switch lc.kind {
		case kSource:
			t.Source = string(v.ByteArray())
		case kSourceVersion:
			t.SourceVersion = string(v.ByteArray())
		case kLevel:
			t.Level = v.Int32()
		case kTileCol:
			t.Col = v.Int32()
		case kTileRow:
			t.Row = v.Int32()
		case kRasterWidth:
			t.RasterWidth = v.Int32()
		case kRasterHeight:
			t.RasterHeight = v.Int32()
		case kQuadbin:
			t.Quadbin = v.Int64()
		case kCRS:
			t.CRS = string(v.ByteArray())
		case kGeoTransform:
			if gt >= 6 {
				return fmt.Errorf("decode tile row: geotransform with more than 6 values")
			}
			t.GeoTransform[gt] = v.Double()
			gt++
		case kWidth:
			t.Width = v.Int32()
		case kHeight:
			t.Height = v.Int32()
		case kDType:
			t.DType = string(v.ByteArray())
		case kNoData:
			t.HasNoData = !null
			t.NoData = f()
		case kFootprint:
			t.Footprint = v.ByteArray()
		case kXMin, kYMin, kXMax, kYMax:
			t.BBox[lc.kind-kXMin] = v.Double()
		case kIngestedAt:
			t.IngestedAt = v.Int64()
		case kBand:
			t.Bands[lc.band] = v.ByteArray()
		case kBandMin:
			t.Stats[lc.band].Min = f()
		case kBandMax:
			t.Stats[lc.band].Max = f()
		case kBandMean:
			t.Stats[lc.band].Mean = f()
		case kBandValid:
			t.Stats[lc.band].Valid = v.Int64()
		}
	}
	if gt != 6 {
		return fmt.Errorf("decode tile row: geotransform with %d values, want 6", gt)
	}
	return nil
}

// sameSchema reports whether a data file's schema is the one this codec writes.
func (c *codec) sameSchema(s *parquet.Schema) bool {
	return parquet.EqualNodes(c.schema, s) || c.schema.String() == s.String()
}
