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
// is logged as a warning and otherwise ignored, as the protocol allows.
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
	return c, true, nil
}
