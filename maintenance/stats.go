package maintenance

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// maxStatString is the longest string whose value goes into min/max stats; a column with a
// longer value gets no min/max (readers take that as unknown), as ingest does.
const maxStatString = 256

type statKind int

const (
	statNullOnly statKind = iota // nullCount only (booleans, decimals, fixed-length bytes)
	statInt
	statUint
	statFloat
	statString
	statDate
	statTimestamp
)

// colStat gathers one leaf column's statistics.
type colStat struct {
	path  []string
	kind  statKind
	unit  time.Duration // timestamps
	utc   bool          // timestamps: adjusted to UTC (written with a Z)
	nulls int64
	seen  bool // a non-null value was seen
	bad   bool // a value that cannot bound (NaN, a string too long): no min/max
	minI  int64
	maxI  int64
	minU  uint64
	maxU  uint64
	minF  float64
	maxF  float64
	minS  string
	maxS  string
	// finite: a finite float was seen (NaN and infinities count as seen but bound nothing).
	finite bool
}

// fileStats computes the Delta stats of a data file from its rows: numRecords, and nullCount,
// minValues and maxValues of every leaf column that is not repeated and not plain binary
// (nested structs as nested objects). Its output matches what ingest writes for tile tables.
type fileStats struct {
	n    int64
	cols []*colStat // by leaf column index; nil = no stats for that column
}

func newFileStats(s *parquet.Schema) *fileStats {
	fs := &fileStats{}
	for _, p := range s.Columns() {
		leaf, ok := s.Lookup(p...)
		if !ok {
			fs.cols = append(fs.cols, nil)
			continue
		}
		c := newColStat(leaf)
		if c != nil {
			c.path = p // the leaf's own Path holds its name only
		}
		fs.cols = append(fs.cols, c)
	}
	return fs
}

func newColStat(leaf parquet.LeafColumn) *colStat {
	if leaf.MaxRepetitionLevel > 0 {
		return nil // lists and maps: Delta keeps no stats for them
	}
	c := &colStat{path: leaf.Path, kind: statNullOnly}
	t := leaf.Node.Type()
	lt := t.LogicalType()
	var ct deprecated.ConvertedType = -1
	if p := t.ConvertedType(); p != nil {
		ct = *p
	}
	var lv format.LogicalTypeValue
	if lt != nil {
		lv = lt.Value
	}
	switch t.Kind() {
	case parquet.Int32, parquet.Int64:
		c.kind = statInt
		switch v := lv.(type) {
		case *format.IntType:
			if !v.IsSigned {
				c.kind = statUint
			}
		case *format.DateType:
			c.kind = statDate
		case *format.TimestampType:
			c.kind, c.utc = statTimestamp, v.IsAdjustedToUTC
			c.unit = time.Microsecond
			if v.Unit.Value != nil {
				c.unit = v.Unit.Value.Duration()
			}
		case *format.DecimalType, *format.TimeType:
			c.kind = statNullOnly
		case nil:
			switch ct {
			case deprecated.Date:
				c.kind = statDate
			case deprecated.TimestampMillis:
				c.kind, c.utc, c.unit = statTimestamp, true, time.Millisecond
			case deprecated.TimestampMicros:
				c.kind, c.utc, c.unit = statTimestamp, true, time.Microsecond
			case deprecated.Decimal, deprecated.TimeMillis, deprecated.TimeMicros:
				c.kind = statNullOnly
			case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
				c.kind = statUint
			}
		default:
			c.kind = statNullOnly
		}
	case parquet.Float, parquet.Double:
		c.kind = statFloat
	case parquet.ByteArray:
		switch lv.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			c.kind = statString
		case nil:
			if ct == deprecated.UTF8 || ct == deprecated.Enum || ct == deprecated.Json {
				c.kind = statString
			} else {
				return nil // binary: no stats at all, as ingest does for band and footprint blobs
			}
		default:
			return nil
		}
	default:
		c.kind = statNullOnly
	}
	return c
}

// Add accounts one row.
func (fs *fileStats) Add(row parquet.Row) {
	fs.n++
	for _, v := range row {
		ci := v.Column()
		if ci < 0 || ci >= len(fs.cols) {
			continue
		}
		c := fs.cols[ci]
		if c == nil {
			continue
		}
		if v.IsNull() {
			c.nulls++
			continue
		}
		c.add(v)
	}
}

func (c *colStat) add(v parquet.Value) {
	first := !c.seen
	c.seen = true
	switch c.kind {
	case statInt, statDate, statTimestamp:
		var x int64
		if v.Kind() == parquet.Int32 {
			x = int64(v.Int32())
		} else {
			x = v.Int64()
		}
		if first {
			c.minI, c.maxI = x, x
		} else {
			c.minI, c.maxI = min(c.minI, x), max(c.maxI, x)
		}
	case statUint:
		var x uint64
		if v.Kind() == parquet.Int32 {
			x = uint64(uint32(v.Int32()))
		} else {
			x = uint64(v.Int64())
		}
		if first {
			c.minU, c.maxU = x, x
		} else {
			c.minU, c.maxU = min(c.minU, x), max(c.maxU, x)
		}
	case statFloat:
		var x float64
		if v.Kind() == parquet.Float {
			x = float64(v.Float())
		} else {
			x = v.Double()
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			c.bad = true
			return
		}
		if !c.finite {
			c.minF, c.maxF, c.finite = x, x, true
		} else {
			c.minF, c.maxF = min(c.minF, x), max(c.maxF, x)
		}
	case statString:
		b := v.ByteArray()
		if len(b) > maxStatString {
			c.bad = true
		}
		if first {
			c.minS, c.maxS = string(b), string(b)
		} else if string(b) < c.minS {
			c.minS = string(b)
		} else if string(b) > c.maxS {
			c.maxS = string(b)
		}
	}
}

// bounds returns the column's min and max as JSON values, ok=false when they are unknown.
func (c *colStat) bounds() (lo, hi any, ok bool) {
	if !c.seen || c.bad {
		return nil, nil, false
	}
	switch c.kind {
	case statInt:
		return c.minI, c.maxI, true
	case statUint:
		return c.minU, c.maxU, true
	case statFloat:
		if !c.finite {
			return nil, nil, false
		}
		return c.minF, c.maxF, true
	case statString:
		return c.minS, c.maxS, true
	case statDate:
		day := func(d int64) string { return time.Unix(d*86400, 0).UTC().Format("2006-01-02") }
		return day(c.minI), day(c.maxI), true
	case statTimestamp:
		layout := "2006-01-02T15:04:05.000"
		if c.utc {
			layout += "Z07:00"
		}
		lo := time.Unix(0, 0).Add(time.Duration(c.minI) * c.unit).UTC().Truncate(time.Millisecond)
		hi := time.Unix(0, 0).Add(time.Duration(c.maxI) * c.unit).UTC()
		if t := hi.Truncate(time.Millisecond); !t.Equal(hi) {
			hi = t.Add(time.Millisecond)
		}
		return lo.Format(layout), hi.Format(layout), true
	}
	return nil, nil, false
}

// setPath stores v at path in the nested map m.
func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}

// JSON renders the stats as an add's stats string.
func (fs *fileStats) JSON() string {
	minV, maxV, nulls := map[string]any{}, map[string]any{}, map[string]any{}
	for _, c := range fs.cols {
		if c == nil {
			continue
		}
		setPath(nulls, c.path, c.nulls)
		if lo, hi, ok := c.bounds(); ok {
			setPath(minV, c.path, lo)
			setPath(maxV, c.path, hi)
		}
	}
	raw, _ := json.Marshal(map[string]any{"numRecords": fs.n, "minValues": minV, "maxValues": maxV, "nullCount": nulls})
	return string(raw)
}

// pathString joins a leaf path with dots, as stats and options name nested columns.
func pathString(p []string) string { return strings.Join(p, ".") }
