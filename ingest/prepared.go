package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// Prepared is a batch whose data files are written and not yet committed: Ingest split in
// two, so that a caller can decode and write the next batch while this one commits (the
// ingest daemon does). Prepare plans the batch against the table's latest version, checks
// every source and writes the data files; Commit commits them, or Abort gives them up.
//
// A table that moved on between the two (another batch of the same writer committed, or
// another writer appended) is checked at Commit, before the first commit try: when the commits made
// meanwhile touch none of the batch's sources and none of the files it rewrites, and change
// neither protocol nor metadata, the plan holds at the newer version and the same files are
// committed there; otherwise the batch is planned again, as Ingest does after a conflict.
//
// A Prepared is for one goroutine at a time; it may be handed from one goroutine to another.
type Prepared struct {
	in   *ingestion
	done bool
}

// Prepare does the first part of Ingest: everything but the commit. It returns while the last
// data file is still being encoded, in the background (Commit, Abort and Summary wait for it),
// so that a caller overlapping batches decodes the next one meanwhile. On error nothing is
// committed and nothing is left to commit or abort; the error is one Ingest would return (a
// *SourceError naming a failing source, an *UncommittedError listing files written). Summary
// then describes what was done.
func Prepare(ctx context.Context, store delta.Store, sources []string, opts Options) (*Prepared, error) {
	b := &Prepared{in: &ingestion{start: time.Now(), sum: &Summary{Version: -1, AppVersion: -1}}}
	if err := opts.fill(); err != nil {
		b.done = true
		return b, err
	}
	in := b.in
	in.store, in.opts, in.now = store, &opts, opts.Now()
	in.stores = stores{opts: opts.StoreOptions}
	in.sum.AppID = opts.AppID
	initGDAL(opts.CacheMaxBytes)
	if len(sources) == 0 {
		b.done = true
		return b, errors.New("ingest: no sources")
	}
	err := in.prepare(ctx, sources)
	in.stores.close() // the sources are read: the commit needs none of them
	if err != nil {
		b.release()
		return b, err
	}
	return b, nil
}

// Summary is what the batch holds so far: after Prepare, the sources and the files written
// (Committed false); after Commit, as Commit returned it.
func (b *Prepared) Summary() Summary {
	if !b.done && b.in.w != nil {
		_ = b.in.w.wait() // the last data file (see Prepare)
	}
	s := *b.in.sum
	s.Duration = time.Since(b.in.start)
	if b.done {
		s.Duration = b.in.sum.Duration
	}
	return s
}

// Empty reports whether the batch has nothing to commit (every source is in the table at
// its version already).
func (b *Prepared) Empty() bool { return b.in.plan == nil }

// Commit commits the batch's data files (and removes the files it rewrites) in one commit with
// the app transaction, as Ingest does; a batch with nothing to commit returns its summary. A
// Prepared commits once.
func (b *Prepared) Commit(ctx context.Context) (Summary, error) {
	return b.commit(ctx, true)
}

func (b *Prepared) commit(ctx context.Context, rebaseFirst bool) (Summary, error) {
	if b.done {
		return b.Summary(), fmt.Errorf("ingest into %s: this batch was already committed or given up", b.in.store.URL())
	}
	b.in.rebaseFirst = rebaseFirst
	err := b.in.finish(ctx)
	b.release()
	return *b.in.sum, err
}

// Abort gives the batch up: nothing is committed, and the data files written for it are left
// as orphans for vacuum; they are listed in the *UncommittedError returned (nil when none were
// written). Abort after Commit does nothing.
func (b *Prepared) Abort() error {
	if b.done {
		return nil
	}
	var err error
	if b.in.w != nil && b.in.plan != nil {
		if paths := b.in.w.paths(); len(paths) > 0 {
			err = &UncommittedError{Files: paths, Err: errors.New("ingest: the batch was given up before its commit")}
		}
	}
	b.release()
	return err
}

func (b *Prepared) release() {
	if b.in.w != nil {
		b.in.w.close()
	}
	b.done = true
	b.in.sum.Duration = time.Since(b.in.start)
}

// rebase carries plan p over to the table's latest version when the commits made after p's
// read version touch nothing p rests on: no protocol or metadata change, no remove of data,
// no remove of a file p rewrites, no add of a file that may hold one of p's sources (whatever
// its status in p). It returns nil (and no error) when they do: the caller plans again.
func (in *ingestion) rebase(ctx context.Context, p *plan) (*plan, error) {
	txn, err := delta.Begin(ctx, in.store, in.opts.Txn)
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
	}
	ids := map[string]bool{}
	for u := range p.status {
		ids[u] = true
	}
	rewrite := map[string]bool{}
	for _, a := range p.rewrite {
		rewrite[a.Path] = true
	}
	for c, err := range delta.CommitsAfter(ctx, in.store, p.txn.ReadVersion(), delta.ThroughVersion(txn.ReadVersion())) {
		if err != nil {
			return nil, fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
		}
		for a, err := range c.Actions() {
			if err != nil {
				return nil, fmt.Errorf("ingest into %s: read commit %d: %w", in.store.URL(), c.Version, err)
			}
			if a.Protocol != nil || a.Metadata != nil ||
				(a.Remove != nil && (a.Remove.DataChange || rewrite[a.Remove.Path])) ||
				(a.Add != nil && mayHoldSources(a.Add, ids)) {
				in.opts.Logger.Info("ingest: a concurrent commit touched this batch's sources or files; planning again",
					"table", in.store.URL(), "version", c.Version)
				return nil, nil
			}
		}
	}
	np := &plan{exists: true, txn: txn, status: p.status, rewrite: slices.Clone(p.rewrite), replaced: p.replaced}
	np.markRead()
	return np, nil
}

// idle drops what the writer holds for writing files (the Parquet writer, blob buffers and
// page buffers) while its files wait for their commit; they are made again if it writes more.
func (w *batchWriter) idle() {
	_ = w.wait()
	w.pw, w.bufs, w.row = nil, nil, nil
	w.pages.close()
}
