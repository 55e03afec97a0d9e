package delta

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// TableSpec describes a new table.
type TableSpec struct {
	Name             string
	Description      string
	Schema           StructType
	PartitionColumns []string
	Configuration    map[string]string
	// Protocol defaults to reader 1 / writer 2.
	Protocol *Protocol
}

// CreateTable writes version 0 of a new table: protocol, metadata and a CREATE TABLE
// commitInfo. It fails with ErrTableExists when the URL already holds a Delta log, including
// when another writer creates it first. An error matching ErrAfterCommit means the table was
// created and only the work after the commit failed (a retry would get ErrTableExists).
func CreateTable(ctx context.Context, s Store, spec TableSpec, opts TxnOptions) (*Snapshot, error) {
	t, err := BeginCreate(ctx, s, spec, opts)
	if err != nil {
		return nil, err
	}
	v, err := t.Commit(ctx, "CREATE TABLE", map[string]any{
		"partitionBy": t.metadata.PartitionColumns, "description": spec.Description,
		"properties": t.metadata.Configuration, "isManaged": "false",
	})
	if err != nil {
		if v >= 0 {
			// The table exists; only the post-commit work failed. Say so: a retry would get
			// ErrTableExists.
			return nil, errwrap.URL("create table", s.URL(), err)
		}
		return nil, err
	}
	snap, err := Open(ctx, s, AtVersion(0))
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", s.URL(), &AfterCommitError{Version: 0, Err: fmt.Errorf("reading it back: %w", err)})
	}
	return snap, nil
}

// BeginCreate starts the transaction that creates a table: its commit is version 0 and holds
// the protocol, the metadata and whatever the transaction adds (data files, app
// transactions), so a table can be created with its first data in one commit. Commit fails
// with ErrTableExists when the URL already holds a Delta log or another writer creates the
// table first; it never retries at another version.
func BeginCreate(ctx context.Context, s Store, spec TableSpec, opts TxnOptions) (*Txn, error) {
	opts.fill()
	for o, err := range s.List(ctx, LogDir, "") {
		if err != nil {
			return nil, fmt.Errorf("create table %s: %w", s.URL(), err)
		}
		if _, ok := ParseLogKey(o.Key); ok {
			return nil, fmt.Errorf("create table %s: %w", s.URL(), ErrTableExists)
		}
	}
	cols := map[string]bool{}
	for _, f := range spec.Schema.Fields {
		if cols[f.Name] {
			return nil, fmt.Errorf("create table %s: column %q appears twice", s.URL(), f.Name)
		}
		cols[f.Name] = true
	}
	for _, c := range spec.PartitionColumns {
		if !cols[c] {
			return nil, fmt.Errorf("create table %s: partition column %q is not in the schema", s.URL(), c)
		}
	}
	p := Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
	if spec.Protocol != nil {
		p = *spec.Protocol
	}
	created := opts.Now().UnixMilli()
	conf := spec.Configuration
	if conf == nil {
		conf = map[string]string{}
	}
	parts := spec.PartitionColumns
	if parts == nil {
		parts = []string{}
	}
	m := Metadata{
		ID: uuid.NewString(), Name: spec.Name, Description: spec.Description,
		Format:       Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString: spec.Schema.String(), PartitionColumns: parts, Configuration: conf,
		CreatedTime: &created,
	}
	if err := CheckWrite(p, m); err != nil {
		return nil, fmt.Errorf("create table %s: %w", s.URL(), err)
	}
	return &Txn{store: s, opts: opts, snap: &Snapshot{store: s, segment: LogSegment{Version: -1}, protocol: p, metadata: m},
		id: uuid.NewString(), readKeys: newKeySet(), protocol: &p, metadata: &m, creating: true}, nil
}

// HistoryEntry is one commit of the log.
type HistoryEntry struct {
	Version    int64
	Timestamp  time.Time
	CommitInfo CommitInfo // nil when the commit has none
}

// History returns the readable commits, newest first, at most limit of them (all when limit
// <= 0).
func History(ctx context.Context, s Store, limit int) ([]HistoryEntry, error) {
	ts, err := CommitTimestamps(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	for i := len(ts) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		ci, err := ReadCommitInfo(ctx, s, ts[i].Version)
		if err != nil {
			return nil, err
		}
		out = append(out, HistoryEntry{Version: ts[i].Version, Timestamp: ts[i].Time, CommitInfo: ci})
	}
	return out, nil
}
