package checkpoint

import (
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/deltaraster/deltaraster/delta"
)

// The checkpoint schema, with the column names, types and nesting Spark writes.
var (
	strMap = arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)
	strArr = arrow.ListOf(arrow.BinaryTypes.String)

	dvType = arrow.StructOf(
		arrow.Field{Name: "storageType", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "pathOrInlineDv", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "offset", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "cardinality", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	)
	txnType = arrow.StructOf(
		arrow.Field{Name: "appId", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "lastUpdated", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	)
	removeType = arrow.StructOf(
		arrow.Field{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "deletionTimestamp", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "dataChange", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		arrow.Field{Name: "extendedFileMetadata", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		arrow.Field{Name: "partitionValues", Type: strMap, Nullable: true},
		arrow.Field{Name: "size", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "tags", Type: strMap, Nullable: true},
		arrow.Field{Name: "deletionVector", Type: dvType, Nullable: true},
		arrow.Field{Name: "baseRowId", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "defaultRowCommitVersion", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	)
	metadataType = arrow.StructOf(
		arrow.Field{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "description", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "format", Type: arrow.StructOf(
			arrow.Field{Name: "provider", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "options", Type: strMap, Nullable: true},
		), Nullable: true},
		arrow.Field{Name: "schemaString", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "partitionColumns", Type: strArr, Nullable: true},
		arrow.Field{Name: "configuration", Type: strMap, Nullable: true},
		arrow.Field{Name: "createdTime", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	)
	protocolType = arrow.StructOf(
		arrow.Field{Name: "minReaderVersion", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "minWriterVersion", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "readerFeatures", Type: strArr, Nullable: true},
		arrow.Field{Name: "writerFeatures", Type: strArr, Nullable: true},
	)
	domainType = arrow.StructOf(
		arrow.Field{Name: "domain", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "configuration", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "removed", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	)
	checkpointMetadataType = arrow.StructOf(
		arrow.Field{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "tags", Type: strMap, Nullable: true},
	)
	sidecarType = arrow.StructOf(
		arrow.Field{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "modificationTime", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "tags", Type: strMap, Nullable: true},
	)
)

// addType is the add column; statsParsed, when not nil, is the stats_parsed struct and
// partsParsed the partitionValues_parsed struct.
func addType(statsParsed, partsParsed *arrow.StructType) *arrow.StructType {
	fields := []arrow.Field{
		{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "partitionValues", Type: strMap, Nullable: true},
		{Name: "size", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "modificationTime", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "dataChange", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "tags", Type: strMap, Nullable: true},
		{Name: "deletionVector", Type: dvType, Nullable: true},
		{Name: "baseRowId", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "defaultRowCommitVersion", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "clusteringProvider", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "stats", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	if partsParsed != nil {
		fields = append(fields, arrow.Field{Name: "partitionValues_parsed", Type: partsParsed, Nullable: true})
	}
	if statsParsed != nil {
		fields = append(fields, arrow.Field{Name: "stats_parsed", Type: statsParsed, Nullable: true})
	}
	return arrow.StructOf(fields...)
}

// kind of checkpoint file: which columns it has.
type fileKind int

const (
	classicFile fileKind = iota // every action column (V1)
	v2TopFile                   // V2 top level: no add/remove, plus checkpointMetadata and sidecar
	sidecarFile                 // V2 sidecar: add and remove only
)

func schemaFor(kind fileKind, add *arrow.StructType) *arrow.Schema {
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	switch kind {
	case sidecarFile:
		return arrow.NewSchema([]arrow.Field{f("add", add), f("remove", removeType)}, nil)
	case v2TopFile:
		return arrow.NewSchema([]arrow.Field{
			f("txn", txnType), f("metaData", metadataType), f("protocol", protocolType),
			f("domainMetadata", domainType), f("checkpointMetadata", checkpointMetadataType),
			f("sidecar", sidecarType),
		}, nil)
	}
	return arrow.NewSchema([]arrow.Field{
		f("txn", txnType), f("add", add), f("remove", removeType), f("metaData", metadataType),
		f("protocol", protocolType), f("domainMetadata", domainType),
	}, nil)
}

// rowBuilder appends actions, one a row, to a record builder of one of the schemas above.
type rowBuilder struct {
	rb      *array.RecordBuilder
	cols    map[string]*array.StructBuilder
	stats   *statsBuilder // nil unless stats_parsed is written
	pending int
}

func newRowBuilder(rb *array.RecordBuilder, stats *statsBuilder) *rowBuilder {
	b := &rowBuilder{rb: rb, cols: map[string]*array.StructBuilder{}, stats: stats}
	for i, f := range rb.Schema().Fields() {
		b.cols[f.Name] = rb.Field(i).(*array.StructBuilder)
	}
	return b
}

func (b *rowBuilder) append(a delta.Action) {
	b.pending++
	for name, sb := range b.cols {
		var ok bool
		switch name {
		case "add":
			ok = a.Add != nil
			if ok {
				b.appendAdd(sb, a.Add)
			}
		case "remove":
			ok = a.Remove != nil
			if ok {
				appendRemove(sb, a.Remove)
			}
		case "txn":
			ok = a.Txn != nil
			if ok {
				sb.Append(true)
				str(sb, 0, a.Txn.AppID)
				i64(sb, 1, a.Txn.Version)
				i64p(sb, 2, a.Txn.LastUpdated)
			}
		case "metaData":
			ok = a.Metadata != nil
			if ok {
				appendMetadata(sb, a.Metadata)
			}
		case "protocol":
			ok = a.Protocol != nil
			if ok {
				sb.Append(true)
				sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(a.Protocol.MinReaderVersion))
				sb.FieldBuilder(1).(*array.Int32Builder).Append(int32(a.Protocol.MinWriterVersion))
				features(sb, 2, a.Protocol.ReaderFeatures, a.Protocol.MinReaderVersion >= 3)
				features(sb, 3, a.Protocol.WriterFeatures, a.Protocol.MinWriterVersion >= 7)
			}
		case "domainMetadata":
			ok = a.DomainMetadata != nil
			if ok {
				sb.Append(true)
				str(sb, 0, a.DomainMetadata.Domain)
				str(sb, 1, a.DomainMetadata.Configuration)
				sb.FieldBuilder(2).(*array.BooleanBuilder).Append(a.DomainMetadata.Removed)
			}
		case "checkpointMetadata":
			ok = a.CheckpointMetadata != nil
			if ok {
				sb.Append(true)
				i64(sb, 0, a.CheckpointMetadata.Version)
				strMapAt(sb, 1, tagsPV(a.CheckpointMetadata.Tags), false)
			}
		case "sidecar":
			ok = a.Sidecar != nil
			if ok {
				sb.Append(true)
				str(sb, 0, a.Sidecar.Path)
				i64(sb, 1, a.Sidecar.SizeInBytes)
				i64(sb, 2, a.Sidecar.ModificationTime)
				strMapAt(sb, 3, tagsPV(a.Sidecar.Tags), false)
			}
		}
		if !ok {
			sb.AppendNull()
		}
	}
}

func (b *rowBuilder) appendAdd(sb *array.StructBuilder, a *delta.Add) {
	sb.Append(true)
	str(sb, 0, a.Path)
	strMapAt(sb, 1, a.PartitionValues, true)
	i64(sb, 2, a.Size)
	i64(sb, 3, a.ModificationTime)
	sb.FieldBuilder(4).(*array.BooleanBuilder).Append(a.DataChange)
	strMapAt(sb, 5, tagsPV(a.Tags), false)
	appendDV(sb.FieldBuilder(6).(*array.StructBuilder), a.DeletionVector)
	i64p(sb, 7, a.BaseRowID)
	i64p(sb, 8, a.DefaultRowCommitVersion)
	strOpt(sb, 9, a.ClusteringProvider)
	strOpt(sb, 10, a.Stats)
	if b.stats != nil {
		b.stats.append(sb, a)
	}
}

func appendRemove(sb *array.StructBuilder, r *delta.Remove) {
	sb.Append(true)
	str(sb, 0, r.Path)
	i64p(sb, 1, r.DeletionTimestamp)
	sb.FieldBuilder(2).(*array.BooleanBuilder).Append(r.DataChange)
	if r.ExtendedFileMetadata != nil {
		sb.FieldBuilder(3).(*array.BooleanBuilder).Append(*r.ExtendedFileMetadata)
	} else {
		sb.FieldBuilder(3).AppendNull()
	}
	strMapAt(sb, 4, r.PartitionValues, false)
	i64p(sb, 5, r.Size)
	strMapAt(sb, 6, tagsPV(r.Tags), false)
	appendDV(sb.FieldBuilder(7).(*array.StructBuilder), r.DeletionVector)
	i64p(sb, 8, r.BaseRowID)
	i64p(sb, 9, r.DefaultRowCommitVersion)
}

func appendMetadata(sb *array.StructBuilder, m *delta.Metadata) {
	sb.Append(true)
	str(sb, 0, m.ID)
	strOpt(sb, 1, m.Name)
	strOpt(sb, 2, m.Description)
	fb := sb.FieldBuilder(3).(*array.StructBuilder)
	fb.Append(true)
	str(fb, 0, m.Format.Provider)
	strMapAt(fb, 1, tagsPV(m.Format.Options), true)
	str(sb, 4, m.SchemaString)
	features(sb, 5, m.PartitionColumns, true)
	strMapAt(sb, 6, tagsPV(m.Configuration), true)
	i64p(sb, 7, m.CreatedTime)
}

func appendDV(sb *array.StructBuilder, dv *delta.DeletionVector) {
	if dv == nil {
		sb.AppendNull()
		return
	}
	sb.Append(true)
	str(sb, 0, dv.StorageType)
	str(sb, 1, dv.PathOrInlineDv)
	if dv.Offset != nil {
		sb.FieldBuilder(2).(*array.Int32Builder).Append(*dv.Offset)
	} else {
		sb.FieldBuilder(2).AppendNull()
	}
	sb.FieldBuilder(3).(*array.Int32Builder).Append(dv.SizeInBytes)
	sb.FieldBuilder(4).(*array.Int64Builder).Append(dv.Cardinality)
}

func str(sb *array.StructBuilder, i int, s string) {
	sb.FieldBuilder(i).(*array.StringBuilder).Append(s)
}

func strOpt(sb *array.StructBuilder, i int, s string) {
	if s == "" {
		sb.FieldBuilder(i).AppendNull()
		return
	}
	str(sb, i, s)
}

func i64(sb *array.StructBuilder, i int, v int64) {
	sb.FieldBuilder(i).(*array.Int64Builder).Append(v)
}

func i64p(sb *array.StructBuilder, i int, v *int64) {
	if v == nil {
		sb.FieldBuilder(i).AppendNull()
		return
	}
	i64(sb, i, *v)
}

// features writes a string list; an absent list is null unless required.
func features(sb *array.StructBuilder, i int, l []string, required bool) {
	lb := sb.FieldBuilder(i).(*array.ListBuilder)
	if l == nil && !required {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for _, s := range l {
		vb.Append(s)
	}
}

func tagsPV(m map[string]string) delta.PartitionValues {
	if m == nil {
		return nil
	}
	out := make(delta.PartitionValues, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// strMapAt writes a map<string,string> in key order; nil values become nulls. An absent map is
// null unless required (then empty).
func strMapAt(sb *array.StructBuilder, i int, m delta.PartitionValues, required bool) {
	mb := sb.FieldBuilder(i).(*array.MapBuilder)
	if m == nil && !required {
		mb.AppendNull()
		return
	}
	mb.Append(true)
	kb := mb.KeyBuilder().(*array.StringBuilder)
	ib := mb.ItemBuilder().(*array.StringBuilder)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kb.Append(k)
		if v := m[k]; v != nil {
			ib.Append(*v)
		} else {
			ib.AppendNull()
		}
	}
}
