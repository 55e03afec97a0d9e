package delta

import (
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// structCol reads named children of an Arrow struct column, whatever subset of them a checkpoint
// file holds. Missing children read as null.
type structCol struct {
	arr      *array.Struct
	children map[string]arrow.Array
}

func newStructCol(a arrow.Array) (structCol, bool) {
	st, ok := a.(*array.Struct)
	if !ok {
		return structCol{}, false
	}
	typ := st.DataType().(*arrow.StructType)
	children := make(map[string]arrow.Array, st.NumField())
	for i := 0; i < st.NumField(); i++ {
		children[typ.Field(i).Name] = st.Field(i)
	}
	return structCol{arr: st, children: children}, true
}

func (c structCol) valid(i int) bool { return c.arr != nil && c.arr.IsValid(i) }

func (c structCol) sub(name string) structCol {
	s, _ := newStructCol(c.children[name])
	return s
}

func (c structCol) str(name string, i int) (string, bool) {
	return arrowString(c.children[name], i)
}

func arrowString(a arrow.Array, i int) (string, bool) {
	if a == nil || a.IsNull(i) {
		return "", false
	}
	switch v := a.(type) {
	case *array.String:
		return v.Value(i), true
	case *array.LargeString:
		return v.Value(i), true
	case *array.StringView:
		return v.Value(i), true
	case *array.Binary:
		return string(v.Value(i)), true
	case *array.LargeBinary:
		return string(v.Value(i)), true
	}
	return "", false
}

func (c structCol) int(name string, i int) (int64, bool) { return arrowInt(c.children[name], i) }

func arrowInt(a arrow.Array, i int) (int64, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	switch v := a.(type) {
	case *array.Int64:
		return v.Value(i), true
	case *array.Int32:
		return int64(v.Value(i)), true
	case *array.Int16:
		return int64(v.Value(i)), true
	case *array.Int8:
		return int64(v.Value(i)), true
	case *array.Uint32:
		return int64(v.Value(i)), true
	}
	return 0, false
}

func (c structCol) intPtr(name string, i int) *int64 { return intPtrAt(c.children[name], i) }

func intPtrAt(a arrow.Array, i int) *int64 {
	v, ok := arrowInt(a, i)
	if !ok {
		return nil
	}
	return &v
}

func (c structCol) bool(name string, i int) (bool, bool) { return arrowBool(c.children[name], i) }

func arrowBool(a arrow.Array, i int) (bool, bool) {
	if a == nil || a.IsNull(i) {
		return false, false
	}
	if v, ok := a.(*array.Boolean); ok {
		return v.Value(i), true
	}
	return false, false
}

// strMapAt reads a map<string,string>; null values stay nil pointers.
func strMapAt(a arrow.Array, i int) map[string]*string {
	m, ok := a.(*array.Map)
	if !ok || m.IsNull(i) {
		return nil
	}
	start, end := m.ValueOffsets(i)
	keys, items := m.Keys(), m.Items()
	out := make(map[string]*string, end-start)
	for j := int(start); j < int(end); j++ {
		k, _ := arrowString(keys, j)
		if v, ok := arrowString(items, j); ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

func (c structCol) tags(name string, i int) map[string]string { return tagsAt(c.children[name], i) }

// tagsAt reads a map<string,string> without its null values.
func tagsAt(a arrow.Array, i int) map[string]string {
	m := strMapAt(a, i)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func (c structCol) strList(name string, i int) []string {
	l, ok := c.children[name].(*array.List)
	if !ok || l.IsNull(i) {
		return nil
	}
	start, end := l.ValueOffsets(i)
	vals := l.ListValues()
	out := make([]string, 0, end-start)
	for j := int(start); j < int(end); j++ {
		if s, ok := arrowString(vals, j); ok {
			out = append(out, s)
		}
	}
	return out
}

// statsFromStruct renders a stats_parsed struct as the JSON stats string, for checkpoints
// written with structured stats only (writeStatsAsJson=false).
func statsFromStruct(a arrow.Array, i int) string {
	st, ok := a.(*array.Struct)
	if !ok || st.IsNull(i) {
		return ""
	}
	b, err := json.Marshal(st.GetOneForMarshal(i))
	if err != nil {
		return ""
	}
	return string(b)
}

// dvAt is the deletion vector of row i of a deletionVector column, or nil.
func dvAt(c structCol, i int) *DeletionVector {
	if !c.valid(i) {
		return nil
	}
	st, ok := c.str("storageType", i)
	if !ok {
		return nil
	}
	p, _ := c.str("pathOrInlineDv", i)
	size, _ := c.int("sizeInBytes", i)
	card, _ := c.int("cardinality", i)
	d := &DeletionVector{StorageType: st, PathOrInlineDv: p, SizeInBytes: int32(size), Cardinality: card}
	if off, ok := c.int("offset", i); ok {
		o := int32(off)
		d.Offset = &o
	}
	return d
}

// fileCols are the children of an add or remove column, looked up once per record batch: the
// rows of these columns are most of a checkpoint.
type fileCols struct {
	structCol
	path, partitionValues, size, modificationTime, dataChange, tags, stats, statsParsed arrow.Array
	baseRowID, defaultRowCommitVersion, clusteringProvider, deletionTimestamp, extended arrow.Array
	dv                                                                                  structCol
}

func newFileCols(c structCol) fileCols {
	return fileCols{structCol: c, path: c.children["path"], partitionValues: c.children["partitionValues"],
		size: c.children["size"], modificationTime: c.children["modificationTime"],
		dataChange: c.children["dataChange"], tags: c.children["tags"], stats: c.children["stats"],
		statsParsed: c.children["stats_parsed"], baseRowID: c.children["baseRowId"],
		defaultRowCommitVersion: c.children["defaultRowCommitVersion"],
		clusteringProvider:      c.children["clusteringProvider"],
		deletionTimestamp:       c.children["deletionTimestamp"],
		extended:                c.children["extendedFileMetadata"], dv: c.sub("deletionVector")}
}

// recordCols are the top-level action columns of a checkpoint record batch; a column the file
// does not have (or that was not read) has a nil arr.
type recordCols struct {
	add, remove                                              fileCols
	metaData, protocol, txn, domain, sidecar, checkpointMeta structCol
}

// others reports whether any column besides add and remove is present.
func (r *recordCols) others() bool {
	for _, c := range []structCol{r.metaData, r.protocol, r.txn, r.domain, r.sidecar, r.checkpointMeta} {
		if c.arr != nil {
			return true
		}
	}
	return false
}

func (f *fileCols) add(i int) *Add {
	p, ok := arrowString(f.path, i)
	if !ok {
		return nil
	}
	a := &Add{Path: p, PartitionValues: strMapAt(f.partitionValues, i), Tags: tagsAt(f.tags, i),
		DeletionVector: dvAt(f.dv, i), BaseRowID: intPtrAt(f.baseRowID, i),
		DefaultRowCommitVersion: intPtrAt(f.defaultRowCommitVersion, i)}
	a.Size, _ = arrowInt(f.size, i)
	a.ModificationTime, _ = arrowInt(f.modificationTime, i)
	a.DataChange, _ = arrowBool(f.dataChange, i)
	a.Stats, _ = arrowString(f.stats, i)
	if a.Stats == "" {
		a.Stats = statsFromStruct(f.statsParsed, i)
	}
	a.ClusteringProvider, _ = arrowString(f.clusteringProvider, i)
	return a
}

func (f *fileCols) remove(i int) *Remove {
	p, ok := arrowString(f.path, i)
	if !ok {
		return nil
	}
	r := &Remove{Path: p, DeletionTimestamp: intPtrAt(f.deletionTimestamp, i),
		PartitionValues: strMapAt(f.partitionValues, i), Size: intPtrAt(f.size, i),
		Tags: tagsAt(f.tags, i), DeletionVector: dvAt(f.dv, i),
		BaseRowID: intPtrAt(f.baseRowID, i), DefaultRowCommitVersion: intPtrAt(f.defaultRowCommitVersion, i)}
	r.DataChange, _ = arrowBool(f.dataChange, i)
	r.Stats, _ = arrowString(f.stats, i)
	if v, ok := arrowBool(f.extended, i); ok {
		r.ExtendedFileMetadata = &v
	}
	return r
}

// decodeRow turns row i of a checkpoint record into the actions it holds (usually one).
func decodeRow(cols *recordCols, i int, fn func(Action) error) error {
	if cols.add.valid(i) {
		if a := cols.add.add(i); a != nil {
			if err := fn(Action{Add: a}); err != nil {
				return err
			}
		}
	}
	if cols.remove.valid(i) {
		if r := cols.remove.remove(i); r != nil {
			if err := fn(Action{Remove: r}); err != nil {
				return err
			}
		}
	}
	if c := cols.metaData; c.valid(i) {
		if id, ok := c.str("id", i); ok {
			m := &Metadata{ID: id, PartitionColumns: c.strList("partitionColumns", i),
				Configuration: c.tags("configuration", i), CreatedTime: c.intPtr("createdTime", i)}
			m.Name, _ = c.str("name", i)
			m.Description, _ = c.str("description", i)
			m.SchemaString, _ = c.str("schemaString", i)
			f := c.sub("format")
			m.Format.Provider, _ = f.str("provider", i)
			m.Format.Options = f.tags("options", i)
			if m.PartitionColumns == nil {
				m.PartitionColumns = []string{}
			}
			if err := fn(Action{Metadata: m}); err != nil {
				return err
			}
		}
	}
	if c := cols.protocol; c.valid(i) {
		r, ok1 := c.int("minReaderVersion", i)
		w, ok2 := c.int("minWriterVersion", i)
		if ok1 && ok2 {
			p := &Protocol{MinReaderVersion: int(r), MinWriterVersion: int(w),
				ReaderFeatures: c.strList("readerFeatures", i), WriterFeatures: c.strList("writerFeatures", i)}
			if err := fn(Action{Protocol: p}); err != nil {
				return err
			}
		}
	}
	if c := cols.txn; c.valid(i) {
		if id, ok := c.str("appId", i); ok {
			t := &SetTransaction{AppID: id, LastUpdated: c.intPtr("lastUpdated", i)}
			t.Version, _ = c.int("version", i)
			if err := fn(Action{Txn: t}); err != nil {
				return err
			}
		}
	}
	if c := cols.domain; c.valid(i) {
		if d, ok := c.str("domain", i); ok {
			dm := &DomainMetadata{Domain: d}
			dm.Configuration, _ = c.str("configuration", i)
			dm.Removed, _ = c.bool("removed", i)
			if err := fn(Action{DomainMetadata: dm}); err != nil {
				return err
			}
		}
	}
	if c := cols.sidecar; c.valid(i) {
		if p, ok := c.str("path", i); ok {
			s := &Sidecar{Path: p, Tags: c.tags("tags", i)}
			s.SizeInBytes, _ = c.int("sizeInBytes", i)
			s.ModificationTime, _ = c.int("modificationTime", i)
			if err := fn(Action{Sidecar: s}); err != nil {
				return err
			}
		}
	}
	if c := cols.checkpointMeta; c.valid(i) {
		if v, ok := c.int("version", i); ok {
			if err := fn(Action{CheckpointMetadata: &CheckpointMetadata{Version: v, Tags: c.tags("tags", i)}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordColumns resolves a record's top-level action columns; other columns are ignored.
func recordColumns(rec arrow.RecordBatch) (*recordCols, error) {
	cols := &recordCols{}
	others := map[string]*structCol{"metaData": &cols.metaData, "protocol": &cols.protocol, "txn": &cols.txn,
		"domainMetadata": &cols.domain, "sidecar": &cols.sidecar, "checkpointMetadata": &cols.checkpointMeta}
	for i, f := range rec.Schema().Fields() {
		dst, isOther := others[f.Name]
		if !isOther && f.Name != "add" && f.Name != "remove" {
			continue
		}
		c, ok := newStructCol(rec.Column(i))
		if !ok {
			return nil, fmt.Errorf("column %q is %s, want a struct", f.Name, f.Type)
		}
		switch {
		case isOther:
			*dst = c
		case f.Name == "add":
			cols.add = newFileCols(c)
		default:
			cols.remove = newFileCols(c)
		}
	}
	return cols, nil
}
