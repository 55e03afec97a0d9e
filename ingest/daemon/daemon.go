package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// Defaults of Options.
const (
	DefaultPoll            = 10 * time.Second
	DefaultBatchMaxSources = 16
	DefaultBatchMaxWait    = 30 * time.Second
	DefaultMaxAttempts     = 3
	DefaultRetryBackoff    = 5 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultDeadLetterPrefix is where failed sources are recorded, inside the table root when
	// no dead-letter URL is given (a hidden path: vacuum and readers ignore it).
	DefaultDeadLetterPrefix = "_deltaraster/dead-letter/"
)

// Options are the settings of a Daemon; zero fields take the defaults.
type Options struct {
	// Table is the raster table's URL.
	Table string
	// Store, when set, is the table's store, used instead of opening Table (which then names
	// the table in logs only); the Daemon does not close it. Tests wrap a store to inject
	// faults.
	Store delta.Store
	// Poll is the time between two polls of the Source (default 10 s).
	Poll time.Duration
	// Once takes the work there is now (one Poll), ingests it, retries its failing sources to
	// the last attempt, and returns.
	Once bool
	// BatchMaxSources and BatchMaxWait bound a batch: it is ingested (one commit) when it has
	// BatchMaxSources sources or its oldest source has waited BatchMaxWait (defaults 16, 30 s).
	BatchMaxSources int
	BatchMaxWait    time.Duration
	// MaxAttempts is how often a failing source is tried before it is dead-lettered (default 3),
	// RetryBackoff the wait before the second attempt, doubled before each next (default 5 s).
	MaxAttempts  int
	RetryBackoff time.Duration
	// DeadLetter is the URL of the dead-letter prefix (default the table's
	// _deltaraster/dead-letter/).
	DeadLetter string
	// ShutdownTimeout is how long the batch in flight may run on once Run's context is
	// cancelled; then it is abandoned (nothing committed). Default 30 s.
	ShutdownTimeout time.Duration
	// Ingest are the options of every Ingest call. AppID is the replica's app transaction id
	// (required); the daemon sets Txn.PostCommit (checkpoints) when it is nil.
	Ingest ingest.Options
	// Checkpoint configures the post-commit hook (.crc files and checkpoints at the table's
	// interval) that the daemon sets when Ingest.Txn.PostCommit is nil.
	Checkpoint checkpoint.HookOptions
	// Metrics, when set, receives the daemon's metrics.
	Metrics *Metrics
	// Logger receives the daemon's log (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// The daemon's checkpoint batch and row-group sizes, unless Options.Checkpoint sets them
// (checkpoint.Options.BatchRows and RowGroupBytes; SoftMemoryLimit is then set too).
const (
	CheckpointBatchRows     = 1024
	CheckpointRowGroupBytes = 2 << 20
)

func (o *Options) fill() error {
	if o.Table == "" {
		return errors.New("daemon: no table URL")
	}
	if o.Ingest.AppID == "" {
		return errors.New("daemon: no app id")
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	// The checkpoint runs beside the decoding of the next batch: smaller batches of rows and
	// row groups than checkpoint's defaults, and the soft memory limit while it runs (unless
	// the program set its own, --memory-limit), keep what it adds to the daemon's memory
	// small: 1.03x the median outside checkpoints against 1.24x, for about 10% more CPU
	// (bench/RESULTS.md, ingestd memory over time).
	if c := &o.Checkpoint.Checkpoint; c.BatchRows <= 0 && c.RowGroupBytes <= 0 {
		c.BatchRows, c.RowGroupBytes = CheckpointBatchRows, CheckpointRowGroupBytes
		c.SoftMemoryLimit = true
	}
	if o.BatchMaxSources <= 0 {
		o.BatchMaxSources = DefaultBatchMaxSources
	}
	if o.BatchMaxWait <= 0 {
		o.BatchMaxWait = DefaultBatchMaxWait
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Ingest.Logger == nil {
		o.Ingest.Logger = o.Logger
	}
	return nil
}

// entry is a source the daemon has taken and not yet settled (committed, found in the table,
// dropped or dead-lettered).
type entry struct {
	Work
	key       pairKey
	since     time.Time // when it was taken
	notBefore time.Time // no attempt before (retry backoff)
	attempts  int
	inFlight  bool // in a batch being prepared or committed
}

// Daemon ingests the work of a Source into a raster table, batch by batch. See the
// package documentation.
type Daemon struct {
	o       Options
	store   delta.Store // the table, commits timed
	dead    delta.Store // the dead-letter prefix
	deadOwn bool
	src     Source
	index   *Index

	storeOwn bool   // New opened store (Options.Store was nil)
	deadKey  string // the prefix of the dead-letter keys in dead

	queue   []*entry
	pending map[pairKey]*entry
	gaveUp  map[pairKey]bool // dead-lettered (by this process, or found at start): not tried again

	mu       sync.Mutex
	lastPoll error // the last listing's error, for Ready

	inFlight atomic.Int64 // sources in the batches in flight
}

// New opens the table and the dead-letter prefix, reads the dead letters there (the pairs they
// name are not tried again) and builds the index of the table's sources; the daemon's work
// comes from src.
func New(ctx context.Context, src Source, o Options) (*Daemon, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("daemon: no work source")
	}
	d := &Daemon{o: o, src: src, pending: map[pairKey]*entry{}, gaveUp: map[pairKey]bool{}, deadKey: DefaultDeadLetterPrefix}
	st := o.Store
	if st == nil {
		var err error
		if st, err = delta.OpenStore(ctx, o.Table); err != nil {
			return nil, err
		}
		d.storeOwn = true
	}
	d.store = &timedStore{Store: st, m: o.Metrics}
	if o.Ingest.Txn.PostCommit == nil {
		d.o.Ingest.Txn.PostCommit = d.postCommit(checkpoint.PostCommit(o.Checkpoint))
	}
	d.dead = st
	var err error
	if o.DeadLetter != "" {
		if d.dead, err = delta.OpenStore(ctx, o.DeadLetter); err != nil {
			d.Close()
			return nil, err
		}
		d.deadOwn, d.deadKey = true, ""
	}
	if err := d.loadDeadLetters(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if d.index, err = LoadIndex(ctx, d.store); err != nil {
		d.Close()
		return nil, err
	}
	// Batches of new sources are planned from the index, not by streaming the table's files.
	d.o.Ingest.Holdings = d.index
	o.Metrics.LastVersion.Set(float64(d.index.Version()))
	o.Logger.Info("ingestd: index built", "table", o.Table, "version", d.index.Version(), "pairs", d.index.Len())
	return d, nil
}

// Close closes the stores the daemon opened (not its Source).
func (d *Daemon) Close() error {
	var errs []error
	if d.deadOwn {
		errs = append(errs, d.dead.Close())
	}
	if d.storeOwn {
		errs = append(errs, d.store.Close())
	}
	return errors.Join(errs...)
}

// Ready reports whether the daemon can work: its last listing succeeded (or none was taken
// yet) and the table's log can be listed.
func (d *Daemon) Ready(ctx context.Context) error {
	d.mu.Lock()
	err := d.lastPoll
	d.mu.Unlock()
	if err != nil {
		return err
	}
	for _, err := range d.store.List(ctx, "_delta_log/", "") {
		if err != nil {
			return fmt.Errorf("table %s: %w", d.o.Table, err)
		}
		break
	}
	return nil
}

// Run works until ctx is cancelled (or, with Once, until the work there was is done): it lists
// the prefix every Poll, queues the new work, and ingests it batch by batch. Two batches are in
// flight at most: one being decoded and written (ingest.Prepare) while the one before it
// commits (with its checkpoint) in the background, so decoding keeps the cores busy while a
// commit waits on the store; commits are made one at a time, in order, and a batch's sources
// are acked only after its commit. On cancellation it stops taking work, lets the batches in
// flight finish within ShutdownTimeout or abandons them (nothing committed), and returns nil.
// With Once it returns an error when the listing fails or MaxAttempts batches in a row fail
// as a whole.
func (d *Daemon) Run(ctx context.Context) error {
	o := &d.o
	// The batches in flight run on after ctx is cancelled, for ShutdownTimeout at most.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	stop := context.AfterFunc(ctx, func() {
		if n := d.inFlight.Load(); n > 0 {
			o.Logger.Info("ingestd: stopping; finishing the batch in flight", "sources", n, "timeout", o.ShutdownTimeout)
		}
		t := time.AfterFunc(o.ShutdownTimeout, wcancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()

	var nextPoll time.Time
	polledOnce := false
	failures := 0 // batch-level failures in a row
	var holdUntil time.Time
	var committing *commitJob
	worked := false // a batch ran since memory was last given back (releaseIdle)
	record := func(ok bool) {
		if ok {
			failures = 0
			return
		}
		failures++
		holdUntil = o.Now().Add(backoff(o.RetryBackoff, failures))
	}
	// finish waits for the batch committing, settles its sources and acks them.
	finish := func() {
		if committing != nil {
			record(d.settleCommit(wctx, committing))
			committing = nil
			o.Metrics.Backlog.Set(float64(len(d.queue)))
		}
	}
	defer finish()
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := o.Now()
		if !(o.Once && polledOnce) && !now.Before(nextPoll) {
			err := d.poll(ctx)
			if err != nil && ctx.Err() != nil {
				return nil
			}
			if err != nil {
				o.Logger.Error("ingestd: polling the work source failed", "source", d.src.String(), "err", err)
				if o.Once {
					return err
				}
			}
			polledOnce = true
			nextPoll = now.Add(o.Poll)
		}
		for ctx.Err() == nil && !o.Now().Before(holdUntil) {
			if committing != nil && (committing.finished() || d.index.Version() < 0) {
				// Settled at once (acks); and the commit that creates the table goes first,
				// as the next batch takes the band layout from it.
				finish()
				if o.Now().Before(holdUntil) {
					break
				}
			}
			b := d.takeBatch(o.Now(), o.Once)
			if b == nil {
				break
			}
			start := time.Now()
			worked = true
			prep, batch, ok := d.prepareBatch(wctx, b)
			finish() // one commit at a time, in order
			if !ok {
				record(false)
				if o.Once && failures >= o.MaxAttempts {
					return fmt.Errorf("ingestd: %d batches in a row failed; %d sources not ingested", failures, len(d.queue))
				}
				continue
			}
			if prep != nil {
				committing = d.startCommit(wctx, prep, batch, start)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if o.Once && failures >= o.MaxAttempts {
			return fmt.Errorf("ingestd: %d batches in a row failed; %d sources not ingested", failures, len(d.queue))
		}
		d.o.Metrics.Backlog.Set(float64(len(d.queue)))
		if o.Once && len(d.queue) == 0 && committing == nil {
			return nil
		}
		wake := d.wakeAt(nextPoll, holdUntil)
		var committed <-chan struct{}
		if committing != nil {
			committed = committing.done
		}
		if wake.IsZero() {
			if committed == nil {
				wake = o.Now()
			} else {
				wake = o.Now().Add(time.Hour) // only the commit in flight to wait for
			}
		}
		wait := wake.Sub(o.Now())
		if wait <= 0 {
			continue
		}
		if worked && committing == nil && len(d.queue) == 0 {
			releaseIdle()
			worked = false
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-committed:
			t.Stop()
			finish()
		case <-t.C:
		}
	}
}

// releaseIdle gives the memory of the batches done back to the system, when the daemon has
// nothing left to do: an idle daemon allocates nothing, so without a collection the garbage of
// its last batch (a large scene's buffers, parquet-go's pooled pages) would stay resident until
// the next batch, and the runtime would keep the heap it grew to. One collection and a scavenge
// of a small heap take milliseconds; during a backlog it is not called, so batches in a row do
// not fault their memory in again. malloc's free memory (GDAL's blocks) goes back too.
func releaseIdle() {
	runtime.GC() // sync.Pool contents live through one collection, as victims
	debug.FreeOSMemory()
	ingest.ReleaseMemory()
}

func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return d
}

// wakeAt is when there may be something to do: the next listing, the moment the oldest queued
// source has waited BatchMaxWait, or a retry's backoff ends; never before holdUntil.
func (d *Daemon) wakeAt(nextPoll, holdUntil time.Time) time.Time {
	w := nextPoll
	if d.o.Once {
		w = time.Time{}
	}
	early := func(t time.Time) {
		if w.IsZero() || t.Before(w) {
			w = t
		}
	}
	busy := d.busy()
	for _, e := range d.queue {
		if e.inFlight || busy[e.ID] {
			continue
		}
		if e.attempts > 0 {
			early(e.notBefore)
		} else {
			early(e.since.Add(d.o.BatchMaxWait))
		}
	}
	if !w.IsZero() && w.Before(holdUntil) {
		w = holdUntil
	}
	return w
}

// poll brings the index up to date with the table and queues the new work of one listing.
func (d *Daemon) poll(ctx context.Context) error {
	err := d.refresh(ctx)
	if err == nil {
		var work []Work
		work, err = d.src.Poll(ctx, func(id, version string) bool {
			k := keyOf(id, version)
			return d.index.holdsKey(k) || d.pending[k] != nil || d.gaveUp[k]
		})
		now := d.o.Now()
		for _, w := range work {
			e := &entry{Work: w, key: keyOf(w.ID, w.Version), since: now}
			d.queue = append(d.queue, e)
			d.pending[e.key] = e
		}
		if len(work) > 0 {
			d.o.Logger.Info("ingestd: new work", "sources", len(work), "backlog", len(d.queue))
		}
	}
	d.mu.Lock()
	d.lastPoll = err
	d.mu.Unlock()
	d.o.Metrics.Backlog.Set(float64(len(d.queue)))
	return err
}

// refresh reads the commits made since the index's version.
func (d *Daemon) refresh(ctx context.Context) error {
	n, err := d.index.Update(ctx)
	if n > 0 {
		d.o.Metrics.LastVersion.Set(float64(d.index.Version()))
	}
	return err
}

// busy is the identities of the sources in flight: another version of one waits for its
// commit.
func (d *Daemon) busy() map[string]bool {
	var busy map[string]bool
	for _, e := range d.queue {
		if e.inFlight {
			if busy == nil {
				busy = map[string]bool{}
			}
			busy[e.ID] = true
		}
	}
	return busy
}

// takeBatch takes the next batch out of the queue when one is due: BatchMaxSources sources
// ready (retries whose backoff has ended count as ready), or a ready source that has waited
// BatchMaxWait, or any ready source when drain is set. Sources the table holds by now (another
// writer) are settled on the way.
//
// While there is no table, a batch holds one source: the commit that creates the table takes
// its band layout from its first source, and a source of another layout in the same batch
// would fail, and be blamed, for the first one's sake.
func (d *Daemon) takeBatch(now time.Time, drain bool) []*entry {
	var ready []*entry
	due := drain
	max := d.o.BatchMaxSources
	if d.index.Version() < 0 {
		max = 1
	}
	busy := d.busy()
	for _, e := range d.queue {
		if e.inFlight || busy[e.ID] || e.attempts > 0 && now.Before(e.notBefore) {
			continue
		}
		if d.index.holdsKey(e.key) {
			continue // settled below
		}
		ready = append(ready, e)
		if e.attempts > 0 || !now.Before(e.since.Add(d.o.BatchMaxWait)) {
			due = true
		}
		if len(ready) == max {
			due = true
			break
		}
	}
	d.queue = slices.DeleteFunc(d.queue, func(e *entry) bool {
		if !e.inFlight && d.index.holdsKey(e.key) {
			delete(d.pending, e.key)
			d.src.Settled(e.Work) // another writer committed it: a subscription acks it
			return true
		}
		return false
	})
	if !due || len(ready) == 0 {
		return nil
	}
	return ready
}

// settle takes an entry out of the queue (and the backlog gauge follows at once: Run may
// return, cancelled, right after the commit that settled it).
func (d *Daemon) settle(e *entry) {
	delete(d.pending, e.key)
	if i := slices.Index(d.queue, e); i >= 0 {
		d.queue = slices.Delete(d.queue, i, i+1)
	}
	d.o.Metrics.Backlog.Set(float64(len(d.queue)))
}

// prepareBatch decodes a batch and writes its data files (ingest.Prepare). A source Prepare
// names as failing is taken out of the batch (and retried later, or dead-lettered) and the rest
// is prepared again at once. It returns the prepared batch and the entries it holds (none when
// every source failed), and false when the batch failed as a whole (the table unreachable: its
// sources stay queued, their attempts not counted) or was abandoned at shutdown.
func (d *Daemon) prepareBatch(ctx context.Context, batch []*entry) (*ingest.Prepared, []*entry, bool) {
	o := &d.o
	d.take(batch, true)
	for len(batch) > 0 {
		uris := make([]string, len(batch))
		for i, e := range batch {
			uris[i] = e.URI
		}
		prep, err := ingest.Prepare(ctx, d.store, uris, o.Ingest)
		if err == nil {
			return prep, batch, true
		}
		if ctx.Err() != nil {
			d.abandon(batch, err)
			return nil, nil, false
		}
		var se *ingest.SourceError
		i := -1
		if errors.As(err, &se) {
			i = slices.IndexFunc(batch, func(e *entry) bool { return e.URI == se.Source || e.ID == se.Source })
		}
		if i < 0 {
			o.Metrics.BatchFailures.Inc()
			o.Logger.Error("ingestd: batch failed", "sources", len(batch), "err", err)
			d.take(batch, false)
			return nil, nil, false
		}
		e := batch[i]
		batch = slices.Delete(batch, i, i+1)
		d.take([]*entry{e}, false)
		d.failed(ctx, e, se.Err)
	}
	return nil, nil, true
}

// take marks entries in flight (or back in the queue).
func (d *Daemon) take(batch []*entry, on bool) {
	for _, e := range batch {
		if e.inFlight != on {
			e.inFlight = on
			if on {
				d.inFlight.Add(1)
			} else {
				d.inFlight.Add(-1)
			}
		}
	}
}

// abandon gives up a batch at shutdown: nothing was committed; its work is dropped (a
// subscription's messages are nacked, a listing offers the sources again).
func (d *Daemon) abandon(batch []*entry, err error) {
	d.o.Logger.Warn("ingestd: batch abandoned at shutdown, nothing committed", "sources", len(batch), "err", err)
	d.take(batch, false)
	for _, e := range batch {
		d.settle(e)
		d.src.Dropped(e.Work)
	}
}

// commitJob is a prepared batch committing in the background.
type commitJob struct {
	batch []*entry
	start time.Time
	done  chan struct{} // closed when Commit returned
	sum   ingest.Summary
	err   error
}

func (j *commitJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// startCommit commits a prepared batch in a goroutine of its own; settleCommit waits for it.
// The goroutine touches nothing of the daemon's state but the store and the metrics.
func (d *Daemon) startCommit(ctx context.Context, prep *ingest.Prepared, batch []*entry, start time.Time) *commitJob {
	j := &commitJob{batch: batch, start: start, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		j.sum, j.err = prep.Commit(ctx)
	}()
	return j
}

// settleCommit waits for a batch's commit and settles its sources. It reports false when the
// batch failed as a whole (its sources stay queued, their attempts not counted) or was
// abandoned at shutdown.
func (d *Daemon) settleCommit(ctx context.Context, j *commitJob) bool {
	<-j.done
	d.o.Metrics.BatchSeconds.Observe(time.Since(j.start).Seconds())
	d.take(j.batch, false)
	if j.err == nil || j.sum.Committed {
		if j.err != nil {
			d.o.Logger.Warn("ingestd: committed, then the post-commit work failed", "version", j.sum.Version, "err", j.err)
		}
		d.done(ctx, j.batch, j.sum)
		return true
	}
	if ctx.Err() != nil {
		d.abandon(j.batch, j.err)
		return false
	}
	d.o.Metrics.BatchFailures.Inc()
	d.o.Logger.Error("ingestd: batch failed", "sources", len(j.batch), "err", j.err)
	return false
}

// done settles the sources of a batch that Ingest committed (or found in the table).
func (d *Daemon) done(ctx context.Context, batch []*entry, sum ingest.Summary) {
	m := d.o.Metrics
	for _, r := range sum.Sources {
		m.Sources.WithLabelValues(r.Status).Inc()
		if r.Status == ingest.StatusUnchanged {
			d.index.Note(r.URI, r.SourceVersion)
		}
	}
	if sum.Committed {
		m.Commits.Inc()
		m.Tiles.Add(float64(sum.Tiles))
		m.BytesWritten.Add(float64(sum.Bytes))
		d.o.Logger.Info("ingestd: committed", "version", sum.Version, "sources", len(sum.Sources), "tiles", sum.Tiles,
			"bytes", sum.Bytes, "attempts", sum.CommitAttempts, "seconds", sum.Duration.Seconds())
		if err := d.refresh(ctx); err != nil {
			d.o.Logger.Warn("ingestd: reading the new commits failed; the next listing tries again", "err", err)
		}
	}
	for _, e := range batch {
		d.settle(e)
		if d.index.holdsKey(e.key) {
			d.src.Settled(e.Work)
		} else {
			// Ingest saw another version than the source reported: offer it again.
			d.src.Dropped(e.Work)
		}
	}
}

// failed handles one failed attempt of a source: a source that vanished or changed while it
// was read is dropped (the next listing sees what it is now); another failure is retried after
// a backoff, and dead-lettered after MaxAttempts.
func (d *Daemon) failed(ctx context.Context, e *entry, err error) {
	o := &d.o
	if errors.Is(err, ingest.ErrSourceChanged) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, delta.ErrNotFound) {
		o.Logger.Info("ingestd: source changed or gone; the next listing decides", "source", e.URI, "err", err)
		d.settle(e)
		d.src.Dropped(e.Work)
		return
	}
	e.attempts++
	o.Metrics.Sources.WithLabelValues(ResultFailed).Inc()
	if e.attempts < o.MaxAttempts {
		e.notBefore = o.Now().Add(backoff(o.RetryBackoff, e.attempts))
		o.Logger.Warn("ingestd: source failed; retrying later", "source", e.URI, "attempt", e.attempts, "retryAt", e.notBefore, "err", err)
		return
	}
	if derr := d.deadLetter(ctx, e, err); derr != nil {
		// Kept queued: tried again, and dead-lettered when the write succeeds.
		e.notBefore = o.Now().Add(backoff(o.RetryBackoff, e.attempts))
		o.Logger.Error("ingestd: writing to the dead-letter location failed", "source", e.URI, "err", derr)
		return
	}
	o.Metrics.Sources.WithLabelValues(ResultDeadLetter).Inc()
	o.Logger.Error("ingestd: source dead-lettered", "source", e.URI, "attempts", e.attempts, "err", err)
	d.settle(e)
	d.gaveUp[e.key] = true
	d.src.Settled(e.Work)
}

// DeadLetter is the record written for a source given up: one JSON line.
type DeadLetter struct {
	Source   string    `json:"source"`
	Version  string    `json:"version"`
	Error    string    `json:"error"`
	Time     time.Time `json:"time"`
	Attempts int       `json:"attempts"`
	AppID    string    `json:"appId"`
}

// loadDeadLetters reads every record under the dead-letter prefix: the (source, version) pairs
// they name are given up, not tried again; a changed version of such a source is new work. A
// record that does not decode is logged and skipped; a listing or read that fails fails New.
// It costs one listing and one read per record at start, and 16 bytes per record kept.
func (d *Daemon) loadDeadLetters(ctx context.Context) error {
	n := 0
	for info, err := range d.dead.List(ctx, d.deadKey, "") {
		if err != nil {
			return fmt.Errorf("list the dead letters: %w", err)
		}
		if !strings.HasSuffix(info.Key, ".json") {
			continue
		}
		b, err := delta.ReadAll(ctx, d.dead, info.Key)
		if errors.Is(err, delta.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return fmt.Errorf("read dead letter %s: %w", info.Key, err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var dl DeadLetter
			if jerr := json.Unmarshal([]byte(line), &dl); jerr != nil || dl.Source == "" {
				d.o.Logger.Warn("ingestd: a dead letter does not decode; skipped", "key", info.Key, "err", jerr)
				continue
			}
			d.gaveUp[keyOf(dl.Source, dl.Version)] = true
			n++
		}
	}
	if n > 0 {
		d.o.Logger.Info("ingestd: dead letters read; those sources at those versions are not tried again", "records", n)
	}
	return nil
}

// deadLetter writes one object holding one JSON line under the dead-letter prefix, named by
// the time and the hash of the (identity, version) pair, so records never overwrite each other
// and list in time order.
func (d *Daemon) deadLetter(ctx context.Context, e *entry, err error) error {
	now := d.o.Now().UTC()
	rec, jerr := json.Marshal(DeadLetter{Source: e.ID, Version: e.Version, Error: err.Error(), Time: now,
		Attempts: e.attempts, AppID: d.o.Ingest.AppID})
	if jerr != nil {
		return jerr
	}
	key := fmt.Sprintf("%s%s-%x.json", d.deadKey, now.Format("20060102T150405.000000000Z"), e.key[:8])
	return d.dead.Put(ctx, key, append(rec, '\n'))
}

// postCommit wraps the checkpoint hook to time the commits at a checkpoint interval.
func (d *Daemon) postCommit(hook func(context.Context, delta.Committed) error) func(context.Context, delta.Committed) error {
	return func(ctx context.Context, c delta.Committed) error {
		ckpt := checkpoint.Due(d.o.Checkpoint, c)
		if ckpt {
			d.o.Logger.Info("ingestd: checkpoint started", "version", c.Version)
		}
		start := time.Now()
		err := hook(ctx, c)
		if ckpt {
			d.o.Metrics.CheckpointSeconds.Observe(time.Since(start).Seconds())
			d.o.Logger.Info("ingestd: checkpoint done", "version", c.Version, "seconds", time.Since(start).Seconds(), "err", err)
		}
		return err
	}
}

// timedStore times the conditional writes of commit files and counts the lost ones.
type timedStore struct {
	delta.Store
	m *Metrics
}

func (s *timedStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	f, ok := delta.ParseLogKey(key)
	if !ok || f.Kind != delta.KindCommit {
		return s.Store.PutIfAbsent(ctx, key, data)
	}
	start := time.Now()
	err := s.Store.PutIfAbsent(ctx, key, data)
	s.m.CommitSeconds.Observe(time.Since(start).Seconds())
	if errors.Is(err, delta.ErrExist) {
		s.m.CommitConflicts.Inc()
	}
	return err
}

// DefaultAppID is the app id of a replica: ingestd, the host name and a hash of the work
// source's description (such as the watch URL and shard), so replicas on other hosts or work
// sources differ and a restarted replica keeps its id.
func DefaultAppID(workSource string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	k := keyOf(workSource, "")
	return fmt.Sprintf("ingestd-%s-%x", strings.ReplaceAll(host, " ", "_"), k[:4])
}
