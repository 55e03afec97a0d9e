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

func (c structCol) int(name string, i int) (int64, bool) {
	a := c.children[name]
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

func (c structCol) intPtr(name string, i int) *int64 {
	v, ok := c.int(name, i)
	if !ok {
		return nil
	}
	return &v
}

func (c structCol) bool(name string, i int) (bool, bool) {
	a := c.children[name]
	if a == nil || a.IsNull(i) {
		return false, false
	}
	if v, ok := a.(*array.Boolean); ok {
		return v.Value(i), true
	}
	return false, false
}

// strMap reads a map<string,string>; null values stay nil pointers.
func (c structCol) strMap(name string, i int) map[string]*string {
	m, ok := c.children[name].(*array.Map)
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

func (c structCol) tags(name string, i int) map[string]string {
	m := c.strMap(name, i)
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
func (c structCol) statsFromStruct(name string, i int) string {
	st, ok := c.children[name].(*array.Struct)
	if !ok || st.IsNull(i) {
		return ""
	}
	b, err := json.Marshal(st.GetOneForMarshal(i))
	if err != nil {
		return ""
	}
	return string(b)
}

func (c structCol) deletionVector(name string, i int) *DeletionVector {
	return dvAt(c.sub(name), i)
}

// decodeRow turns row i of a checkpoint record into the actions it holds (usually one).
// cols maps top-level column names to their struct columns.
func decodeRow(cols map[string]structCol, i int, fn func(Action) error) error {
	if c, ok := cols["add"]; ok && c.valid(i) {
		if p, ok := c.str("path", i); ok {
			a := &Add{Path: p, PartitionValues: c.strMap("partitionValues", i), Tags: c.tags("tags", i),
				DeletionVector: c.deletionVector("deletionVector", i), BaseRowID: c.intPtr("baseRowId", i),
				DefaultRowCommitVersion: c.intPtr("defaultRowCommitVersion", i)}
			a.Size, _ = c.int("size", i)
			a.ModificationTime, _ = c.int("modificationTime", i)
			a.DataChange, _ = c.bool("dataChange", i)
			a.Stats, _ = c.str("stats", i)
			if a.Stats == "" {
				a.Stats = c.statsFromStruct("stats_parsed", i)
			}
			a.ClusteringProvider, _ = c.str("clusteringProvider", i)
			if err := fn(Action{Add: a}); err != nil {
				return err
			}
		}
	}
	if c, ok := cols["remove"]; ok && c.valid(i) {
		if p, ok := c.str("path", i); ok {
			r := &Remove{Path: p, DeletionTimestamp: c.intPtr("deletionTimestamp", i),
				PartitionValues: c.strMap("partitionValues", i), Size: c.intPtr("size", i),
				Tags: c.tags("tags", i), DeletionVector: c.deletionVector("deletionVector", i),
				BaseRowID: c.intPtr("baseRowId", i), DefaultRowCommitVersion: c.intPtr("defaultRowCommitVersion", i)}
			r.DataChange, _ = c.bool("dataChange", i)
			r.Stats, _ = c.str("stats", i)
			if v, ok := c.bool("extendedFileMetadata", i); ok {
				r.ExtendedFileMetadata = &v
			}
			if err := fn(Action{Remove: r}); err != nil {
				return err
			}
		}
	}
	if c, ok := cols["metaData"]; ok && c.valid(i) {
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
	if c, ok := cols["protocol"]; ok && c.valid(i) {
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
	if c, ok := cols["txn"]; ok && c.valid(i) {
		if id, ok := c.str("appId", i); ok {
			t := &SetTransaction{AppID: id, LastUpdated: c.intPtr("lastUpdated", i)}
			t.Version, _ = c.int("version", i)
			if err := fn(Action{Txn: t}); err != nil {
				return err
			}
		}
	}
	if c, ok := cols["domainMetadata"]; ok && c.valid(i) {
		if d, ok := c.str("domain", i); ok {
			dm := &DomainMetadata{Domain: d}
			dm.Configuration, _ = c.str("configuration", i)
			dm.Removed, _ = c.bool("removed", i)
			if err := fn(Action{DomainMetadata: dm}); err != nil {
				return err
			}
		}
	}
	if c, ok := cols["sidecar"]; ok && c.valid(i) {
		if p, ok := c.str("path", i); ok {
			s := &Sidecar{Path: p, Tags: c.tags("tags", i)}
			s.SizeInBytes, _ = c.int("sizeInBytes", i)
			s.ModificationTime, _ = c.int("modificationTime", i)
			if err := fn(Action{Sidecar: s}); err != nil {
				return err
			}
		}
	}
	if c, ok := cols["checkpointMetadata"]; ok && c.valid(i) {
		if v, ok := c.int("version", i); ok {
			if err := fn(Action{CheckpointMetadata: &CheckpointMetadata{Version: v, Tags: c.tags("tags", i)}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordColumns maps a record's top-level struct columns by name.
func recordColumns(rec arrow.RecordBatch) (map[string]structCol, error) {
	cols := make(map[string]structCol, rec.NumCols())
	for i, f := range rec.Schema().Fields() {
		c, ok := newStructCol(rec.Column(i))
		if !ok {
			return nil, fmt.Errorf("column %q is %s, want a struct", f.Name, f.Type)
		}
		cols[f.Name] = c
	}
	return cols, nil
}
