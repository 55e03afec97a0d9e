package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/gdal"
)

// Status of a source in an Ingest.
const (
	StatusAdded     = "added"     // new to the table
	StatusReplaced  = "replaced"  // another version was in the table; its tiles are replaced
	StatusUnchanged = "unchanged" // this version is already in the table: nothing added
)

// Summary describes what an Ingest did.
type Summary struct {
	// Version is the table version committed, or the version read when nothing was
	// committed (-1 when there is no table).
	Version      int64          `json:"version"`
	Committed    bool           `json:"committed"`
	TableCreated bool           `json:"tableCreated"`
	Sources      []SourceResult `json:"sources"`
	Tiles        int64          `json:"tiles"`        // tiles of the ingested sources written
	EmptyTiles   int64          `json:"emptyTiles"`   // all-nodata tiles skipped
	KeptTiles    int64          `json:"keptTiles"`    // tiles of other sources copied out of rewritten files
	Files        []string       `json:"files"`        // data files added
	Bytes        int64          `json:"bytes"`        // their total size
	RemovedFiles []string       `json:"removedFiles"` // data files removed (rewritten)
	AppID        string         `json:"appId"`
	AppVersion   int64          `json:"appVersion"` // the txn version committed (-1 if none)
	// CommitAttempts counts the commits tried: more than 1 when concurrent commits made the
	// batch re-plan.
	CommitAttempts int           `json:"commitAttempts"`
	Duration       time.Duration `json:"durationNs"`
}

// SourceResult is one source of an Ingest.
type SourceResult struct {
	// URI is the source's identity (SourceID), as the table holds it.
	URI string `json:"uri"`
	// Given is the source as given, when that is not its identity (the first spelling given,
	// when several spellings of one source were).
	Given         string `json:"given,omitempty"`
	SourceVersion string `json:"sourceVersion"`
	Status        string `json:"status"`
	Tiles         int64  `json:"tiles"`
	Levels        int    `json:"levels"`
}

var registerOnce sync.Once

// initGDAL caps the block cache (before any raster is opened by this call), fixes malloc's
// thresholds (gdal.TuneMalloc) and registers the drivers, once.
func initGDAL(cacheMax int64) {
	gdal.SetCacheMax(cacheMax)
	gdal.TuneMalloc()
	registerOnce.Do(godal.RegisterAll)
}

// ReleaseMemory gives the memory that malloc holds free back to the system: GDAL's blocks of
// the rasters read, which the ingest keeps in malloc's arenas for the next batch rather than
// fault them in again (see internal/gdal.TuneMalloc). Call it when a process that ingests
// goes idle; ingestd does when it runs out of work.
func ReleaseMemory() { gdal.ReleaseMemory() }

// identityOf is the identity a source is recorded and matched under, given and as parsed:
// SourceID's. Tests make it the source as given, to write tables as versions before source
// identities did.
var identityOf = func(given string, loc *sourceLoc) string { return loc.id }

// maxPlanAttempts bounds how often a commit that conflicts is re-planned and retried.
const maxPlanAttempts = 20

// Ingest tiles the sources into the raster table in store and commits them in one commit (a
// table that does not exist yet is created first, from the first source's band layout or
// Options.Bands). Sources already in the table at the same version add nothing; a source
// whose version changed has its old tiles replaced in the same commit. See the package
// documentation for the table layout and the exactly-once rules.
//
// Every source is stat'ed, opened and checked (band layout, CRS, size) before anything is
// written; an error about a source is a *SourceError naming it. When a batch fails after data
// files were written, nothing is committed and the error is an *UncommittedError listing them.
func Ingest(ctx context.Context, store delta.Store, sources []string, opts Options) (Summary, error) {
	b, err := Prepare(ctx, store, sources, opts)
	if err != nil {
		return b.Summary(), err
	}
	return b.commit(ctx, false)
}

// ingestion is the state of one Ingest call.
type ingestion struct {
	store  delta.Store
	opts   *Options
	sum    *Summary
	now    time.Time
	stores stores
	refs   []*sourceRef
	layout layout
	infos  map[string]*rasterInfo
	start  time.Time

	// Set by prepare when there is something to commit.
	plan *plan
	w    *batchWriter
	// rebaseFirst carries the plan over to the latest version before the first commit try
	// (Prepared.Commit: the table has often moved on since the plan).
	rebaseFirst bool
}

// plan is what to do with each source given the table's current state.
type plan struct {
	exists   bool
	txn      *delta.Txn
	status   map[string]string // uri -> Status*
	rewrite  []*delta.Add      // files holding replaced sources, by path
	replaced map[string]bool
}

// markRead records on the plan's transaction what the plan rests on: the sources it writes
// are absent (or held by exactly the files it rewrites). A concurrent commit that adds data of
// any of them conflicts, whatever its app id, so two writers never both add one source.
func (p *plan) markRead() {
	writing := map[string]bool{}
	for u, st := range p.status {
		if st != StatusUnchanged {
			writing[u] = true
		}
	}
	if len(writing) > 0 {
		p.txn.MarkReadWhere(fmt.Sprintf("no other live file holds %s", describeSources(writing)), func(a *delta.Add) bool {
			return mayHoldSources(a, writing)
		})
	}
}

func (in *ingestion) makePlan(ctx context.Context) (*plan, error) {
	p := &plan{status: map[string]string{}, replaced: map[string]bool{}}
	txn, err := delta.Begin(ctx, in.store, in.opts.Txn)
	if errors.Is(err, delta.ErrNotATable) {
		for _, r := range in.refs {
			p.status[r.id] = StatusAdded
		}
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
	}
	p.exists, p.txn = true, txn
	want := map[string]bool{}
	for _, r := range in.refs {
		want[r.id] = true
	}
	var found map[string]*presence
	if !in.absent(ctx, txn, want) {
		if found, err = findSources(ctx, txn.Snapshot(), want); err != nil {
			return nil, fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
		}
	}
	files := map[string]*delta.Add{}
	for _, r := range in.refs {
		pr := found[r.id]
		switch {
		case pr == nil:
			p.status[r.id] = StatusAdded
		case len(pr.versions) == 1 && pr.versions[r.version] && len(pr.spellings) == 1:
			// (A source held under two spellings, ingested twice before identities, is
			// replaced: that leaves it once.)
			p.status[r.id] = StatusUnchanged
		default:
			p.status[r.id] = StatusReplaced
			p.replaced[r.id] = true
			for _, a := range pr.files {
				files[a.Path] = a
			}
		}
	}
	// What this plan rests on: the sources to write are absent (or held by exactly the files to
	// rewrite). A concurrent commit that adds data of any of them conflicts, whatever its app
	// id, so two writers never both add one source; the loser re-plans (see commit).
	p.markRead()
	for _, a := range files {
		if a.DeletionVector != nil {
			return nil, fmt.Errorf("%w: data file %s has a deletion vector; it cannot be rewritten", ErrUnsupported, a.Path)
		}
		p.rewrite = append(p.rewrite, a)
	}
	sort.Slice(p.rewrite, func(i, j int) bool { return p.rewrite[i].Path < p.rewrite[j].Path })
	return p, nil
}

// prepare does everything before the commit: it plans the batch against the table's latest
// version, opens and checks every source, and writes the data files. It leaves in.plan and in.w
// set when there is something to commit.
func (in *ingestion) prepare(ctx context.Context, sources []string) error {
	o := in.opts
	// One source per identity: the spellings of one object after the first add nothing.
	var locs []*sourceLoc
	var uris []string
	for _, u := range sources {
		loc, err := parseSource(u, os.Getenv)
		if err != nil {
			return &SourceError{Source: u, Err: err}
		}
		loc.id = identityOf(u, loc)
		if !slices.ContainsFunc(locs, func(l *sourceLoc) bool { return l.id == loc.id }) {
			locs, uris = append(locs, loc), append(uris, u)
		}
	}
	for i, loc := range locs {
		r, err := in.stores.resolve(ctx, uris[i], loc)
		if err != nil {
			if pe := (*os.PathError)(nil); errors.As(err, &pe) && pe.Path == loc.local {
				err = fmt.Errorf("%s: %w", pe.Op, pe.Err) // SourceError names the path
			} else {
				err = fmt.Errorf("stat: %w", err)
			}
			return &SourceError{Source: uris[i], Err: err}
		}
		in.refs = append(in.refs, r)
	}
	p, err := in.makePlan(ctx)
	if err != nil {
		return err
	}
	if p.exists {
		in.sum.Version = p.txn.ReadVersion()
		if in.layout, err = layoutOf(p.txn.Snapshot().Metadata()); err != nil {
			return fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
		}
		if o.Bands != nil && !slices.Equal(o.Bands, in.layout.Bands) {
			return fmt.Errorf("ingest into %s: %w: bands %s requested, the table has %s", in.store.URL(),
				ErrBandLayout, strings.Join(o.Bands, ","), strings.Join(in.layout.Bands, ","))
		}
	}
	// Open and check every source to ingest before anything is written.
	in.infos = map[string]*rasterInfo{}
	var todo []*sourceRef
	for _, r := range in.refs {
		if p.status[r.id] == StatusUnchanged {
			continue
		}
		info, err := in.check(ctx, r, !p.exists && len(todo) == 0)
		if err != nil {
			return &SourceError{Source: r.uri, Err: err}
		}
		in.infos[r.id] = info
		todo = append(todo, r)
	}
	for _, r := range in.refs {
		res := SourceResult{URI: r.id, SourceVersion: r.version, Status: p.status[r.id]}
		if r.uri != r.id {
			res.Given = r.uri
		}
		if info := in.infos[r.id]; info != nil {
			res.Levels = len(selectLevels(info, o.Levels))
		}
		in.sum.Sources = append(in.sum.Sources, res)
	}
	if len(todo) == 0 {
		o.Logger.Info("ingest: every source is already in the table", "table", in.store.URL(), "sources", len(in.refs))
		return nil
	}
	c, err := newCodec(in.layout)
	if err != nil {
		return err
	}
	w, err := newBatchWriter(in.store, c, o)
	if err != nil {
		return err
	}
	in.w = w
	w.onFile = func(f writtenFile) {
		in.sum.Files = append(in.sum.Files, f.Path)
		in.sum.Bytes += f.Size
		if o.Progress != nil {
			o.Progress(in.writeProgress())
		}
	}
	if err := in.write(ctx, p, todo, c, w); err != nil {
		return uncommitted(w, err)
	}
	in.plan = p
	return nil
}

// finish commits what prepare wrote (see commit).
func (in *ingestion) finish(ctx context.Context) error {
	if in.plan == nil {
		return nil
	}
	// The last data file may still be being encoded (write); once it is, the writer's
	// buffers go while the commit waits on the store.
	var tick func()
	if in.opts.Progress != nil {
		tick = func() { in.opts.Progress(in.writeProgress()) }
	}
	if err := in.w.waitTicking(200*time.Millisecond, tick); err != nil {
		return uncommitted(in.w, err)
	}
	in.w.idle()
	if err := in.commit(ctx, in.plan, in.w); err != nil {
		if in.sum.Committed {
			return err // the commit stands; only the post-commit hook failed
		}
		if errors.Is(err, delta.ErrCommitUnknown) {
			// The commit may have landed: its files are not orphans to report.
			return fmt.Errorf("ingest into %s: %w (read the table before ingesting these sources again)", in.store.URL(), err)
		}
		return uncommitted(in.w, err)
	}
	return nil
}

// writeProgress is the Progress of the batch writer alone (no source).
func (in *ingestion) writeProgress() Progress {
	return Progress{FilesWritten: len(in.sum.Files), BytesWritten: in.sum.Bytes, TileBytes: in.w.added,
		TileBytesEncoded: in.w.encoded.Load()}
}

// writeError is an error of the batch writer (a data file the table's store did not take, the
// spool) met while tiling a source: not the source's failure, so never a *SourceError.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func uncommitted(w *batchWriter, err error) error {
	paths := w.paths() // waits for a data file being written
	if len(paths) == 0 {
		return err
	}
	return &UncommittedError{Files: paths, Err: err}
}

// check opens a source and checks it can be tiled into the table; first (no table yet, first
// source) sets the layout.
func (in *ingestion) check(ctx context.Context, r *sourceRef, first bool) (*rasterInfo, error) {
	eh := errorHandler(in.opts.Logger, r.id)
	ds, closeDS, err := openDataset(ctx, r, eh)
	if err != nil {
		return nil, err
	}
	defer closeDS()
	info, err := inspect(ds, in.opts.MaxPixels, eh)
	if err != nil {
		return nil, err
	}
	if first {
		if in.opts.Bands != nil && len(in.opts.Bands) != info.bands {
			return nil, fmt.Errorf("%w: %d band names given for %d bands", ErrBandLayout, len(in.opts.Bands), info.bands)
		}
		in.layout = info.layout(in.opts.Bands)
		return info, nil
	}
	if info.bands != len(in.layout.Bands) || info.dtype.String() != in.layout.DType {
		return nil, fmt.Errorf("%w: the source has %d band(s) of %s, the table %s", ErrBandLayout,
			info.bands, info.dtype, in.layout)
	}
	return info, nil
}

// selectLevels returns the levels of a source to ingest.
func selectLevels(info *rasterInfo, want []int) []int {
	var out []int
	for l := range info.levels {
		if want == nil || slices.Contains(want, l) {
			out = append(out, l)
		}
	}
	return out
}

// write copies the kept rows of the files to rewrite, then tiles every source to ingest.
func (in *ingestion) write(ctx context.Context, p *plan, todo []*sourceRef, c *codec, w *batchWriter) error {
	for _, a := range p.rewrite {
		n, err := copyRows(ctx, in.store, a, c, p.replaced, w)
		if err != nil {
			return fmt.Errorf("rewrite %s: %w", a.Path, err)
		}
		in.sum.KeptTiles += n
	}
	for _, r := range todo {
		n, empty, err := in.tileSource(ctx, r, in.infos[r.id], w)
		var we *writeError
		if errors.As(err, &we) {
			return we.err // the table's store or the spool failed, not the source
		}
		if err != nil {
			return &SourceError{Source: r.uri, Err: err}
		}
		in.sum.Tiles += n
		in.sum.EmptyTiles += empty
		for i := range in.sum.Sources {
			if in.sum.Sources[i].URI == r.id {
				in.sum.Sources[i].Tiles = n
			}
		}
	}
	// The last data file is encoded in the background: the commit waits for it (finish), so
	// a daemon decodes its next batch meanwhile.
	return w.cut(ctx)
}

// tileSource reads every tile of the selected levels of a source into the writer, with the
// workers of a readPlan (see workers.go); the writer gets the tiles in row-major order.
func (in *ingestion) tileSource(ctx context.Context, r *sourceRef, info *rasterInfo, w *batchWriter) (tiles, empty int64, err error) {
	o := in.opts
	eh := errorHandler(o.Logger, r.id)
	levels := selectLevels(info, o.Levels)
	var total, done int64
	for _, l := range levels {
		c, rr := tileCount(info.levels[l], o.TileSize)
		total += int64(c * rr)
	}
	p := newReadPlan(info, levels, o.TileSize, o.Workers, o.CacheMaxBytes)
	src := r
	if r.local == "" {
		// An object: its workers read a local copy made as they go (see readAhead).
		ra, err := newReadAhead(r, o.TempDir)
		if err != nil {
			return 0, 0, err
		}
		ra.begin(ctx)
		defer ra.close()
		cp := *r
		cp.ahead = ra
		src = &cp
	}
	err = decodeTiles(ctx, src, info, p, o.TileSize, eh, func(t *tile, valid bool) error {
		done++
		if !valid && !o.KeepEmpty {
			empty++
		} else {
			t.Source, t.SourceVersion, t.IngestedAt = r.id, r.version, in.now.UnixMicro()
			if err := w.add(ctx, t); err != nil {
				return &writeError{err}
			}
			tiles++
		}
		if o.Progress != nil {
			o.Progress(Progress{Source: r.id, Level: int(t.Level), TilesDone: done, TilesTotal: total,
				FilesWritten: len(w.written), BytesWritten: in.sum.Bytes, TileBytes: w.added,
				TileBytesEncoded: w.encoded.Load()})
		}
		return nil
	})
	if err != nil {
		return tiles, empty, err
	}
	if err := in.stores.recheck(ctx, r); err != nil {
		return tiles, empty, err
	}
	return tiles, empty, nil
}

// commit creates the table if needed and commits the written files, removing the rewritten
// ones, with the app transaction. A conflicting concurrent commit makes it re-plan: when the
// plan is unchanged (no concurrent writer touched these sources or the files read), the same
// files are committed at the next version; sources that a concurrent writer added meanwhile, at
// the version this batch holds, are taken out of the batch and reported unchanged (see
// reconcile); any other change fails the batch.
func (in *ingestion) commit(ctx context.Context, p *plan, w *batchWriter) error {
	o := in.opts
	for attempt := 1; ; attempt++ {
		if !p.exists {
			// A new table is created by the commit that holds the first data: version 0.
			done, err := in.commitCreate(ctx, w)
			if done || !errors.Is(err, delta.ErrTableExists) {
				return err
			}
			// Another writer created it first: append to it after re-planning.
		}
		replan := !p.exists || attempt > 1
		if p.exists && (attempt > 1 || in.rebaseFirst) {
			// Most conflicts are commits that touched nothing this plan rests on (another
			// batch of this writer, which advanced the app transaction, or appends of other
			// sources): the plan then holds at the newer version, without listing the table.
			np, err := in.rebase(ctx, p)
			if err != nil {
				return err
			}
			if np != nil {
				p, replan = np, false
			}
		}
		if replan {
			np, err := in.makePlan(ctx)
			if err != nil {
				return err
			}
			if !np.exists {
				return fmt.Errorf("ingest into %s: the table vanished", in.store.URL())
			}
			l, err := layoutOf(np.txn.Snapshot().Metadata())
			if err != nil {
				return fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
			}
			if !l.equal(in.layout) {
				return fmt.Errorf("ingest into %s: %w: the table was created concurrently with %s, these files have %s",
					in.store.URL(), ErrBandLayout, l, in.layout)
			}
			drop, err := reconcile(p, np)
			if err != nil {
				return fmt.Errorf("ingest into %s: %w", in.store.URL(), err)
			}
			if len(drop) > 0 {
				if err := in.dropSources(ctx, w, drop); err != nil {
					return err
				}
				if len(w.written) == 0 && len(np.rewrite) == 0 {
					in.sum.Version = np.txn.ReadVersion()
					return nil // another writer ingested all of them
				}
			}
			p = np
		}
		in.sum.CommitAttempts = attempt
		txn := p.txn
		prev, err := txn.Snapshot().AppTransactionVersion(ctx, o.AppID)
		if err != nil {
			return err
		}
		now := o.Now()
		for _, f := range w.written {
			txn.Add(f.add(now))
		}
		removed := make([]string, 0, len(p.rewrite))
		for _, a := range p.rewrite {
			txn.MarkRead(a.Path, a.DeletionVector)
			size := a.Size
			ext := true
			txn.Remove(&delta.Remove{Path: a.Path, DataChange: true, ExtendedFileMetadata: &ext,
				PartitionValues: a.PartitionValues, Size: &size, Stats: a.Stats, Tags: a.Tags})
			removed = append(removed, a.Path)
		}
		txn.SetAppTransaction(o.AppID, prev+1)
		txn.SetOperationMetrics(commitMetrics(w.written, p.rewrite))
		v, err := txn.Commit(ctx, "INGEST", in.params())
		if v >= 0 {
			in.sum.Version, in.sum.Committed, in.sum.AppVersion = v, true, prev+1
			in.sum.RemovedFiles = removed
			if err != nil {
				return fmt.Errorf("ingest into %s committed version %d: %w", in.store.URL(), v, err)
			}
			return nil
		}
		if errors.Is(err, delta.ErrConflict) && attempt < maxPlanAttempts {
			o.Logger.Info("ingest: commit conflicted, re-planning", "table", in.store.URL(), "attempt", attempt, "err", err)
			p.exists = true
			continue
		}
		return err
	}
}

// commitCreate creates the table with the batch's files and app transaction in one commit
// (version 0). done reports that the commit landed (err is then the post-commit hook's); an
// error matching delta.ErrTableExists means another writer created the table first.
func (in *ingestion) commitCreate(ctx context.Context, w *batchWriter) (done bool, err error) {
	o := in.opts
	txn, err := delta.BeginCreate(ctx, in.store, in.layout.tableSpec(), o.Txn)
	if err != nil {
		return false, err
	}
	now := o.Now()
	for _, f := range w.written {
		txn.Add(f.add(now))
	}
	txn.SetAppTransaction(o.AppID, 0)
	txn.SetOperationMetrics(commitMetrics(w.written, nil))
	in.sum.CommitAttempts++
	v, err := txn.Commit(ctx, "INGEST", in.params())
	if v < 0 {
		return false, err
	}
	in.sum.Version, in.sum.Committed, in.sum.AppVersion, in.sum.TableCreated = v, true, 0, true
	in.sum.RemovedFiles = []string{}
	if err != nil {
		return true, fmt.Errorf("ingest into %s committed version %d: %w", in.store.URL(), v, err)
	}
	return true, nil
}

// commitMetrics are the commitInfo operationMetrics of an ingest commit: the files written and
// the files they replace, with Spark's names for a write.
func commitMetrics(written []writtenFile, removed []*delta.Add) map[string]int64 {
	m := map[string]int64{"numFiles": int64(len(written)), "numOutputBytes": 0, "numOutputRows": 0,
		"numRemovedFiles": int64(len(removed)), "numRemovedBytes": 0}
	for _, f := range written {
		m["numOutputBytes"] += f.Size
		m["numOutputRows"] += f.Rows
	}
	for _, a := range removed {
		m["numRemovedBytes"] += a.Size
	}
	return m
}

// params are the commitInfo operationParameters of an ingest commit.
func (in *ingestion) params() map[string]any {
	type src struct {
		URI           string `json:"uri"`
		SourceVersion string `json:"source_version"`
		Status        string `json:"status"`
	}
	var srcs []src
	for _, s := range in.sum.Sources {
		srcs = append(srcs, src{URI: s.URI, SourceVersion: s.SourceVersion, Status: s.Status})
	}
	return map[string]any{
		"sources":  srcs,
		"appId":    in.opts.AppID,
		"tileSize": in.opts.TileSize,
	}
}
