package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Action is one line of a commit: exactly one of its fields is set. Top-level keys this library
// does not know are ignored on read, as the protocol asks of readers.
type Action struct {
	Add                *Add                `json:"add,omitempty"`
	Remove             *Remove             `json:"remove,omitempty"`
	Metadata           *Metadata           `json:"metaData,omitempty"`
	Protocol           *Protocol           `json:"protocol,omitempty"`
	Txn                *SetTransaction     `json:"txn,omitempty"`
	CommitInfo         CommitInfo          `json:"commitInfo,omitempty"`
	DomainMetadata     *DomainMetadata     `json:"domainMetadata,omitempty"`
	CDC                *CDC                `json:"cdc,omitempty"`
	Sidecar            *Sidecar            `json:"sidecar,omitempty"`
	CheckpointMetadata *CheckpointMetadata `json:"checkpointMetadata,omitempty"`
}

// Add adds a data file (or a new deletion vector of one) to the table.
type Add struct {
	Path                    string            `json:"path"`
	PartitionValues         PartitionValues   `json:"partitionValues"`
	Size                    int64             `json:"size"`
	ModificationTime        int64             `json:"modificationTime"`
	DataChange              bool              `json:"dataChange"`
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
	ClusteringProvider      string            `json:"clusteringProvider,omitempty"`
}

// Remove marks a data file (or one deletion vector of it) as no longer part of the table.
type Remove struct {
	Path                    string            `json:"path"`
	DeletionTimestamp       *int64            `json:"deletionTimestamp,omitempty"`
	DataChange              bool              `json:"dataChange"`
	ExtendedFileMetadata    *bool             `json:"extendedFileMetadata,omitempty"`
	PartitionValues         PartitionValues   `json:"partitionValues,omitempty"`
	Size                    *int64            `json:"size,omitempty"`
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
}

// PartitionValues maps partition column names to their serialized values; nil is a null value.
type PartitionValues map[string]*string

// Get returns the value of column c and whether it is non-null.
func (p PartitionValues) Get(c string) (string, bool) {
	v := p[c]
	if v == nil {
		return "", false
	}
	return *v, true
}

// DeletionVector describes the rows of a data file that are deleted.
type DeletionVector struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int32 `json:"offset,omitempty"`
	SizeInBytes    int32  `json:"sizeInBytes"`
	Cardinality    int64  `json:"cardinality"`
}

// UniqueID identifies the deletion vector as the protocol defines it: storage type, path or
// inline data, and "@offset" when there is one.
func (d *DeletionVector) UniqueID() string {
	if d == nil {
		return ""
	}
	id := d.StorageType + d.PathOrInlineDv
	if d.Offset != nil {
		id += "@" + strconv.FormatInt(int64(*d.Offset), 10)
	}
	return id
}

// Format is the data file format of a table.
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata holds the table's identity, schema, partitioning and configuration.
type Metadata struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString,omitempty"` // missing: an empty struct, as Spark reads it; kept missing when written back
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

// Protocol holds the reader and writer versions and, from versions 3 and 7, the feature lists.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// MarshalJSON writes the feature lists, empty ones included, exactly when the versions call for
// them (reader 3, writer 7), and omits them otherwise.
func (p Protocol) MarshalJSON() ([]byte, error) {
	type wire struct {
		MinReaderVersion int       `json:"minReaderVersion"`
		MinWriterVersion int       `json:"minWriterVersion"`
		ReaderFeatures   *[]string `json:"readerFeatures,omitempty"`
		WriterFeatures   *[]string `json:"writerFeatures,omitempty"`
	}
	w := wire{MinReaderVersion: p.MinReaderVersion, MinWriterVersion: p.MinWriterVersion}
	rf, wf := p.ReaderFeatures, p.WriterFeatures
	if rf == nil {
		rf = []string{}
	}
	if wf == nil {
		wf = []string{}
	}
	if p.MinReaderVersion >= 3 || len(p.ReaderFeatures) > 0 {
		w.ReaderFeatures = &rf
	}
	if p.MinWriterVersion >= 7 || len(p.WriterFeatures) > 0 {
		w.WriterFeatures = &wf
	}
	return json.Marshal(w)
}

// SetTransaction (the txn action) records the latest version an application has committed,
// for exactly-once writes.
type SetTransaction struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// DomainMetadata is a named configuration blob; Removed tombstones the domain.
type DomainMetadata struct {
	Domain        string `json:"domain"`
	Configuration string `json:"configuration"`
	Removed       bool   `json:"removed"`
}

// CDC is a change data file written beside a commit.
type CDC struct {
	Path            string            `json:"path"`
	PartitionValues PartitionValues   `json:"partitionValues"`
	Size            int64             `json:"size"`
	DataChange      bool              `json:"dataChange"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// Sidecar names a file of a V2 checkpoint holding add and remove actions.
type Sidecar struct {
	Path             string            `json:"path"`
	SizeInBytes      int64             `json:"sizeInBytes"`
	ModificationTime int64             `json:"modificationTime"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// CheckpointMetadata marks a V2 checkpoint and the version it holds.
type CheckpointMetadata struct {
	Version int64             `json:"version"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// CommitInfo is free-form provenance. Every field is kept as its raw JSON, so a rewrite loses
// nothing it did not understand.
type CommitInfo map[string]json.RawMessage

// Int returns the integer field k, if it is present and a number.
func (c CommitInfo) Int(k string) (int64, bool) {
	raw, ok := c[k]
	if !ok {
		return 0, false
	}
	var v int64
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return v, true
}

// String returns the string field k, if it is present and a string.
func (c CommitInfo) String(k string) (string, bool) {
	raw, ok := c[k]
	if !ok {
		return "", false
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return v, true
}

// Set stores v, encoded as JSON, under k.
func (c CommitInfo) Set(k string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode commitInfo.%s: %w", k, err)
	}
	c[k] = raw
	return nil
}

// Timestamp is the commit's timestamp in milliseconds: inCommitTimestamp when present, else
// timestamp.
func (c CommitInfo) Timestamp() (int64, bool) {
	if v, ok := c.Int("inCommitTimestamp"); ok {
		return v, true
	}
	return c.Int("timestamp")
}

// ParseAction decodes one commit line. A line that is valid JSON but holds no known action
// returns an Action with every field nil.
func ParseAction(line []byte) (Action, error) {
	// encoding/json would turn invalid UTF-8 into U+FFFD: such a line is refused instead.
	if !utf8.Valid(line) {
		return Action{}, fmt.Errorf("decode action: not valid UTF-8")
	}
	if a, ok := fastFileAction(line); ok {
		if err := a.validate(); err != nil {
			return Action{}, err
		}
		return a, nil
	}
	return parseActionGeneral(line)
}

// parseActionGeneral is ParseAction without the fast path, for a valid UTF-8 line. It uses
// encoding/json, which checks the whole line (unknown fields included) and refuses integers
// that overflow. (goccy/go-json, used here before the fast path took the bulk of the lines,
// skips unknown fields unchecked, wraps overflowing integers, and under -race trips checkptr
// on a lone surrogate escape: goccy/go-json#575.)
func parseActionGeneral(line []byte) (Action, error) {
	var a Action
	if err := json.Unmarshal(line, &a); err != nil {
		return Action{}, fmt.Errorf("decode action: %w", err)
	}
	if err := a.validate(); err != nil {
		return Action{}, err
	}
	return a, nil
}

// validate checks what a reader relies on: one action per line and the required fields.
func (a *Action) validate() error {
	n := 0
	for _, set := range []bool{a.Add != nil, a.Remove != nil, a.Metadata != nil, a.Protocol != nil,
		a.Txn != nil, a.CommitInfo != nil, a.DomainMetadata != nil, a.CDC != nil, a.Sidecar != nil,
		a.CheckpointMetadata != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("decode action: %d actions on one line", n)
	}
	switch {
	case a.Add != nil && a.Add.Path == "":
		return fmt.Errorf("decode action: add without a path")
	case a.Remove != nil && a.Remove.Path == "":
		return fmt.Errorf("decode action: remove without a path")
	case a.CDC != nil && a.CDC.Path == "":
		return fmt.Errorf("decode action: cdc without a path")
	case a.Sidecar != nil && a.Sidecar.Path == "":
		return fmt.Errorf("decode action: sidecar without a path")
	case a.Metadata != nil && a.Metadata.ID == "":
		return fmt.Errorf("decode action: metaData without an id")
	case a.Protocol != nil && (a.Protocol.MinReaderVersion < 1 || a.Protocol.MinWriterVersion < 1):
		return fmt.Errorf("decode action: protocol versions must be at least 1")
	case a.Txn != nil && a.Txn.AppID == "":
		return fmt.Errorf("decode action: txn without an appId")
	}
	return nil
}

// MarshalAction encodes one action as a single line, without the trailing newline.
func MarshalAction(a Action) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if a.CommitInfo != nil && len(a.CommitInfo) == 0 {
		// omitempty would drop it, and the line would hold no action.
		return []byte(`{"commitInfo":{}}`), nil
	}
	a = withRequiredFields(a)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, fmt.Errorf("encode action: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// withRequiredFields returns a with nil required lists and maps made empty, so they encode as
// [] and {}: Spark and delta-rs refuse null there.
func withRequiredFields(a Action) Action {
	if m := a.Metadata; m != nil && (m.PartitionColumns == nil || m.Configuration == nil || m.Format.Options == nil) {
		c := *m
		if c.PartitionColumns == nil {
			c.PartitionColumns = []string{}
		}
		if c.Configuration == nil {
			c.Configuration = map[string]string{}
		}
		if c.Format.Options == nil {
			c.Format.Options = map[string]string{}
		}
		a.Metadata = &c
	}
	if a.Add != nil && a.Add.PartitionValues == nil {
		c := *a.Add
		c.PartitionValues = PartitionValues{}
		a.Add = &c
	}
	if a.CDC != nil && a.CDC.PartitionValues == nil {
		c := *a.CDC
		c.PartitionValues = PartitionValues{}
		a.CDC = &c
	}
	return a
}

// Stats are the per-file statistics an add carries as JSON.
type Stats struct {
	NumRecords  *int64         `json:"numRecords,omitempty"`
	TightBounds *bool          `json:"tightBounds,omitempty"`
	MinValues   map[string]any `json:"minValues,omitempty"`
	MaxValues   map[string]any `json:"maxValues,omitempty"`
	NullCount   map[string]any `json:"nullCount,omitempty"`
}

// ParseStats decodes an add's stats string; numbers stay json.Number so none lose precision.
func ParseStats(s string) (Stats, error) {
	var st Stats
	if s == "" {
		return st, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	if err := d.Decode(&st); err != nil {
		return Stats{}, fmt.Errorf("decode stats: %w", err)
	}
	return st, nil
}

// String encodes the stats as the compact JSON an add carries.
func (s Stats) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		// Only values that cannot be JSON reach here (NaN, channels); stats hold none.
		return ""
	}
	return string(b)
}
