package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/deltaraster/deltaraster/delta"
)

// Options are the settings of a checkpoint writer; zero fields take the defaults.
type Options struct {
	// BatchRows is how many rows are read and written at once (default 4096).
	BatchRows int
	// RowGroupBytes cuts row groups at this many encoded bytes (default 8 MiB). The current
	// row group is held in memory, encoded, until it is cut.
	RowGroupBytes int64
	// Now is the clock for retention (default time.Now).
	Now func() time.Time
	// Format forces a format; FormatAuto (default) writes V2 exactly when the table has the
	// v2Checkpoint feature.
	Format Format
	// Sidecars is the number of V2 sidecar files written in parallel (default 2).
	Sidecars int
	// Progress, when set, is called with the number of file actions written so far, every
	// batch.
	Progress func(files int64)
	// SoftMemoryLimit, when set, puts a soft memory limit on the Go runtime while Write runs
	// (runtime/debug.SetMemoryLimit), restored when it returns: the memory the runtime held
	// for itself and for live objects when the checkpoint started, plus what the writer may
	// hold at once with these options (twice RowGroupBytes, 4 KiB a row of BatchRows, 24 MiB;
	// 56 MiB with the defaults), raised if the heap found live comes close to it. Without it
	// the collector lets the heap grow to twice what its last mark found live, and that
	// figure swings with the collector's timing, so the peak wanders and a long checkpoint
	// meets its worst cycles more often. The limit is soft: the collector runs more often
	// near it but never fails an allocation. Nothing is set when a limit is already in
	// force (GOMEMLIMIT, or the program's own debug.SetMemoryLimit). The setting is
	// process-wide: other work of the program at the same time runs under it too, with more
	// collections (ingestd, which decodes its next batch while the checkpoint runs, measured
	// about 10% more CPU over a run, and its memory during checkpoints 1.03x the median
	// instead of 1.24x). deltactl checkpoint and ingestd set it.
	SoftMemoryLimit bool
}

// DefaultRowGroupBytes is the default Options.RowGroupBytes. Until 2026-12 the default was
// 16 MiB, counted twice (see pqFile.writeRecord): the row groups written are the same.
const DefaultRowGroupBytes = 8 << 20

// Format is a checkpoint format.
type Format int

// The checkpoint formats this package writes. Multi-part is read, never written: the protocol
// deprecates it.
const (
	FormatAuto Format = iota
	FormatClassic
	FormatV2
)

func (o *Options) fill() {
	if o.BatchRows <= 0 {
		o.BatchRows = delta.DefaultBatchRows
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sidecars <= 0 {
		o.Sidecars = 2
	}
}

// Result describes a written checkpoint.
type Result struct {
	Version        int64    `json:"version"`
	Format         string   `json:"format"` // "classic" or "v2"
	Keys           []string `json:"files"`  // every object written, top-level file last
	Actions        int64    `json:"actions"`
	NumAddFiles    int64    `json:"numAddFiles"`
	NumTombstones  int64    `json:"numTombstones"`
	TableSizeBytes int64    `json:"tableSizeBytes"`
	SizeInBytes    int64    `json:"sizeInBytes"` // bytes of checkpoint files
	DroppedRemoves int64    `json:"droppedTombstones"`
	DroppedTxns    int64    `json:"droppedTxns"`
	// CopiedRows counts the file actions copied from the previous checkpoint as Arrow columns
	// rather than decoded and rebuilt.
	CopiedRows int64 `json:"copiedRows"`
	// Existing is set when a classic checkpoint of the version was already there, or another
	// checkpointer published one while this one was writing: checkpoint files are never
	// replaced (a reader may be reading one), so that file is kept and only the hint is
	// brought up to date; the counts above are then unknown (-1), except Actions and
	// SizeInBytes.
	Existing bool          `json:"existing,omitempty"`
	Duration time.Duration `json:"-"`
}

// Write writes a checkpoint of the table at version (the latest when version < 0), then
// _last_checkpoint and, when missing, the version's .crc. It streams: the previous checkpoint
// is read in batches of BatchRows rows and rows go out in row groups of RowGroupBytes; nothing
// holds the file list.
func Write(ctx context.Context, s delta.Store, version int64, o Options) (Result, error) {
	o.fill()
	start := time.Now()
	if o.SoftMemoryLimit {
		g := startSoftLimit(o)
		defer g.stop()
		progress := o.Progress
		o.Progress = func(files int64) {
			g.check()
			if progress != nil {
				progress(files)
			}
		}
	}
	opts := []delta.SnapshotOption{delta.WithBatchRows(o.BatchRows)}
	if version >= 0 {
		opts = append(opts, delta.AtVersion(version))
	}
	snap, err := delta.Open(ctx, s, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("checkpoint: %w", err)
	}
	v2 := o.Format == FormatV2 || (o.Format == FormatAuto && hasV2Feature(snap.Protocol()))
	if v2 && !hasV2Feature(snap.Protocol()) {
		return Result{}, fmt.Errorf("checkpoint %s at version %d: a V2 checkpoint needs the v2Checkpoint feature (enable it first)", s.URL(), snap.Version())
	}
	if !v2 {
		// An existing classic checkpoint is left as it is (a reader may be reading it): only
		// the hint is brought up to date, and nothing of the log need be read.
		if res, ok, err := useExisting(ctx, s, snap.Version(), start); ok || err != nil {
			return res, err
		}
	}
	f, err := newFold(ctx, snap, o)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if v2 {
		res, err = writeV2(ctx, s, snap, f, o)
	} else {
		res, err = writeClassic(ctx, s, snap, f, o)
		if errors.Is(err, delta.ErrExist) {
			// Another checkpointer published the classic checkpoint of this version while
			// this one was writing it: that file is as valid as this one would have been.
			if res, ok, err := useExisting(ctx, s, snap.Version(), start); ok || err != nil {
				return res, err
			}
			return Result{}, fmt.Errorf("checkpoint %s at version %d: %s was published by another writer and then removed", s.URL(), snap.Version(), delta.CheckpointKey(snap.Version()))
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("checkpoint %s at version %d: %w", s.URL(), snap.Version(), err)
	}
	res.Duration = time.Since(start)
	if err := writeLastCheckpoint(ctx, s, res, f.schemaJSON); err != nil {
		return res, fmt.Errorf("checkpoint %s at version %d: %w", s.URL(), snap.Version(), err)
	}
	if err := writeCRCFromFold(ctx, s, snap, f, res); err != nil {
		return res, fmt.Errorf("checkpoint %s at version %d: %w", s.URL(), snap.Version(), err)
	}
	return res, nil
}

// useExisting reports the classic checkpoint of version v when it exists, after pointing the
// hint at it. A checkpoint there that cannot be read is an error naming it, never a reason to
// write over it.
func useExisting(ctx context.Context, s delta.Store, v int64, start time.Time) (Result, bool, error) {
	res, ok, err := existingClassic(ctx, s, v, delta.CheckpointKey(v))
	if err != nil {
		return Result{}, false, fmt.Errorf("checkpoint %s at version %d: %w", s.URL(), v, err)
	}
	if !ok {
		return Result{}, false, nil
	}
	res.Duration = time.Since(start)
	if err := writeLastCheckpoint(ctx, s, res, nil); err != nil {
		return res, true, fmt.Errorf("checkpoint %s at version %d: %w", s.URL(), v, err)
	}
	return res, true, nil
}

func hasV2Feature(p delta.Protocol) bool {
	return p.MinReaderVersion >= 3 && slices.Contains(p.ReaderFeatures, "v2Checkpoint")
}

// fold is what a checkpoint holds besides the file list: protocol, metadata, app transactions
// and domain metadata (small), and the retention cutoffs for the file list.
type fold struct {
	snap          *delta.Snapshot
	txns          []delta.SetTransaction
	domains       []delta.DomainMetadata
	tombstoneFrom int64 // removes deleted before this (ms) are dropped
	droppedTxns   int64
	stats         *statsBuilder
	schemaJSON    json.RawMessage
}

func newFold(ctx context.Context, snap *delta.Snapshot, o Options) (*fold, error) {
	now := o.Now()
	f := &fold{snap: snap}
	ret, err := snap.Metadata().DeletedFileRetention()
	if err != nil {
		return nil, err
	}
	f.tombstoneFrom = now.Add(-ret).UnixMilli()
	txnFrom := int64(-1)
	if d, ok, err := snap.Metadata().SetTransactionRetention(); err != nil {
		return nil, err
	} else if ok {
		txnFrom = now.Add(-d).UnixMilli()
	}
	txns, domains, err := snap.TxnsAndDomains(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(txns)) {
		t := txns[id]
		if txnFrom >= 0 && t.LastUpdated != nil && *t.LastUpdated < txnFrom {
			f.droppedTxns++
			continue
		}
		f.txns = append(f.txns, t)
	}
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		f.domains = append(f.domains, domains[d])
	}
	if snap.Config("delta.checkpoint.writeStatsAsStruct", "false") == "true" {
		schema, err := snap.Metadata().Schema()
		if err != nil {
			return nil, err
		}
		if f.stats, err = newStatsBuilder(schema, snap.Metadata().PartitionColumns); err != nil {
			return nil, fmt.Errorf("stats_parsed of table %s: %w", snap.Metadata().ID, err)
		}
	}
	return f, nil
}

// addStruct is the add column type for this table, and records where the parsed columns are.
func (f *fold) addStruct() *arrow.StructType {
	if f.stats == nil {
		return addType(nil, nil)
	}
	var t *arrow.StructType
	if f.stats.partsType != nil {
		t = addType(f.stats.statsType, f.stats.partsType)
		f.stats.partIdx = t.NumFields() - 2
	} else {
		t = addType(f.stats.statsType, nil)
		f.stats.partIdx = -1
	}
	f.stats.statsIdx = t.NumFields() - 1
	return t
}

// passer is the column copier for a file of this schema.
func (f *fold) passer(schema *arrow.Schema) *passer {
	p := &passer{f: f}
	for _, fld := range schema.Fields() {
		switch fld.Name {
		case "add":
			p.addT = fld.Type
		case "remove":
			p.removeT = fld.Type
		}
	}
	return p
}

// nonFileActions are the rows before the file list, in the order Spark writes them.
func (f *fold) nonFileActions() []delta.Action {
	p, m := f.snap.Protocol(), f.snap.Metadata()
	out := []delta.Action{{Protocol: &p}, {Metadata: &m}}
	for i := range f.txns {
		out = append(out, delta.Action{Txn: &f.txns[i]})
	}
	for i := range f.domains {
		out = append(out, delta.Action{DomainMetadata: &f.domains[i]})
	}
	return out
}

// counts accumulates what the checkpoint holds of the file list.
type counts struct {
	adds, tombstones, tableBytes, dropped int64
	copied                                int64
}

// keep applies tombstone retention and counts; it reports whether the action is written.
func (f *fold) keep(a delta.Action, c *counts) bool {
	if a.Remove != nil {
		ts := int64(0)
		if a.Remove.DeletionTimestamp != nil {
			ts = *a.Remove.DeletionTimestamp
		}
		if ts < f.tombstoneFrom {
			c.dropped++
			return false
		}
		c.tombstones++
		return true
	}
	c.adds++
	c.tableBytes += a.Add.Size
	return true
}

func writeClassic(ctx context.Context, s delta.Store, snap *delta.Snapshot, f *fold, o Options) (Result, error) {
	key := delta.CheckpointKey(snap.Version())
	schema := schemaFor(classicFile, f.addStruct())
	pf, err := newPQFile(ctx, s, key, schema, f.stats, o)
	if err != nil {
		return Result{}, err
	}
	for _, a := range f.nonFileActions() {
		if err := pf.add(a); err != nil {
			pf.abort()
			return Result{}, err
		}
	}
	var c counts
	pass := f.passer(schema)
	progress := func() {
		if o.Progress != nil {
			o.Progress(c.adds + c.tombstones)
		}
	}
	err = snap.FileActionBatches(ctx, func(a delta.Action) error {
		if !f.keep(a, &c) {
			return nil
		}
		if (c.adds+c.tombstones)%int64(o.BatchRows) == 0 {
			progress()
		}
		return pf.add(a)
	}, func(b delta.CheckpointBatch) (bool, error) {
		ok, err := pass.copy(b, &c, pf.writeFiles)
		if ok && err == nil {
			progress()
		}
		return ok, err
	})
	if err != nil {
		pf.abort()
		return Result{}, err
	}
	n, err := pf.close()
	if err != nil {
		return Result{}, err
	}
	f.schemaJSON = schemaJSON(schema)
	return Result{Version: snap.Version(), Format: "classic", Keys: []string{key}, Actions: pf.actions,
		NumAddFiles: c.adds, NumTombstones: c.tombstones, TableSizeBytes: c.tableBytes, SizeInBytes: n,
		DroppedRemoves: c.dropped, DroppedTxns: f.droppedTxns, CopiedRows: c.copied}, nil
}

// writeV2 writes the file list into Sidecars Parquet sidecars in parallel (batches handed out
// round-robin, each sidecar encoded by its own goroutine), then the UUID-named top-level file
// holding checkpointMetadata, the non-file actions and one sidecar action per sidecar.
func writeV2(ctx context.Context, s delta.Store, snap *delta.Snapshot, f *fold, o Options) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addT := f.addStruct()
	// A piece is a batch of decoded actions or a run of copied rows (add and remove columns).
	type piece struct {
		acts        []delta.Action
		add, remove arrow.Array
		rows        int
	}
	type sidecarOut struct {
		key string
		pf  *pqFile
		in  chan piece
		err error
	}
	outs := make([]*sidecarOut, o.Sidecars)
	var wg sync.WaitGroup
	abortAll := func() {
		for _, so := range outs {
			if so != nil && so.pf != nil {
				so.pf.abort()
			}
		}
	}
	for i := range outs {
		key := delta.SidecarDir + uuid.NewString() + ".parquet"
		schema := schemaFor(sidecarFile, addT)
		pf, err := newPQFile(ctx, s, key, schema, f.stats, o)
		if err != nil {
			for _, so := range outs[:i] {
				close(so.in)
			}
			wg.Wait()
			abortAll()
			return Result{}, err
		}
		so := &sidecarOut{key: key, pf: pf, in: make(chan piece, 1)}
		outs[i] = so
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range so.in {
				if so.err == nil && p.acts == nil {
					so.err = so.pf.writeFiles(p.add, p.remove, p.rows)
				}
				release(p.add, p.remove)
				for _, a := range p.acts {
					if so.err != nil {
						break
					}
					so.err = so.pf.add(a)
				}
				if so.err != nil {
					cancel()
				}
			}
		}()
	}
	var c counts
	batch := make([]delta.Action, 0, o.BatchRows)
	next := 0
	send := func(p piece) error {
		select {
		case outs[next%len(outs)].in <- p:
		case <-ctx.Done():
			release(p.add, p.remove)
			return ctx.Err()
		}
		next++
		return nil
	}
	sendBatch := func() error {
		err := send(piece{acts: batch})
		batch = make([]delta.Action, 0, o.BatchRows)
		if o.Progress != nil {
			o.Progress(c.adds + c.tombstones)
		}
		return err
	}
	pass := f.passer(schemaFor(sidecarFile, addT))
	streamErr := snap.FileActionBatches(ctx, func(a delta.Action) error {
		if !f.keep(a, &c) {
			return nil
		}
		batch = append(batch, a)
		if len(batch) == o.BatchRows {
			return sendBatch()
		}
		return nil
	}, func(b delta.CheckpointBatch) (bool, error) {
		ok, err := pass.copy(b, &c, func(add, remove arrow.Array, n int) error {
			add, remove = retain(add), retain(remove) // the sidecar's goroutine releases them
			return send(piece{add: add, remove: remove, rows: n})
		})
		if ok && err == nil && o.Progress != nil {
			o.Progress(c.adds + c.tombstones)
		}
		return ok, err
	})
	if streamErr == nil && len(batch) > 0 {
		streamErr = sendBatch()
	}
	for _, so := range outs {
		close(so.in)
	}
	wg.Wait()
	// A sidecar's own failure comes first: it cancelled ctx, which the stream then reports.
	for _, so := range outs {
		if so.err != nil {
			streamErr = so.err
			break
		}
	}
	if streamErr == nil {
		streamErr = ctx.Err()
	}
	if streamErr != nil {
		abortAll()
		return Result{}, streamErr
	}
	res := Result{Version: snap.Version(), Format: "v2", NumAddFiles: c.adds, NumTombstones: c.tombstones,
		TableSizeBytes: c.tableBytes, DroppedRemoves: c.dropped, DroppedTxns: f.droppedTxns, CopiedRows: c.copied}
	var sidecars []delta.Sidecar
	now := time.Now().UnixMilli()
	for i, so := range outs {
		n, err := so.pf.close()
		so.pf = nil
		if err != nil {
			for _, rest := range outs[i+1:] {
				rest.pf.abort()
				rest.pf = nil
			}
			deleteKeys(ctx, s, res.Keys)
			return Result{}, err
		}
		res.Keys = append(res.Keys, so.key)
		res.SizeInBytes += n
		sidecars = append(sidecars, delta.Sidecar{Path: so.key[len(delta.SidecarDir):], SizeInBytes: n, ModificationTime: now})
	}
	res.Actions = c.adds + c.tombstones
	topKey := delta.LogFile{Kind: delta.KindUUIDCheckpoint, Version: snap.Version(), UUID: uuid.NewString(), Ext: "parquet"}.Key()
	topSchema := schemaFor(v2TopFile, addT)
	top, err := newPQFile(ctx, s, topKey, topSchema, nil, o)
	if err != nil {
		deleteKeys(ctx, s, res.Keys)
		return Result{}, err
	}
	rows := append([]delta.Action{{CheckpointMetadata: &delta.CheckpointMetadata{Version: snap.Version()}}}, f.nonFileActions()...)
	for i := range sidecars {
		rows = append(rows, delta.Action{Sidecar: &sidecars[i]})
	}
	for _, a := range rows {
		if err := top.add(a); err != nil {
			top.abort()
			deleteKeys(ctx, s, res.Keys)
			return Result{}, err
		}
	}
	n, err := top.close()
	if err != nil {
		deleteKeys(ctx, s, res.Keys)
		return Result{}, err
	}
	res.Actions += top.actions
	res.SizeInBytes += n
	res.Keys = append(res.Keys, topKey)
	f.schemaJSON = schemaJSON(topSchema)
	return res, nil
}

// deleteKeys removes sidecars a failed V2 checkpoint wrote; they are unreferenced, so a
// failure here only leaves garbage that log cleanup removes later.
func deleteKeys(ctx context.Context, s delta.Store, keys []string) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		_ = s.Delete(ctx, k)
	}
}
