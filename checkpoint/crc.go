package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/deltaraster/deltaraster/delta"
)

// putCRC publishes a version checksum with put-if-absent: a .crc is never overwritten, and
// losing the race to another writer of the same version is success (both describe one state).
func putCRC(ctx context.Context, s delta.Store, v int64, c delta.CRC) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode %s: %w", delta.CRCKey(v), err)
	}
	if err := s.PutIfAbsent(ctx, delta.CRCKey(v), b); err != nil && !errors.Is(err, delta.ErrExist) {
		return err
	}
	return nil
}

// writeCRCFromFold writes the checkpoint version's .crc from what the checkpoint folded.
func writeCRCFromFold(ctx context.Context, s delta.Store, snap *delta.Snapshot, f *fold, res Result) error {
	return putCRC(ctx, s, snap.Version(), delta.CRC{
		TableSizeBytes: res.TableSizeBytes, NumFiles: res.NumAddFiles, NumMetadata: 1, NumProtocol: 1,
		Metadata: snap.Metadata(), Protocol: snap.Protocol(), SetTransactions: f.txns, DomainMetadata: f.domains,
	})
}

// WriteIncrementalCRC writes the .crc of a commit that just landed from the previous
// version's .crc and the commit's actions, without reading the file list. Version 0 needs no
// predecessor. It writes nothing (and returns nil) when the previous .crc is missing or
// malformed, or when a remove does not carry its size.
//
// It relies on what every commit of this library satisfies: an add names a file that is not
// live yet (new files get fresh names), so each add counts once.
func WriteIncrementalCRC(ctx context.Context, c delta.Committed) error {
	var state delta.CRC
	if c.Version > 0 {
		prev, ok, err := delta.ReadCRC(ctx, c.Store, c.Version-1)
		if err != nil || !ok {
			return err
		}
		state = prev
	} else {
		state = delta.CRC{NumMetadata: 1, NumProtocol: 1}
	}
	txns := map[string]delta.SetTransaction{}
	for _, t := range state.SetTransactions {
		txns[t.AppID] = t
	}
	domains := map[string]delta.DomainMetadata{}
	for _, d := range state.DomainMetadata {
		domains[d.Domain] = d
	}
	state.TxnID = ""
	for _, a := range c.Actions {
		switch {
		case a.Add != nil:
			state.NumFiles++
			state.TableSizeBytes += a.Add.Size
		case a.Remove != nil:
			if a.Remove.Size == nil {
				slog.Debug("no incremental crc: a remove has no size", "table", c.Store.URL(), "version", c.Version)
				return nil
			}
			state.NumFiles--
			state.TableSizeBytes -= *a.Remove.Size
		case a.Metadata != nil:
			state.Metadata = *a.Metadata
		case a.Protocol != nil:
			state.Protocol = *a.Protocol
		case a.Txn != nil:
			txns[a.Txn.AppID] = *a.Txn
		case a.DomainMetadata != nil:
			if a.DomainMetadata.Removed {
				delete(domains, a.DomainMetadata.Domain)
			} else {
				domains[a.DomainMetadata.Domain] = *a.DomainMetadata
			}
		case a.CommitInfo != nil:
			state.TxnID, _ = a.CommitInfo.String("txnId")
			if ict, ok := a.CommitInfo.Int("inCommitTimestamp"); ok {
				state.InCommitTimestampOpt = &ict
			}
		}
	}
	if state.NumFiles < 0 || state.TableSizeBytes < 0 || state.Metadata.ID == "" {
		slog.Warn("no incremental crc: the previous one does not match the log", "table", c.Store.URL(), "version", c.Version)
		return nil
	}
	state.SetTransactions = state.SetTransactions[:0]
	for _, id := range slices.Sorted(maps.Keys(txns)) {
		state.SetTransactions = append(state.SetTransactions, txns[id])
	}
	state.DomainMetadata = state.DomainMetadata[:0]
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		state.DomainMetadata = append(state.DomainMetadata, domains[d])
	}
	return putCRC(ctx, c.Store, c.Version, state)
}
