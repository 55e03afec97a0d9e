package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// CRC is a version checksum file (N.crc): the table's state after version N, so readers can
// check a replay, and writers can keep counts without one.
//
// Besides the fields of the protocol, a .crc written by this library carries an extension,
// CRCExtension, under the key "deltaraster": the table's row count, stamped with the version
// it describes. The protocol's readers must ignore fields they do not recognise (PROTOCOL.md,
// "Protocol Evolution"), and Spark (Jackson, FAIL_ON_UNKNOWN_PROPERTIES off), the Java kernel
// (a schema-projected JSON read) and the Rust kernel (serde without deny_unknown_fields) do;
// none of them copies unknown fields into the .crc it derives for the next version.
type CRC struct {
	TableSizeBytes       int64            `json:"tableSizeBytes"`
	NumFiles             int64            `json:"numFiles"`
	NumMetadata          int64            `json:"numMetadata"`
	NumProtocol          int64            `json:"numProtocol"`
	Metadata             Metadata         `json:"metadata"`
	Protocol             Protocol         `json:"protocol"`
	SetTransactions      []SetTransaction `json:"setTransactions,omitempty"`
	DomainMetadata       []DomainMetadata `json:"domainMetadata,omitempty"`
	InCommitTimestampOpt *int64           `json:"inCommitTimestampOpt,omitempty"`
	TxnID                string           `json:"txnId,omitempty"`
	DeltaRaster          *CRCExtension    `json:"deltaraster,omitempty"`
}

// CRCExtension is what this library adds to a .crc: the number of rows of the live files at
// Version (the sum of their stats' numRecords, less the rows their deletion vectors remove).
// It is written only when every live file's stats have numRecords. Version is the version of
// the .crc that holds it: a copy carried into another version's .crc by a writer that does not
// know it is detected, and ignored.
type CRCExtension struct {
	Version    int64 `json:"version"`
	NumRecords int64 `json:"numRecords"`
}

// NumRecords returns the row count recorded in the .crc of version v, when it has one stamped
// with v.
func (c CRC) NumRecords(v int64) (int64, bool) {
	if c.DeltaRaster == nil || c.DeltaRaster.Version != v || c.DeltaRaster.NumRecords < 0 {
		return 0, false
	}
	return c.DeltaRaster.NumRecords, true
}

// ParseCRC decodes a .crc file and checks the fields a reader relies on.
func ParseCRC(b []byte) (CRC, error) {
	var c CRC
	if err := json.Unmarshal(b, &c); err != nil {
		return CRC{}, fmt.Errorf("decode crc: %w", err)
	}
	if c.NumFiles < 0 || c.TableSizeBytes < 0 || c.NumMetadata != 1 || c.NumProtocol != 1 || c.Metadata.ID == "" || c.Protocol.MinReaderVersion < 1 {
		return CRC{}, fmt.Errorf("decode crc: missing or inconsistent required fields")
	}
	return c, nil
}

// ReadCRC reads version v's .crc. ok is false when it is missing or malformed; a malformed one
// is logged as a warning and otherwise ignored, as the protocol allows. An extension stamped
// with another version than v is dropped.
func ReadCRC(ctx context.Context, s Store, v int64) (CRC, bool, error) {
	key := CRCKey(v)
	b, err := ReadAll(ctx, s, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return CRC{}, false, nil
		}
		if ctx.Err() != nil {
			return CRC{}, false, ctx.Err()
		}
		return CRC{}, false, err
	}
	c, err := ParseCRC(b)
	if err != nil {
		slog.Warn("ignoring malformed version checksum", "table", s.URL(), "file", key, "err", err)
		return CRC{}, false, nil
	}
	if _, ok := c.NumRecords(v); c.DeltaRaster != nil && !ok {
		slog.Warn("ignoring the row count of a version checksum: it is not stamped with its version", "table", s.URL(), "file", key, "stamped", c.DeltaRaster.Version)
		c.DeltaRaster = nil
	}
	return c, true, nil
}

// FileRecords returns the rows of a file from its stats and deletion vector: the stats'
// numRecords less the rows the deletion vector removes. ok is false when the stats have no
// numRecords.
func FileRecords(stats string, dv *DeletionVector) (n int64, ok bool, err error) {
	if stats == "" {
		return 0, false, nil
	}
	var st struct {
		NumRecords *int64 `json:"numRecords"`
	}
	if err := json.Unmarshal([]byte(stats), &st); err != nil {
		return 0, false, fmt.Errorf("decode stats: %w", err)
	}
	if st.NumRecords == nil {
		return 0, false, nil
	}
	n = *st.NumRecords
	if dv != nil {
		n -= dv.Cardinality
	}
	return n, true, nil
}

// Counts is the size of a snapshot: its live files, their bytes and their rows.
type Counts struct {
	NumFiles    int64
	SizeInBytes int64
	// NumRecords is nil when a live file's stats have no numRecords.
	NumRecords *int64
	// FromChecksum says the counts were taken from the version's .crc.
	FromChecksum bool
}

// Counts returns the snapshot's counts from the version's .crc when it has all of them (read
// at Open: no further request), else from the file list, streamed (CountFiles).
func (s *Snapshot) Counts(ctx context.Context) (Counts, error) {
	if c, ok := s.Checksum(); ok {
		if n, ok := c.NumRecords(s.Version()); ok {
			return Counts{NumFiles: c.NumFiles, SizeInBytes: c.TableSizeBytes, NumRecords: &n, FromChecksum: true}, nil
		}
	}
	return s.CountFiles(ctx)
}

// CountFiles counts the live files, their bytes and rows by streaming the file list.
func (s *Snapshot) CountFiles(ctx context.Context) (Counts, error) {
	var c Counts
	var records int64
	known := true
	for a, err := range s.Files(ctx) {
		if err != nil {
			return Counts{}, err
		}
		c.NumFiles++
		c.SizeInBytes += a.Size
		if !known {
			continue
		}
		n, ok, err := FileRecords(a.Stats, a.DeletionVector)
		if err != nil {
			return Counts{}, fmt.Errorf("read stats of %s: %w", a.Path, err)
		}
		known = ok
		records += n
	}
	if known {
		c.NumRecords = &records
	}
	return c, nil
}
