package delta_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// TestMissingSchemaString: a metaData without schemaString (or with null) is an empty schema,
// as Spark reads it. The table opens, its schema has no columns and is valid JSON (what
// deltactl info prints), a commit on top works, and the action read back from the log is
// written again without a schemaString.
func TestMissingSchemaString(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ name, field string }{
		{"missing", ``},
		{"null", `"schemaString":null,`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logDir := filepath.Join(dir, "_delta_log")
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				t.Fatal(err)
			}
			md := `{"metaData":{"id":"a1b2","format":{"provider":"parquet","options":{}},` + tt.field +
				`"partitionColumns":[],"configuration":{},"createdTime":1700000000000}}`
			commit := `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n" + md + "\n"
			if err := os.WriteFile(filepath.Join(logDir, "00000000000000000000.json"), []byte(commit), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := delta.OpenStore(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			snap, err := delta.Open(ctx, st)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			m := snap.Metadata()
			if !json.Valid([]byte(m.SchemaString)) {
				t.Errorf("snapshot schemaString %q is not JSON", m.SchemaString)
			}
			schema, err := m.Schema()
			if err != nil {
				t.Fatalf("schema: %v", err)
			}
			if len(schema.Fields) != 0 {
				t.Errorf("schema has %d columns, want 0", len(schema.Fields))
			}
			// The raw action keeps no schemaString when written back.
			var raw []byte
			err = delta.ReadCommitActions(ctx, st, 0, func(a delta.Action) error {
				if a.Metadata != nil {
					if a.Metadata.SchemaString != "" {
						t.Errorf("decoded action schemaString %q, want none", a.Metadata.SchemaString)
					}
					if _, err := a.Metadata.Schema(); err != nil {
						t.Errorf("schema of the decoded action: %v", err)
					}
					raw, err = delta.MarshalAction(a)
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if raw == nil || strings.Contains(string(raw), "schemaString") {
				t.Errorf("metaData written back as %s, want it without schemaString", raw)
			}
			// A writer can commit on top.
			txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
			if err != nil {
				t.Fatalf("begin: %v", err)
			}
			if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
				t.Fatalf("commit: %v", err)
			}
		})
	}
}
