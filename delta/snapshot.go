package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"
)

// Snapshot is the state of a table at one version. It holds the protocol and metadata; the file
// list is streamed on demand by Files and never held whole.
type Snapshot struct {
	store     Store
	segment   LogSegment
	protocol  Protocol
	metadata  Metadata
	batchRows int
	crc       *CRC // the version's .crc, when one was read
}

// SnapshotOption sets how a snapshot is read.
type SnapshotOption func(*snapshotConfig)

type snapshotConfig struct {
	version    int64
	badVersion bool
	timestamp  *time.Time
	batchRows  int
	writing    bool
	anyFeature bool
}

// AtVersion selects version v instead of the latest. A negative v is ErrVersionNotFound.
func AtVersion(v int64) SnapshotOption {
	return func(c *snapshotConfig) {
		c.version = v
		if v < 0 {
			c.badVersion = true
		}
	}
}

// AtTimestamp selects the newest version committed at or before t.
func AtTimestamp(t time.Time) SnapshotOption {
	return func(c *snapshotConfig) { c.timestamp = &t }
}

// WithBatchRows sets how many checkpoint rows are decoded at once (default DefaultBatchRows).
func WithBatchRows(n int) SnapshotOption {
	return func(c *snapshotConfig) { c.batchRows = n }
}

// logOnly skips the feature check: for callers that read only commitInfo and timestamps.
func logOnly() SnapshotOption {
	return func(c *snapshotConfig) { c.anyFeature = true }
}

// forWriting checks writer features instead of reader features.
func forWriting() SnapshotOption {
	return func(c *snapshotConfig) { c.writing = true }
}

// Open reads the snapshot of the table in s: the latest by default. It reads the log segment,
// protocol and metadata, and checks that every reader feature the table needs is supported.
func Open(ctx context.Context, s Store, opts ...SnapshotOption) (*Snapshot, error) {
	cfg := snapshotConfig{version: -1, batchRows: DefaultBatchRows}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.badVersion || cfg.version < -1 {
		return nil, fmt.Errorf("open %s at version %d: %w", s.URL(), cfg.version, ErrVersionNotFound)
	}
	if cfg.timestamp != nil {
		v, err := VersionAt(ctx, s, *cfg.timestamp)
		if err != nil {
			return nil, err
		}
		cfg.version = v
	}
	seg, err := buildSegment(ctx, s, cfg.version)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{store: s, segment: seg, batchRows: cfg.batchRows}
	if err := snap.loadProtocolMetadata(ctx); err != nil {
		return nil, err
	}
	check := CheckRead
	if cfg.writing {
		check = CheckWrite
	}
	if cfg.anyFeature {
		check = func(Protocol, Metadata) error { return nil }
	}
	if err := check(snap.protocol, snap.metadata); err != nil {
		return nil, fmt.Errorf("open %s at version %d: %w", s.URL(), seg.Version, err)
	}
	return snap, nil
}

// Version is the snapshot's version.
func (s *Snapshot) Version() int64 { return s.segment.Version }

// Protocol is the table's protocol at this version.
func (s *Snapshot) Protocol() Protocol { return s.protocol }

// Metadata is the table's metadata at this version.
func (s *Snapshot) Metadata() Metadata { return s.metadata }

// Segment is the log segment the snapshot is read from: the checkpoint it starts from (nil
// when none) and the commits after it, as listed when the snapshot was opened.
func (s *Snapshot) Segment() LogSegment { return s.segment }

// Checksum returns the version's .crc as Open read it: when the listing saw one and it was
// well formed. Its counts describe this version (the protocol requires them to match the
// log); its row count, CRC.NumRecords(Version()), is there only when this library wrote it.
func (s *Snapshot) Checksum() (CRC, bool) {
	if s.crc == nil {
		return CRC{}, false
	}
	return *s.crc, true
}

// Store is the store the snapshot reads from (to read its data files with NewReaderAt, for
// one).
func (s *Snapshot) Store() Store { return s.store }

// loadProtocolMetadata takes the newest protocol and metaData of the tail, and reads the
// checkpoint (only those two columns) for whichever is still missing.
func (s *Snapshot) loadProtocolMetadata(ctx context.Context) error {
	var p *Protocol
	var m *Metadata
	// The version's .crc, when there is a well-formed one, holds both: no commit need be read.
	// It is read only when the listing saw it (a request for a missing one costs as much as a
	// read); one written since is not needed.
	if s.segment.listedCRC {
		if c, ok, err := ReadCRC(ctx, s.store, s.segment.Version); err != nil && ctx.Err() != nil {
			return err
		} else if ok {
			p, m = &c.Protocol, &c.Metadata
			s.crc = &c
		}
	}
	for i := len(s.segment.Commits) - 1; i >= 0 && (p == nil || m == nil); i-- {
		c := s.segment.Commits[i]
		v := s.segment.Version - int64(len(s.segment.Commits)-1-i)
		err := scanLines(ctx, s.store, c.Key, v, func(line []byte, n int) error {
			if kind, ok := actionKind(line); ok && kind != "protocol" && kind != "metaData" && isActionName(kind) {
				return nil
			}
			a, err := ParseAction(line)
			if err != nil {
				return corrupt(c.Key, v, "line %d: %v", n, err)
			}
			if a.Protocol != nil && p == nil {
				p = a.Protocol
			}
			if a.Metadata != nil && m == nil {
				m = a.Metadata
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if (p == nil || m == nil) && s.segment.Checkpoint != nil {
		cp := *s.segment.Checkpoint
		// A checkpoint holds one of each: reading stops once both are found (a checkpoint
		// written here has them in its first rows).
		found := errors.New("found")
		err := readCheckpoint(ctx, s.store, cp, wantProtocol|wantMetadata, s.batchRows, func(a Action) error {
			if a.Protocol != nil && p == nil {
				p = a.Protocol
			}
			if a.Metadata != nil && m == nil {
				m = a.Metadata
			}
			if p != nil && m != nil {
				return found
			}
			return nil
		})
		if err != nil && err != found {
			return err
		}
	}
	where := fmt.Sprintf("log of %s at version %d", s.store.URL(), s.segment.Version)
	if p == nil {
		return &CorruptError{Path: LogDir, Version: s.segment.Version, Err: fmt.Errorf("no protocol action in the %s", where)}
	}
	if m == nil {
		return &CorruptError{Path: LogDir, Version: s.segment.Version, Err: fmt.Errorf("no metaData action in the %s", where)}
	}
	s.protocol, s.metadata = *p, *m
	if s.metadata.Configuration == nil {
		s.metadata.Configuration = map[string]string{}
	}
	if emptySchema(s.metadata.SchemaString) {
		s.metadata.SchemaString = StructType{}.String() // the table's view; the action is left as it was
	}
	return nil
}

func isFileAction(k string) bool { return k == "add" || k == "remove" }

func isActionName(k string) bool {
	switch k {
	case "add", "remove", "metaData", "protocol", "txn", "commitInfo", "domainMetadata", "cdc",
		"sidecar", "checkpointMetadata":
		return true
	}
	return false
}

// Files streams the live data files: every add not cancelled by a newer remove or add of the
// same (path, deletion vector). Memory is the keys of the tail plus one checkpoint batch.
func (s *Snapshot) Files(ctx context.Context) iter.Seq2[*Add, error] {
	return func(yield func(*Add, error) bool) {
		stop := errors.New("stop")
		err := s.replayFiles(ctx, func(a *Add, _ *Remove) error {
			if a != nil && !yield(a, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

// FileActions streams, in one pass, every live add and every remove still in force (the newest
// action of each key): what a checkpoint holds of the file list.
func (s *Snapshot) FileActions(ctx context.Context) iter.Seq2[Action, error] {
	return func(yield func(Action, error) bool) {
		stop := errors.New("stop")
		err := s.replayFiles(ctx, func(a *Add, r *Remove) error {
			if !yield(Action{Add: a, Remove: r}, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(Action{}, err)
		}
	}
}

// Tombstones streams the removes still in force: each is the newest action of its key.
func (s *Snapshot) Tombstones(ctx context.Context) iter.Seq2[*Remove, error] {
	return func(yield func(*Remove, error) bool) {
		stop := errors.New("stop")
		err := s.replayFiles(ctx, func(_ *Add, r *Remove) error {
			if r != nil && !yield(r, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

// replayFiles reconciles file actions newest first. Each key (path, deletion vector) is
// reported once, with its newest action; only the keys met in commits are remembered, as
// 128-bit hashes, and only while older sources remain to be read.
func (s *Snapshot) replayFiles(ctx context.Context, fn func(*Add, *Remove) error) error {
	seen, err := s.replayTail(ctx, fn)
	if err != nil || s.segment.Checkpoint == nil {
		return err
	}
	cp := *s.segment.Checkpoint
	return readCheckpoint(ctx, s.store, cp, wantFiles, s.batchRows, s.checkpointRow(cp, seen, fn))
}

// replayTail reports the newest file action of every key met in the commits, newest commit
// first, and returns those keys when a checkpoint remains to be read.
func (s *Snapshot) replayTail(ctx context.Context, fn func(*Add, *Remove) error) (keySet, error) {
	seen := newKeySet()
	commits := s.segment.Commits
	for i := len(commits) - 1; i >= 0; i-- {
		c := commits[i]
		v := s.segment.Version - int64(len(commits)-1-i)
		remember := i > 0 || s.segment.Checkpoint != nil
		// Keys of one commit are recorded after it is read: a commit holds each key once.
		var pending []fileKey
		err := streamActions(ctx, s.store, c.Key, v, isFileAction, func(a Action) error {
			var k fileKey
			switch {
			case a.Add != nil:
				if err := checkPath(a.Add.Path); err != nil {
					return corrupt(c.Key, v, "add %q: %w", a.Add.Path, err)
				}
				k = keyOf(a.Add.Path, a.Add.DeletionVector)
			case a.Remove != nil:
				if err := checkPath(a.Remove.Path); err != nil {
					return corrupt(c.Key, v, "remove %q: %w", a.Remove.Path, err)
				}
				k = keyOf(a.Remove.Path, a.Remove.DeletionVector)
			default:
				return nil
			}
			if seen.has(k) {
				return nil
			}
			if remember {
				pending = append(pending, k)
			}
			return fn(a.Add, a.Remove)
		})
		if err != nil {
			return nil, err
		}
		for _, k := range pending {
			seen.add(k)
		}
	}
	return seen, nil
}

// checkpointRow is the row path over checkpoint cp: every file action whose key the tail did
// not supersede goes to fn.
func (s *Snapshot) checkpointRow(cp Checkpoint, seen keySet, fn func(*Add, *Remove) error) func(Action) error {
	return func(a Action) error {
		var k fileKey
		var p string
		if a.Add != nil {
			p, k = a.Add.Path, keyOf(a.Add.Path, a.Add.DeletionVector)
		} else {
			p, k = a.Remove.Path, keyOf(a.Remove.Path, a.Remove.DeletionVector)
		}
		if err := checkPath(p); err != nil {
			return corrupt(cp.Files[0].Key, cp.Version, "file action %q: %w", p, err)
		}
		if seen.has(k) {
			return nil
		}
		return fn(a.Add, a.Remove)
	}
}

// AppTransactions returns the newest txn of every application. The set is small (one entry per
// writer application), so it is returned whole.
func (s *Snapshot) AppTransactions(ctx context.Context) (map[string]SetTransaction, error) {
	txns, _, err := s.readSmall(ctx, wantTxn)
	return txns, err
}

// AppTransactionVersion returns the latest version recorded for appID, or -1.
func (s *Snapshot) AppTransactionVersion(ctx context.Context, appID string) (int64, error) {
	txns, err := s.AppTransactions(ctx)
	if err != nil {
		return -1, err
	}
	if t, ok := txns[appID]; ok {
		return t.Version, nil
	}
	return -1, nil
}

// DomainMetadata returns the live (not removed) domain metadata by domain name.
func (s *Snapshot) DomainMetadata(ctx context.Context) (map[string]DomainMetadata, error) {
	_, domains, err := s.readSmall(ctx, wantDomain)
	return domains, err
}

// TxnsAndDomains returns what AppTransactions and DomainMetadata return, in one pass over the
// log (a checkpoint writer needs both).
func (s *Snapshot) TxnsAndDomains(ctx context.Context) (map[string]SetTransaction, map[string]DomainMetadata, error) {
	return s.readSmall(ctx, wantTxn|wantDomain)
}

// readSmall gathers the newest txn of each application and the live domain metadata, as want
// selects.
func (s *Snapshot) readSmall(ctx context.Context, want actionSet) (map[string]SetTransaction, map[string]DomainMetadata, error) {
	txns := map[string]SetTransaction{}
	domains := map[string]DomainMetadata{}
	err := s.replayOther(ctx, want, func(a Action) {
		switch {
		case a.Txn != nil:
			if _, ok := txns[a.Txn.AppID]; !ok {
				txns[a.Txn.AppID] = *a.Txn
			}
		case a.DomainMetadata != nil:
			if _, ok := domains[a.DomainMetadata.Domain]; !ok {
				domains[a.DomainMetadata.Domain] = *a.DomainMetadata
			}
		}
	})
	for k, d := range domains {
		if d.Removed {
			delete(domains, k)
		}
	}
	return txns, domains, err
}

// replayOther streams txn and/or domainMetadata actions, as want selects, newest first.
func (s *Snapshot) replayOther(ctx context.Context, want actionSet, fn func(Action)) error {
	wantKind := func(kind string) bool {
		return kind == "txn" && want&wantTxn != 0 || kind == "domainMetadata" && want&wantDomain != 0
	}
	commits := s.segment.Commits
	for i := len(commits) - 1; i >= 0; i-- {
		c := commits[i]
		v := s.segment.Version - int64(len(commits)-1-i)
		err := scanLines(ctx, s.store, c.Key, v, func(line []byte, n int) error {
			if kind, ok := actionKind(line); ok && !wantKind(kind) && isActionName(kind) {
				return nil
			}
			a, err := ParseAction(line)
			if err != nil {
				return corrupt(c.Key, v, "line %d: %v", n, err)
			}
			if a.in(want) {
				fn(a)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if s.segment.Checkpoint == nil {
		return nil
	}
	return readCheckpoint(ctx, s.store, *s.segment.Checkpoint, want, s.batchRows, func(a Action) error {
		fn(a)
		return nil
	})
}

// CommitInfo returns the commitInfo of version v of this snapshot's segment, if it has one.
func (s *Snapshot) CommitInfo(ctx context.Context, v int64) (CommitInfo, error) {
	return ReadCommitInfo(ctx, s.store, v)
}

// ReadCommitInfo returns the commitInfo action of commit v (nil when it has none).
func ReadCommitInfo(ctx context.Context, s Store, v int64) (CommitInfo, error) {
	var ci CommitInfo
	key := CommitKey(v)
	stop := errors.New("stop")
	err := scanLines(ctx, s, key, v, func(line []byte, n int) error {
		if kind, ok := actionKind(line); ok && kind != "commitInfo" && isActionName(kind) {
			return nil
		}
		a, err := ParseAction(line)
		if err != nil {
			return corrupt(key, v, "line %d: %v", n, err)
		}
		if a.CommitInfo != nil {
			ci = a.CommitInfo
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return nil, err
	}
	return ci, nil
}

// emptySchema reports whether a schemaString is missing: Spark reads that as an empty struct.
func emptySchema(s string) bool { return strings.TrimSpace(s) == "" }

// Schema decodes the table schema; a missing schemaString is an empty struct.
func (m Metadata) Schema() (StructType, error) {
	var st StructType
	if emptySchema(m.SchemaString) {
		return StructType{Type: "struct"}, nil
	}
	if err := json.Unmarshal([]byte(m.SchemaString), &st); err != nil {
		return StructType{}, fmt.Errorf("decode schema of table %s: %w", m.ID, err)
	}
	return st, nil
}

// StructType is a Delta schema (a struct of fields).
type StructType struct {
	Type   string        `json:"type"`
	Fields []StructField `json:"fields"`
}

// StructField is one column of a Delta schema. Type is a primitive name ("long") or a nested
// type kept as raw JSON.
type StructField struct {
	Name     string          `json:"name"`
	Type     json.RawMessage `json:"type"`
	Nullable bool            `json:"nullable"`
	Metadata map[string]any  `json:"metadata"`
}

// PrimitiveType returns the field's type name when it is primitive.
func (f StructField) PrimitiveType() (string, bool) {
	var s string
	if json.Unmarshal(f.Type, &s) != nil {
		return "", false
	}
	return s, true
}

// NewField makes a nullable primitive field.
func NewField(name, typ string) StructField {
	raw, _ := json.Marshal(typ)
	return StructField{Name: name, Type: raw, Nullable: true, Metadata: map[string]any{}}
}

// String encodes the schema as the schemaString of metaData.
func (st StructType) String() string {
	if st.Type == "" {
		st.Type = "struct"
	}
	if st.Fields == nil {
		st.Fields = []StructField{}
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
