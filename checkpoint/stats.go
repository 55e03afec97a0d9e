package checkpoint

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/deltaraster/deltaraster/delta"
)

// statsBuilder writes add.stats_parsed and add.partitionValues_parsed, typed by the table
// schema, when delta.checkpoint.writeStatsAsStruct is true. Values that do not parse as their
// column's type are written as null: stats are an optimisation, never a correctness input.
type statsBuilder struct {
	statsType *arrow.StructType // numRecords, minValues, maxValues, nullCount
	partsType *arrow.StructType // nil when the table is not partitioned
	partCols  []string
	partIdx   int // field index of partitionValues_parsed in add, -1 if none
	statsIdx  int
}

// newStatsBuilder derives the struct types from the table schema. Columns whose type has no
// order (binary, boolean, arrays, maps) get no min/max; arrays and maps get no null count.
func newStatsBuilder(schema delta.StructType, partCols []string) (*statsBuilder, error) {
	isPart := map[string]bool{}
	for _, c := range partCols {
		isPart[c] = true
	}
	var minMax, nulls, parts []arrow.Field
	for _, f := range schema.Fields {
		if isPart[f.Name] {
			t, ok, err := arrowType(f.Type, false)
			if err != nil {
				return nil, err
			}
			if ok {
				parts = append(parts, arrow.Field{Name: f.Name, Type: t, Nullable: true})
			}
			continue
		}
		if t, ok, err := arrowType(f.Type, false); err != nil {
			return nil, err
		} else if ok {
			minMax = append(minMax, arrow.Field{Name: f.Name, Type: t, Nullable: true})
		}
		if t, ok, err := arrowType(f.Type, true); err != nil {
			return nil, err
		} else if ok {
			nulls = append(nulls, arrow.Field{Name: f.Name, Type: t, Nullable: true})
		}
	}
	b := &statsBuilder{partCols: partCols}
	fields := []arrow.Field{{Name: "numRecords", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}
	if len(minMax) > 0 {
		fields = append(fields,
			arrow.Field{Name: "minValues", Type: arrow.StructOf(minMax...), Nullable: true},
			arrow.Field{Name: "maxValues", Type: arrow.StructOf(minMax...), Nullable: true})
	}
	if len(nulls) > 0 {
		fields = append(fields, arrow.Field{Name: "nullCount", Type: arrow.StructOf(nulls...), Nullable: true})
	}
	b.statsType = arrow.StructOf(fields...)
	if len(parts) > 0 {
		b.partsType = arrow.StructOf(parts...)
	}
	return b, nil
}

// arrowType maps a Delta type to the Arrow type of its min/max (counts=false) or of its null
// count (counts=true). ok is false for columns that get no entry.
func arrowType(raw json.RawMessage, counts bool) (arrow.DataType, bool, error) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if counts {
			return arrow.PrimitiveTypes.Int64, true, nil
		}
		switch {
		case name == "string":
			return arrow.BinaryTypes.String, true, nil
		case name == "long":
			return arrow.PrimitiveTypes.Int64, true, nil
		case name == "integer":
			return arrow.PrimitiveTypes.Int32, true, nil
		case name == "short":
			return arrow.PrimitiveTypes.Int16, true, nil
		case name == "byte":
			return arrow.PrimitiveTypes.Int8, true, nil
		case name == "double":
			return arrow.PrimitiveTypes.Float64, true, nil
		case name == "float":
			return arrow.PrimitiveTypes.Float32, true, nil
		case name == "date":
			return arrow.FixedWidthTypes.Date32, true, nil
		case name == "timestamp":
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, true, nil
		case name == "timestamp_ntz":
			return &arrow.TimestampType{Unit: arrow.Microsecond}, true, nil
		case strings.HasPrefix(name, "decimal("):
			var p, s int32
			if _, err := fmt.Sscanf(name, "decimal(%d,%d)", &p, &s); err != nil {
				return nil, false, fmt.Errorf("schema type %q: %w", name, err)
			}
			return &arrow.Decimal128Type{Precision: p, Scale: s}, true, nil
		}
		return nil, false, nil // binary, boolean, unknown: no min/max
	}
	var nested struct {
		Type   string              `json:"type"`
		Fields []delta.StructField `json:"fields"`
	}
	if err := json.Unmarshal(raw, &nested); err != nil {
		return nil, false, fmt.Errorf("schema type %s: %w", raw, err)
	}
	if nested.Type != "struct" {
		return nil, false, nil // array, map
	}
	var fields []arrow.Field
	for _, f := range nested.Fields {
		t, ok, err := arrowType(f.Type, counts)
		if err != nil {
			return nil, false, err
		}
		if ok {
			fields = append(fields, arrow.Field{Name: f.Name, Type: t, Nullable: true})
		}
	}
	if len(fields) == 0 {
		return nil, false, nil
	}
	return arrow.StructOf(fields...), true, nil
}

// append writes the parsed columns of add a into the add struct builder.
func (b *statsBuilder) append(add *array.StructBuilder, a *delta.Add) {
	if b.partIdx >= 0 {
		pb := add.FieldBuilder(b.partIdx).(*array.StructBuilder)
		pb.Append(true)
		for i, f := range b.partsType.Fields() {
			v, ok := a.PartitionValues.Get(f.Name)
			if !ok {
				pb.FieldBuilder(i).AppendNull()
				continue
			}
			appendValue(pb.FieldBuilder(i), v)
		}
	}
	sb := add.FieldBuilder(b.statsIdx).(*array.StructBuilder)
	st, err := delta.ParseStats(a.Stats)
	if a.Stats == "" || err != nil {
		sb.AppendNull()
		return
	}
	sb.Append(true)
	for i, f := range b.statsType.Fields() {
		fb := sb.FieldBuilder(i)
		switch f.Name {
		case "numRecords":
			if st.NumRecords != nil {
				fb.(*array.Int64Builder).Append(*st.NumRecords)
			} else {
				fb.AppendNull()
			}
		case "minValues":
			appendValue(fb, st.MinValues)
		case "maxValues":
			appendValue(fb, st.MaxValues)
		case "nullCount":
			appendValue(fb, st.NullCount)
		}
	}
}

// appendValue appends a JSON-decoded value (json.Number, string, bool, map) to a builder of
// the column's type, or null when it is missing or does not parse.
func appendValue(bld array.Builder, v any) {
	if v == nil {
		bld.AppendNull()
		return
	}
	ok := true
	switch b := bld.(type) {
	case *array.StructBuilder:
		m, isMap := v.(map[string]any)
		if !isMap {
			ok = false
			break
		}
		b.Append(true)
		st := b.Type().(*arrow.StructType)
		for i, f := range st.Fields() {
			appendValue(b.FieldBuilder(i), m[f.Name])
		}
	case *array.StringBuilder:
		s, isStr := v.(string)
		if ok = isStr; ok {
			b.Append(s)
		}
	case *array.Int64Builder:
		n, err := asInt(v, 64)
		if ok = err == nil; ok {
			b.Append(n)
		}
	case *array.Int32Builder:
		n, err := asInt(v, 32)
		if ok = err == nil; ok {
			b.Append(int32(n))
		}
	case *array.Int16Builder:
		n, err := asInt(v, 16)
		if ok = err == nil; ok {
			b.Append(int16(n))
		}
	case *array.Int8Builder:
		n, err := asInt(v, 8)
		if ok = err == nil; ok {
			b.Append(int8(n))
		}
	case *array.Float64Builder:
		f, err := asFloat(v, 64)
		if ok = err == nil; ok {
			b.Append(f)
		}
	case *array.Float32Builder:
		f, err := asFloat(v, 32)
		if ok = err == nil; ok {
			b.Append(float32(f))
		}
	case *array.Date32Builder:
		s, _ := v.(string)
		t, err := time.Parse("2006-01-02", s)
		if ok = err == nil; ok {
			b.Append(arrow.Date32FromTime(t))
		}
	case *array.TimestampBuilder:
		t, err := parseTimestamp(v)
		if ok = err == nil; ok {
			b.Append(arrow.Timestamp(t.UnixMicro()))
		}
	case *array.Decimal128Builder:
		typ := b.Type().(*arrow.Decimal128Type)
		d, err := decimal128.FromString(fmt.Sprint(v), typ.Precision, typ.Scale)
		if ok = err == nil; ok {
			b.Append(d)
		}
	default:
		ok = false
	}
	if !ok {
		bld.AppendNull()
	}
}

func asInt(v any, bits int) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseInt(string(x), 10, bits)
	case string: // partition values are strings
		return strconv.ParseInt(x, 10, bits)
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func asFloat(v any, bits int) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseFloat(string(x), bits)
	case string:
		return strconv.ParseFloat(x, bits)
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func parseTimestamp(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("not a timestamp: %v", v)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", s)
}
