package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/deltaraster/deltaraster/delta"
)

// writeLastCheckpoint points _last_checkpoint at res, unless it already names a newer
// checkpoint. The hint is written last, after every checkpoint file is published: a crash
// before it leaves an older hint, which readers treat as stale and list past. Stores have no
// conditional overwrite, so two checkpointers finishing at once can still leave the hint on
// the older of their checkpoints: that costs readers a longer listing, never a wrong answer.
func writeLastCheckpoint(ctx context.Context, s delta.Store, res Result, schema json.RawMessage) error {
	if b, err := delta.ReadAll(ctx, s, delta.LastCheckpointKey); err == nil {
		if cur, err := delta.ParseLastCheckpoint(b); err == nil && cur.Version > res.Version {
			return nil
		}
	}
	size, adds := res.Actions, res.NumAddFiles
	bytes := res.SizeInBytes
	lc := delta.LastCheckpoint{Version: res.Version, Size: size, SizeInBytes: &bytes, CheckpointSchema: schema}
	if adds >= 0 {
		lc.NumOfAddFiles = &adds
	}
	if res.Format == "v2" {
		top := res.Keys[len(res.Keys)-1]
		v2, err := json.Marshal(map[string]any{"path": top[len(delta.LogDir):]})
		if err != nil {
			return err
		}
		lc.V2Checkpoint = v2
	}
	sum, err := lastCheckpointChecksum(lc)
	if err != nil {
		return err
	}
	lc.Checksum = sum
	b, err := json.Marshal(lc)
	if err != nil {
		return fmt.Errorf("encode _last_checkpoint: %w", err)
	}
	return s.Put(ctx, delta.LastCheckpointKey, b)
}

// schemaJSON renders an Arrow checkpoint schema as a Delta (Spark) struct type, for the
// checkpointSchema field of _last_checkpoint.
func schemaJSON(s *arrow.Schema) json.RawMessage {
	fields := make([]any, 0, s.NumFields())
	for _, f := range s.Fields() {
		fields = append(fields, deltaField(f))
	}
	b, _ := json.Marshal(map[string]any{"type": "struct", "fields": fields})
	return b
}

func deltaField(f arrow.Field) map[string]any {
	return map[string]any{"name": f.Name, "type": deltaType(f.Type), "nullable": f.Nullable, "metadata": map[string]any{}}
}

func deltaType(t arrow.DataType) any {
	switch t := t.(type) {
	case *arrow.StructType:
		fields := make([]any, 0, t.NumFields())
		for _, f := range t.Fields() {
			fields = append(fields, deltaField(f))
		}
		return map[string]any{"type": "struct", "fields": fields}
	case *arrow.MapType:
		return map[string]any{"type": "map", "keyType": deltaType(t.KeyType()), "valueType": deltaType(t.ItemType()), "valueContainsNull": true}
	case *arrow.ListType:
		return map[string]any{"type": "array", "elementType": deltaType(t.Elem()), "containsNull": true}
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return "timestamp_ntz"
		}
		return "timestamp"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	}
	switch t.ID() {
	case arrow.STRING:
		return "string"
	case arrow.INT64:
		return "long"
	case arrow.INT32:
		return "integer"
	case arrow.INT16:
		return "short"
	case arrow.INT8:
		return "byte"
	case arrow.FLOAT64:
		return "double"
	case arrow.FLOAT32:
		return "float"
	case arrow.BOOL:
		return "boolean"
	case arrow.DATE32:
		return "date"
	case arrow.BINARY:
		return "binary"
	}
	return t.Name()
}

// lastCheckpointChecksum is the protocol's checksum of lc (its checksum field left out).
func lastCheckpointChecksum(lc delta.LastCheckpoint) (string, error) {
	lc.Checksum = ""
	b, err := json.Marshal(lc)
	if err != nil {
		return "", fmt.Errorf("encode _last_checkpoint: %w", err)
	}
	return delta.LastCheckpointChecksum(b)
}

// existingClassic describes the classic checkpoint of version v when it already exists: it is
// never rewritten, because a reader that listed it may be reading it. Its row count and size
// come from the Parquet footer, read pinned to the version Stat saw. A checkpoint that is
// there but cannot be read (a transient failure, a cancelled context, a corrupt file) is an
// error naming it, never a reason to write over it.
func existingClassic(ctx context.Context, s delta.Store, v int64, key string) (Result, bool, error) {
	info, err := s.Stat(ctx, key)
	if errors.Is(err, delta.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("existing checkpoint %s of version %d: %w", key, v, err)
	}
	pf, err := file.NewParquetReader(delta.NewReaderAtVersion(ctx, s, info))
	if err != nil {
		return Result{}, false, fmt.Errorf("read the footer of the existing checkpoint %s of version %d (left as it is): %w", key, v, err)
	}
	rows := pf.NumRows()
	pf.Close()
	return Result{Version: v, Format: "classic", Keys: []string{key}, Actions: rows, SizeInBytes: info.Size,
		NumAddFiles: -1, NumTombstones: -1, TableSizeBytes: -1, Existing: true}, true, nil
}
