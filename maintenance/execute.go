package maintenance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// maxCommitAttempts bounds how often one step is re-checked and committed again after its
// commit conflicts (each time, the bins whose files were removed meanwhile are dropped).
const maxCommitAttempts = 20

// cleanupTimeout bounds the deletes of files written but not committed, after a failure.
const cleanupTimeout = 30 * time.Second

// executor is the state of one Execute.
type executor struct {
	store       delta.Store
	plan        *OptimizePlan
	opts        *OptimizeOptions
	target      int64
	clusterPath []string

	checked int64          // commits up to this version were checked for removes of planned files
	planned map[string]int // store key of each file of a bin not yet committed -> bin index
	dropped []bool         // bins dropped: one of their files was removed by another commit
	metrics OptimizeMetrics

	bytesRead    int64
	bytesWritten int64
	binsDone     int
}

// Execute writes the planned bins and commits them: removes of the merged files and adds of
// the new ones, all with dataChange=false, in one commit or in steps (CommitEveryBins,
// CommitEveryBytes). Rows stream through a batch at a time; memory holds one input file when
// it is small (WholeFileBytes) or a page per column when not, plus one row group of output
// (RowGroupBytes), and when clustering, MaxFanIn such inputs.
//
// Concurrent appends never make it fail. Before each bin and each commit, the commits made
// since the plan are read; a bin with a file another commit removed is dropped (its files,
// if written, are deleted) and the rest goes on. A concurrent change of the protocol or
// metadata stops it with ErrTableChanged. Committed steps stay committed when a later one
// fails; files written and not committed are deleted when that is safe (the commit surely did
// not land), else left for vacuum.
func (p *OptimizePlan) Execute(ctx context.Context) (OptimizeMetrics, error) {
	start := time.Now()
	ex := &executor{
		store: p.store, plan: p, opts: &p.opts, target: p.target, checked: p.version,
		planned: map[string]int{}, dropped: make([]bool, len(p.bins)), metrics: p.metrics,
	}
	if p.opts.ClusterBy != "" {
		ex.clusterPath = strings.Split(p.opts.ClusterBy, ".")
	}
	for i, b := range p.bins {
		for _, a := range b.Files {
			k, err := delta.FileKey(a.Path)
			if err != nil {
				return ex.metrics, err
			}
			ex.planned[k] = i
		}
	}
	err := ex.run(ctx)
	ex.metrics.Duration = p.metrics.Duration + time.Since(start)
	return ex.metrics, err
}

func (ex *executor) run(ctx context.Context) error {
	var step []*binResult
	var stepBytes int64
	fail := func(err error) error {
		ex.cleanup(ctx, step)
		return err
	}
	for i := range ex.plan.bins {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("optimize %s: %w", ex.store.URL(), err))
		}
		if ex.dropped[i] {
			continue
		}
		// Skip a bin whose files were removed since the plan, before writing anything.
		latest, err := latestCommit(ctx, ex.store, ex.checked)
		if err != nil {
			return fail(err)
		}
		if err := ex.catchUp(ctx, latest); err != nil {
			return fail(err)
		}
		if ex.dropped[i] {
			continue
		}
		res, err := ex.rewriteBin(ctx, i)
		if err != nil {
			ex.cleanup(ctx, []*binResult{res})
			return fail(fmt.Errorf("optimize %s: bin %d: %w", ex.store.URL(), i, err))
		}
		ex.binsDone++
		ex.progress()
		step = append(step, res)
		stepBytes += res.bytes
		if (ex.opts.CommitEveryBins > 0 && len(step) >= ex.opts.CommitEveryBins) ||
			(ex.opts.CommitEveryBytes > 0 && stepBytes >= ex.opts.CommitEveryBytes) {
			err := ex.commit(ctx, step)
			step, stepBytes = nil, 0
			if err != nil {
				return err
			}
		}
	}
	return ex.commit(ctx, step)
}

// catchUp reads the commits after the last one checked, up to version upTo, and drops the
// bins whose files they remove. A protocol or metadata change is ErrTableChanged.
func (ex *executor) catchUp(ctx context.Context, upTo int64) error {
	for c, err := range delta.CommitsAfter(ctx, ex.store, ex.checked, delta.ThroughVersion(upTo)) {
		if err != nil {
			return err
		}
		for a, err := range c.Actions() {
			if err != nil {
				return err
			}
			switch {
			case a.Protocol != nil, a.Metadata != nil:
				return fmt.Errorf("optimize %s: version %d: %w", ex.store.URL(), c.Version, ErrTableChanged)
			case a.Remove != nil:
				k, err := delta.FileKey(a.Remove.Path)
				if err != nil {
					continue // not a file of ours; the snapshot reader reports such paths
				}
				if i, ok := ex.planned[k]; ok && !ex.dropped[i] {
					ex.dropped[i] = true
					ex.metrics.BinsDropped++
				}
			}
		}
		ex.checked = c.Version
	}
	return nil
}

// commit commits the bins of a step that are still valid. On a conflict it reads the winning
// commits, drops the bins they invalidate and tries again at the new version.
func (ex *executor) commit(ctx context.Context, step []*binResult) error {
	for attempt := 1; ; attempt++ {
		live := ex.liveBins(ctx, step)
		if len(live) == 0 {
			return nil
		}
		txn, err := delta.Begin(ctx, ex.store, ex.opts.Txn)
		if err != nil {
			ex.cleanup(ctx, live) // nothing was committed yet
			return fmt.Errorf("optimize %s: %w", ex.store.URL(), err)
		}
		if err := ex.catchUp(ctx, txn.ReadVersion()); err != nil {
			ex.cleanup(ctx, ex.liveBins(ctx, step))
			return err
		}
		live = ex.liveBins(ctx, step)
		if len(live) == 0 {
			return nil
		}
		now := ex.opts.Now().UnixMilli()
		var nRemoved, nAdded, bRemoved, bAdded, rows int64
		for _, r := range live {
			for _, a := range r.removes {
				ts := now
				ext := true
				size := a.Size
				txn.Remove(&delta.Remove{
					Path: a.Path, DeletionTimestamp: &ts, DataChange: false, ExtendedFileMetadata: &ext,
					PartitionValues: a.PartitionValues, Size: &size, Stats: a.Stats, Tags: a.Tags,
					BaseRowID: a.BaseRowID, DefaultRowCommitVersion: a.DefaultRowCommitVersion,
				})
				nRemoved++
				bRemoved += a.Size
			}
			for _, a := range r.adds {
				txn.Add(a)
				nAdded++
				bAdded += a.Size
			}
			rows += r.rows
		}
		params := map[string]any{"predicate": "[]", "zOrderBy": "[]", "targetSize": ex.target, "auto": false}
		if ex.opts.ClusterBy != "" {
			params["clusterBy"] = []string{ex.opts.ClusterBy}
		}
		txn.SetOperationMetrics(map[string]int64{"numRemovedFiles": nRemoved, "numRemovedBytes": bRemoved,
			"numAddedFiles": nAdded, "numAddedBytes": bAdded, "numOutputRows": rows})
		v, err := txn.Commit(ctx, "OPTIMIZE", params)
		if v >= 0 {
			// The commit landed (err, if any, is from the post-commit hook).
			for _, r := range live {
				for _, a := range r.removes {
					if k, kerr := delta.FileKey(a.Path); kerr == nil {
						delete(ex.planned, k)
					}
				}
				r.keys = nil // committed: never clean these up
			}
			m := &ex.metrics
			m.Versions = append(m.Versions, v)
			m.BinsCommitted += len(live)
			m.FilesRemoved += nRemoved
			m.BytesRemoved += bRemoved
			m.FilesAdded += nAdded
			m.BytesAdded += bAdded
			m.Rows += rows
			for _, r := range live {
				m.FilesKept += r.kept
			}
			ex.progress()
			if err != nil {
				return fmt.Errorf("optimize %s: %w", ex.store.URL(), err)
			}
			return nil
		}
		if errors.Is(err, delta.ErrConflict) && attempt < maxCommitAttempts {
			continue // the next round reads the winners and drops what they invalidate
		}
		if errors.Is(err, delta.ErrConflict) {
			ex.cleanup(ctx, live) // a conflict means the commit did not land
		}
		// Any other error leaves the outcome of the put unknown: the files stay for vacuum.
		return fmt.Errorf("optimize %s: %w", ex.store.URL(), err)
	}
}

// liveBins returns the results of step whose bins are not dropped, cleaning up the others.
func (ex *executor) liveBins(ctx context.Context, step []*binResult) []*binResult {
	var live, gone []*binResult
	for _, r := range step {
		if ex.dropped[r.index] {
			gone = append(gone, r)
		} else {
			live = append(live, r)
		}
	}
	ex.cleanup(ctx, gone)
	return live
}

// cleanup deletes the files of results that were never committed, best effort: a file left
// behind is an orphan that vacuum removes once it is older than the retention.
func (ex *executor) cleanup(ctx context.Context, rs []*binResult) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for _, r := range rs {
		if r == nil {
			continue
		}
		for _, k := range r.keys {
			_ = ex.store.Delete(cctx, k)
		}
		r.keys = nil
	}
}

func (ex *executor) progress() {
	if ex.opts.Progress == nil {
		return
	}
	ex.opts.Progress(OptimizeProgress{
		BinsDone: ex.binsDone, BinsTotal: len(ex.plan.bins), BytesRead: ex.bytesRead,
		BytesWritten: ex.bytesWritten, CommittedBins: ex.metrics.BinsCommitted,
	})
}
