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

// crcRollForward is how many versions back WriteIncrementalCRC looks for a .crc to roll
// forward from when the previous version has none.
const crcRollForward = 10

// WriteIncrementalCRC writes the .crc of a commit that just landed. Version 0 needs no
// predecessor. Otherwise, in order of cost:
//   - from the previous version's .crc and the commit's actions, without reading the file
//     list (the usual case);
//   - when that .crc is missing or malformed (a writer killed between its commit and its .crc,
//     or still about to write it): from the newest .crc of the crcRollForward versions before,
//     rolled forward through the commits in between, when every one of them was written by
//     this library (a few small reads);
//   - else from a replay of the snapshot at the version: streamed, so in the bounded memory of
//     any snapshot read (the checkpoint in batches, the commits after it), and taking the time
//     of a file listing of the table. It happens once: the next commit finds this .crc.
//
// So a missing .crc never stays missing for every later commit. Nothing is derived from a
// malformed .crc. It writes nothing (and returns nil) when a remove of the commit does not
// carry its size or the result does not match the log; a .crc already there is kept.
//
// Rolling forward relies on what every commit of this library satisfies: an add names a file
// that is not live yet (new files get fresh names), so each add counts once.
func WriteIncrementalCRC(ctx context.Context, c delta.Committed) error {
	if c.Version == 0 {
		f := newCRCFold(delta.CRC{NumMetadata: 1, NumProtocol: 1}, -1)
		return f.finish(ctx, c)
	}
	prev, ok, err := delta.ReadCRC(ctx, c.Store, c.Version-1)
	if err != nil {
		return err
	}
	if ok {
		return newCRCFold(prev, c.Version-1).finish(ctx, c)
	}
	f, ok, err := rollForward(ctx, c.Store, c.Version)
	if err != nil {
		return err
	}
	if ok {
		return f.finish(ctx, c)
	}
	return writeCRCFromReplay(ctx, c)
}

// crcFold applies commits to a version checksum.
type crcFold struct {
	state   delta.CRC
	txns    map[string]delta.SetTransaction
	domains map[string]delta.DomainMetadata
	lost    string // why the state cannot be carried on, "" while it can
	// records is the row count of the live files while recordsKnown: it stays known while
	// every add and remove applied has numRecords in its stats.
	records      int64
	recordsKnown bool
}

// newCRCFold starts from prev, the .crc of version prevVersion (-1 for the empty table before
// version 0).
func newCRCFold(prev delta.CRC, prevVersion int64) *crcFold {
	f := &crcFold{state: prev, txns: map[string]delta.SetTransaction{}, domains: map[string]delta.DomainMetadata{}}
	if prevVersion < 0 {
		f.recordsKnown = true
	} else {
		f.records, f.recordsKnown = prev.NumRecords(prevVersion)
	}
	f.state.DeltaRaster = nil
	for _, t := range prev.SetTransactions {
		f.txns[t.AppID] = t
	}
	for _, d := range prev.DomainMetadata {
		f.domains[d.Domain] = d
	}
	f.startCommit()
	return f
}

// startCommit clears what belongs to one commit only.
func (f *crcFold) startCommit() {
	f.state.TxnID = ""
	f.state.InCommitTimestampOpt = nil
}

func (f *crcFold) apply(a delta.Action) {
	switch {
	case a.Add != nil:
		f.state.NumFiles++
		f.state.TableSizeBytes += a.Add.Size
		f.addRecords(a.Add.Stats, a.Add.DeletionVector, 1)
	case a.Remove != nil:
		if a.Remove.Size == nil {
			f.lost = "a remove has no size"
			return
		}
		f.state.NumFiles--
		f.state.TableSizeBytes -= *a.Remove.Size
		f.addRecords(a.Remove.Stats, a.Remove.DeletionVector, -1)
	case a.Metadata != nil:
		f.state.Metadata = *a.Metadata
	case a.Protocol != nil:
		f.state.Protocol = *a.Protocol
	case a.Txn != nil:
		f.txns[a.Txn.AppID] = *a.Txn
	case a.DomainMetadata != nil:
		if a.DomainMetadata.Removed {
			delete(f.domains, a.DomainMetadata.Domain)
		} else {
			f.domains[a.DomainMetadata.Domain] = *a.DomainMetadata
		}
	case a.CommitInfo != nil:
		f.state.TxnID, _ = a.CommitInfo.String("txnId")
		if ict, ok := a.CommitInfo.Int("inCommitTimestamp"); ok {
			f.state.InCommitTimestampOpt = &ict
		}
	}
}

// addRecords adds (sign 1) or takes away (sign -1) the rows of a file; a file whose stats have
// no numRecords makes the count unknown.
func (f *crcFold) addRecords(stats string, dv *delta.DeletionVector, sign int64) {
	if !f.recordsKnown {
		return
	}
	n, ok, err := delta.FileRecords(stats, dv)
	if err != nil || !ok {
		f.recordsKnown = false
		return
	}
	f.records += sign * n
}

// finish applies the commit c and writes its .crc.
func (f *crcFold) finish(ctx context.Context, c delta.Committed) error {
	f.startCommit()
	for _, a := range c.Actions {
		f.apply(a)
	}
	if f.lost != "" {
		slog.Debug("no incremental crc: "+f.lost, "table", c.Store.URL(), "version", c.Version)
		return nil
	}
	st := f.state
	if st.NumFiles < 0 || st.TableSizeBytes < 0 || st.Metadata.ID == "" {
		slog.Warn("no incremental crc: the previous one does not match the log", "table", c.Store.URL(), "version", c.Version)
		return nil
	}
	st.SetTransactions = make([]delta.SetTransaction, 0, len(f.txns))
	for _, id := range slices.Sorted(maps.Keys(f.txns)) {
		st.SetTransactions = append(st.SetTransactions, f.txns[id])
	}
	st.DomainMetadata = make([]delta.DomainMetadata, 0, len(f.domains))
	for _, d := range slices.Sorted(maps.Keys(f.domains)) {
		st.DomainMetadata = append(st.DomainMetadata, f.domains[d])
	}
	st.DeltaRaster = nil
	if f.recordsKnown && f.records >= 0 {
		st.DeltaRaster = &delta.CRCExtension{Version: c.Version, NumRecords: f.records}
	}
	return putCRC(ctx, c.Store, c.Version, st)
}

// rollForward finds the newest .crc among the crcRollForward versions before v-1 and applies
// the commits after it up to v-1. ok is false when there is none, or when a commit in between
// was not written by this library (its adds may re-add a live file) or cannot be applied.
func rollForward(ctx context.Context, s delta.Store, v int64) (*crcFold, bool, error) {
	for p := v - 2; p >= 0 && p >= v-1-crcRollForward; p-- {
		prev, ok, err := delta.ReadCRC(ctx, s, p)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		f := newCRCFold(prev, p)
		for c, err := range delta.CommitsAfter(ctx, s, p, delta.ThroughVersion(v-1)) {
			if err != nil {
				return nil, false, fmt.Errorf("roll the .crc of version %d forward: %w", p, err)
			}
			f.startCommit()
			ours := false
			for a, err := range c.Actions() {
				if err != nil {
					return nil, false, fmt.Errorf("roll the .crc of version %d forward: %w", p, err)
				}
				if a.CommitInfo != nil {
					e, _ := a.CommitInfo.String("engineInfo")
					ours = e == delta.EngineInfo
				}
				f.apply(a)
			}
			if !ours || f.lost != "" {
				return nil, false, nil
			}
		}
		return f, true, nil
	}
	return nil, false, nil
}

// writeCRCFromReplay writes the .crc of c from the snapshot at its version, streamed.
func writeCRCFromReplay(ctx context.Context, c delta.Committed) error {
	snap, err := delta.Open(ctx, c.Store, delta.AtVersion(c.Version))
	if err != nil {
		return fmt.Errorf("replay version %d for its .crc: %w", c.Version, err)
	}
	st := delta.CRC{NumMetadata: 1, NumProtocol: 1, Metadata: snap.Metadata(), Protocol: snap.Protocol()}
	// Counted here rather than with Snapshot.CountFiles, which fails on a file whose stats do
	// not decode (info names the file): a .crc only leaves the row count out for it.
	var records int64
	recordsKnown := true
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return fmt.Errorf("replay version %d for its .crc: %w", c.Version, err)
		}
		st.NumFiles++
		st.TableSizeBytes += a.Size
		if recordsKnown {
			n, ok, err := delta.FileRecords(a.Stats, a.DeletionVector)
			recordsKnown = ok && err == nil
			records += n
		}
	}
	if recordsKnown {
		st.DeltaRaster = &delta.CRCExtension{Version: c.Version, NumRecords: records}
	}
	txns, domains, err := snap.TxnsAndDomains(ctx)
	if err != nil {
		return fmt.Errorf("replay version %d for its .crc: %w", c.Version, err)
	}
	for _, id := range slices.Sorted(maps.Keys(txns)) {
		st.SetTransactions = append(st.SetTransactions, txns[id])
	}
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		st.DomainMetadata = append(st.DomainMetadata, domains[d])
	}
	f := newCRCFold(delta.CRC{}, -1)
	for _, a := range c.Actions {
		if a.CommitInfo != nil {
			f.apply(a)
		}
	}
	st.TxnID, st.InCommitTimestampOpt = f.state.TxnID, f.state.InCommitTimestampOpt
	slog.Info("wrote a .crc from a replay: the previous version had none", "table", c.Store.URL(), "version", c.Version, "files", st.NumFiles)
	return putCRC(ctx, c.Store, c.Version, st)
}
