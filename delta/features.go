package delta

import (
	"fmt"
	"sort"
	"strings"
)

// Reader features this package reads correctly. deletionVectors: descriptors are part of the
// file key and carried through; v2Checkpoint: UUID checkpoints and sidecars; timestampNtz and
// vacuumProtocolCheck change nothing in the log a reader relies on.
var readerFeatures = map[string]bool{
	"deletionVectors":     true,
	"v2Checkpoint":        true,
	"timestampNtz":        true,
	"vacuumProtocolCheck": true,
}

// Writer features this package honours when it commits. appendOnly is enforced (no data
// removes); invariants and checkConstraints need nothing while the schema declares none (a
// schema that does is refused); domainMetadata is read and written.
var writerFeatures = map[string]bool{
	"appendOnly":          true,
	"invariants":          true,
	"deletionVectors":     true,
	"v2Checkpoint":        true,
	"timestampNtz":        true,
	"domainMetadata":      true,
	"vacuumProtocolCheck": true,
}

// SupportedReaderFeatures lists the reader features this package supports, sorted.
func SupportedReaderFeatures() []string { return sortedKeys(readerFeatures) }

// SupportedWriterFeatures lists the writer features this package supports, sorted.
func SupportedWriterFeatures() []string { return sortedKeys(writerFeatures) }

// legacyWriterFeatures are the features a legacy writer version (2 to 6) implies.
var legacyWriterFeatures = [...][]string{
	2: {"appendOnly", "invariants"},
	3: {"checkConstraints"},
	4: {"changeDataFeed", "generatedColumns"},
	5: {"columnMapping"},
	6: {"identityColumns"},
}

// ReaderFeaturesOf returns the reader features a protocol and metadata require.
func ReaderFeaturesOf(p Protocol, m Metadata) []string {
	switch {
	case p.MinReaderVersion >= 3:
		return p.ReaderFeatures
	case p.MinReaderVersion == 2:
		if mode := m.Configuration["delta.columnMapping.mode"]; mode != "" && mode != "none" {
			return []string{"columnMapping"}
		}
	}
	return nil
}

// WriterFeaturesOf returns the writer features a protocol requires. Legacy writer versions imply
// every feature up to their version, as Spark treats them.
func WriterFeaturesOf(p Protocol) []string {
	if p.MinWriterVersion >= 7 {
		return p.WriterFeatures
	}
	var out []string
	for v := 2; v <= p.MinWriterVersion && v < len(legacyWriterFeatures); v++ {
		out = append(out, legacyWriterFeatures[v]...)
	}
	return out
}

// CheckRead returns an error naming every reader feature of the table that is not supported.
func CheckRead(p Protocol, m Metadata) error {
	if p.MinReaderVersion > 3 {
		return fmt.Errorf("readerVersion %d: %w", p.MinReaderVersion, ErrUnsupportedFeature)
	}
	return missing("reader", ReaderFeaturesOf(p, m), readerFeatures)
}

// CheckWrite checks reading, then returns an error naming every writer feature that is not
// supported, and refuses schemas whose constraints this package would not enforce.
func CheckWrite(p Protocol, m Metadata) error {
	if err := CheckRead(p, m); err != nil {
		return err
	}
	if p.MinWriterVersion > 7 {
		return fmt.Errorf("writerVersion %d: %w", p.MinWriterVersion, ErrUnsupportedFeature)
	}
	if err := missing("writer", WriterFeaturesOf(p), writerFeatures); err != nil {
		return err
	}
	if strings.Contains(m.SchemaString, "delta.invariants") {
		return fmt.Errorf("writer feature invariants: the schema declares invariants, which this writer does not enforce: %w", ErrUnsupportedFeature)
	}
	return nil
}

func missing(side string, need []string, have map[string]bool) error {
	var miss []string
	for _, f := range need {
		if !have[f] {
			miss = append(miss, f)
		}
	}
	if len(miss) == 0 {
		return nil
	}
	sort.Strings(miss)
	return fmt.Errorf("%s features %s: %w", side, strings.Join(miss, ", "), ErrUnsupportedFeature)
}

// IsAppendOnly reports whether the table refuses data removes.
func IsAppendOnly(p Protocol, m Metadata) bool {
	if m.Configuration["delta.appendOnly"] != "true" {
		return false
	}
	for _, f := range WriterFeaturesOf(p) {
		if f == "appendOnly" {
			return true
		}
	}
	return false
}
