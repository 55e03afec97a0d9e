package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// DefaultRetention is delta.deletedFileRetentionDuration when the table does not set it.
const DefaultRetention = 7 * 24 * time.Hour

// VacuumMode says how a vacuum finds the files to delete.
type VacuumMode int

const (
	// VacuumFull lists the table: every file no version within the retention needs and older
	// than the retention goes, orphans of failed writers included.
	VacuumFull VacuumMode = iota
	// VacuumLite lists nothing but the log: it deletes the files of remove actions older than
	// the retention (the snapshot's tombstones and the removes in the commits since the last
	// vacuum) that are not needed any more. Orphans that no commit names stay.
	VacuumLite
)

func (m VacuumMode) String() string {
	if m == VacuumLite {
		return "LITE"
	}
	return "FULL"
}

// VacuumOptions are the settings of one vacuum; zero fields take the defaults.
type VacuumOptions struct {
	// Retention: files removed longer ago than this (and, in full mode, unreferenced files
	// older than this) are deleted. Nil means the table's delta.deletedFileRetentionDuration
	// (default one week); zero is a retention like any other (everything not needed now
	// goes). Less than the table's is refused with ErrRetentionTooShort unless ForceRetention
	// or DryRun.
	Retention      *time.Duration
	ForceRetention bool
	Mode           VacuumMode
	// DryRun plans only: Vacuum returns what it would delete, deletes nothing and commits
	// nothing.
	DryRun bool
	// Parallelism bounds the deletes in flight (default 16).
	Parallelism int
	// Now is the clock the retention is measured from (default time.Now; also the
	// transactions' clock when Txn.Now is not set).
	Now func() time.Time
	// Txn are the options of the VACUUM START and VACUUM END commits.
	Txn delta.TxnOptions
	// TempDir holds the sorted runs of needed keys and the list of files to delete once they
	// outgrow SpillEntries (default os.TempDir()). The files are unlinked as soon as they are
	// created: a vacuum that dies leaves nothing there.
	TempDir string
	// SpillEntries is how many keys (needed files, files to delete) each list keeps in memory
	// before it moves to a temporary file (default 65536).
	SpillEntries int
}

func (o *VacuumOptions) fill() error {
	if (o.Retention != nil && *o.Retention < 0) || o.Parallelism < 0 || o.SpillEntries < 0 {
		return fmt.Errorf("%w: negative retention or count", ErrBadOption)
	}
	if o.Mode != VacuumFull && o.Mode != VacuumLite {
		return fmt.Errorf("%w: vacuum mode %d", ErrBadOption, o.Mode)
	}
	if o.Parallelism == 0 {
		o.Parallelism = 16
	}
	if o.SpillEntries == 0 {
		o.SpillEntries = 1 << 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Txn.Now == nil {
		o.Txn.Now = o.Now
	}
	return nil
}

// VacuumMetrics describe what a vacuum planned and did.
type VacuumMetrics struct {
	Mode        string        `json:"mode"`
	DryRun      bool          `json:"dryRun"`
	ReadVersion int64         `json:"readVersion"`
	Retention   time.Duration `json:"retentionNs"`
	// Threshold: files removed before it (and, in full mode, unreferenced files modified
	// before it) are deleted.
	Threshold         time.Time     `json:"threshold"`
	LiveFiles         int64         `json:"liveFiles"`
	TombstonesKept    int64         `json:"tombstonesKept"`    // removed after the threshold
	TombstonesExpired int64         `json:"tombstonesExpired"` // removed before it
	CommitsScanned    int64         `json:"commitsScanned"`    // lite: commits read for removes
	NeededFiles       int           `json:"neededFiles"`       // distinct files kept for the log
	NeededSetBytes    int64         `json:"neededSetBytes"`    // most memory their keys took at once
	NeededRuns        int           `json:"neededRuns"`        // sorted runs of needed keys spilled to a temporary file
	Listed            int64         `json:"listed"`            // full: objects listed
	Hidden            int64         `json:"hidden"`            // full: skipped as _ or . paths
	TooYoung          int64         `json:"tooYoung"`          // full: unreferenced but newer than the threshold
	TempFiles         int64         `json:"tempFiles"`         // full: our own temporary files (crash leftovers) among the candidates
	Refused           int64         `json:"refused"`           // lite: removes of _ or . paths or paths outside the root
	Candidates        int64         `json:"candidates"`        // files to delete
	CandidateBytes    int64         `json:"candidateBytes"`
	Deleted           int64         `json:"deleted"`
	DeletedBytes      int64         `json:"deletedBytes"`
	DeleteErrors      int64         `json:"deleteErrors"`
	StartVersion      int64         `json:"startVersion"` // VACUUM START commit, -1 if none
	EndVersion        int64         `json:"endVersion"`   // VACUUM END commit, -1 if none
	Duration          time.Duration `json:"durationNs"`
}

// VacuumFile is a file a vacuum deletes.
type VacuumFile struct {
	Key     string    // store key, relative to the table root
	Size    int64     // bytes (0 when unknown: lite mode without a size in the remove)
	ModTime time.Time // zero in lite mode
}

// VacuumPlan is the list of files a vacuum deletes, made from one version of the log and, in
// full mode, one complete listing. Close it to remove its temporary file.
type VacuumPlan struct {
	store          delta.Store
	opts           VacuumOptions
	files          *spillList
	metrics        VacuumMetrics
	tableRetention time.Duration
}

// Metrics are the plan's figures.
func (p *VacuumPlan) Metrics() VacuumMetrics { return p.metrics }

// Files yields the files the plan deletes.
func (p *VacuumPlan) Files() iter.Seq2[VacuumFile, error] {
	return func(yield func(VacuumFile, error) bool) {
		for e, err := range p.files.All() {
			if !yield(VacuumFile{Key: e.Key, Size: e.Size, ModTime: e.ModTime}, err) || err != nil {
				return
			}
		}
	}
}

// Close releases the plan's temporary file.
func (p *VacuumPlan) Close() error { return p.files.Close() }

// Vacuum plans a vacuum of the table in s and, unless opts.DryRun, executes it.
func Vacuum(ctx context.Context, s delta.Store, opts VacuumOptions) (VacuumMetrics, error) {
	p, err := PlanVacuum(ctx, s, opts)
	if err != nil {
		return VacuumMetrics{}, err
	}
	defer p.Close()
	return p.Execute(ctx)
}

// PlanVacuum finds the files to delete. Nothing is deleted or committed.
//
// The needed files are found in the latest version: every live file and every file removed
// after the threshold (now - retention), with their deletion vector files. Their keys, in one
// normal form (normKey: log paths decoded and cleaned, as delta.FileKey does), are sorted in
// the byte order of store listings, in runs of SpillEntries kept in temporary files, so memory
// does not grow with the table. A deletion vector file that cannot be placed under the root
// fails the plan (ErrUnresolvedPath): vacuum could not tell whether the listing holds it.
//
// Then, in full mode, the whole table is listed and merged with the sorted needed keys: every
// object that is not needed, not under a path segment starting with _ or . (the log,
// temporary and hidden files), and modified before the threshold becomes a candidate. Listed
// keys are compared in the same normal form ("a//b" is "a/b"); the few whose normal form
// differs from the key, or that come out of order, are sorted apart and merged in a second
// pass. Our own temporary files left by a crashed writer (delta.LocalTempPrefix...".tmp"; the
// local store lists them only through delta.TempLister) older than the threshold are
// candidates too, unless they lie in the log or a hidden directory. In lite mode the
// candidates are the files of removes older than the threshold, sorted and merged the same
// way. Candidates are collected before anything is deleted, in memory up to SpillEntries and
// in a temporary file beyond, so a listing that fails or is cancelled fails the plan: it never
// yields a partial list that looks complete.
func PlanVacuum(ctx context.Context, s delta.Store, opts VacuumOptions) (_ *VacuumPlan, err error) {
	start := time.Now()
	if err := opts.fill(); err != nil {
		return nil, err
	}
	// Begin checks the writer features: vacuum must understand every feature of the table
	// before it deletes anything (vacuumProtocolCheck), and it commits.
	txn, err := delta.Begin(ctx, s, opts.Txn)
	if err != nil {
		return nil, errwrap.URL("plan vacuum of", s.URL(), err)
	}
	snap := txn.Snapshot()
	tableRet, err := snap.Metadata().DeletedFileRetention()
	if err != nil {
		return nil, fmt.Errorf("plan vacuum of %s: %w", s.URL(), err)
	}
	retention := tableRet
	if opts.Retention != nil {
		if *opts.Retention < tableRet && !opts.ForceRetention && !opts.DryRun {
			return nil, fmt.Errorf("plan vacuum of %s: retention %s is below the table's %s (delta.deletedFileRetentionDuration); versions inside it could lose files: %w",
				s.URL(), *opts.Retention, tableRet, ErrRetentionTooShort)
		}
		retention = *opts.Retention
	}
	now := opts.Now()
	threshold := now.Add(-retention)
	thresholdMs := threshold.UnixMilli()
	p := &VacuumPlan{store: s, opts: opts, files: newSpillList(opts.TempDir, opts.SpillEntries), tableRetention: tableRet}
	defer func() {
		if err != nil {
			p.files.Close()
		}
	}()
	m := &p.metrics
	m.Mode, m.DryRun, m.ReadVersion = opts.Mode.String(), opts.DryRun, snap.Version()
	m.Retention, m.Threshold, m.StartVersion, m.EndVersion = retention, threshold, -1, -1
	root := s.URL()
	parts := snap.Metadata().PartitionColumns

	needed := newSortedRuns(opts.TempDir, opts.SpillEntries)
	defer needed.Close()
	expired := newSortedRuns(opts.TempDir, opts.SpillEntries) // lite: removes older than the threshold
	defer expired.Close()
	// addNeeded adds the key of a log path. A path with escapes also keeps the file named by
	// its undecoded spelling: a writer that did not encode its paths is not punished by a
	// deletion.
	addNeeded := func(logPath string) error {
		k, err := delta.FileKey(logPath)
		if err != nil {
			return err
		}
		if err := needed.Add(spillEntry{Key: k}); err != nil {
			return err
		}
		if strings.Contains(logPath, "%") {
			if raw, ok := normKey(logPath); ok && raw != k {
				return needed.Add(spillEntry{Key: raw})
			}
		}
		return nil
	}
	addDV := func(dv *delta.DeletionVector) error {
		k, ok, err := dvFileKey(root, dv)
		if err != nil {
			return err
		}
		if ok {
			return needed.Add(spillEntry{Key: k})
		}
		return nil
	}
	// Lite mode reads the commits first: they tell where the last completed vacuum stopped.
	handledBefore := int64(math.MinInt64)
	if opts.Mode == VacuumLite {
		if handledBefore, err = scanRemoves(ctx, s, snap.Version(), thresholdMs, expired, m); err != nil {
			return nil, errwrap.URL("plan vacuum of", s.URL(), err)
		}
	}
	for a, err := range snap.FileActions(ctx) {
		if err != nil {
			return nil, errwrap.URL("plan vacuum of", s.URL(), err)
		}
		switch {
		case a.Add != nil:
			m.LiveFiles++
			if err := addNeeded(a.Add.Path); err != nil {
				return nil, errwrap.URL("plan vacuum of", s.URL(), err)
			}
			if err := addDV(a.Add.DeletionVector); err != nil {
				return nil, fmt.Errorf("plan vacuum of %s: file %s: %w", s.URL(), a.Add.Path, err)
			}
		case a.Remove != nil:
			r := a.Remove
			// A remove without a deletion time is kept: when it happened is unknown.
			if r.DeletionTimestamp == nil || *r.DeletionTimestamp >= thresholdMs {
				m.TombstonesKept++
				if err := addNeeded(r.Path); err != nil {
					return nil, errwrap.URL("plan vacuum of", s.URL(), err)
				}
				if err := addDV(r.DeletionVector); err != nil {
					return nil, fmt.Errorf("plan vacuum of %s: file %s: %w", s.URL(), r.Path, err)
				}
				continue
			}
			if _, err := delta.FileKey(r.Path); err != nil {
				return nil, errwrap.URL("plan vacuum of", s.URL(), err)
			}
			m.TombstonesExpired++
			if opts.Mode == VacuumLite && *r.DeletionTimestamp >= handledBefore {
				if err := addExpired(expired, root, r); err != nil {
					return nil, errwrap.URL("plan vacuum of", s.URL(), err)
				}
			}
		}
	}
	m.NeededSetBytes, m.NeededRuns = needed.PeakBytes(), needed.Runs()

	cur := newKeyCursor(needed.All())
	defer cur.Close()
	if opts.Mode == VacuumLite {
		var prev string
		for e, err := range expired.All() {
			if err != nil {
				return nil, errwrap.URL("plan vacuum of", s.URL(), err)
			}
			if isHidden(e.Key, parts) {
				m.Refused++
				continue
			}
			if e.Key == prev {
				continue // removed more than once
			}
			prev = e.Key
			has, err := cur.Seek(e.Key)
			if err != nil {
				return nil, errwrap.URL("plan vacuum of", s.URL(), err)
			}
			if has {
				continue
			}
			if err := p.addCandidate(e); err != nil {
				return nil, err
			}
		}
	} else if err := p.planFull(ctx, cur, needed, threshold, parts); err != nil {
		return nil, errwrap.URL("plan vacuum of", s.URL(), err)
	}
	if err := cur.Drain(); err != nil {
		return nil, errwrap.URL("plan vacuum of", s.URL(), err)
	}
	m.NeededFiles = cur.Distinct()
	m.Duration = time.Since(start)
	return p, nil
}

// planFull lists the table and merges the listing with the needed keys (cur, over needed).
func (p *VacuumPlan) planFull(ctx context.Context, cur *keyCursor, needed *sortedRuns, threshold time.Time, parts []string) error {
	s, m := p.store, &p.metrics
	// Listed keys whose normal form is not the key itself, or that come out of order.
	odd := newSortedRuns(p.opts.TempDir, p.opts.SpillEntries)
	defer odd.Close()
	list := s.List
	if tl, ok := s.(delta.TempLister); ok {
		list = tl.ListWithTemp
	}
	last := ""
	// consider decides on a listed object that is not needed.
	consider := func(e spillEntry) error {
		if !e.ModTime.Before(threshold) {
			m.TooYoung++
			return nil
		}
		return p.addCandidate(e)
	}
	for o, err := range list(ctx, "", "") {
		if err != nil {
			return fmt.Errorf("list the table: %w", err)
		}
		m.Listed++
		if m.Listed%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("list the table: %w", err)
			}
		}
		e := spillEntry{Key: o.Key, Size: o.Size, ModTime: o.ModTime}
		if isOwnTemp(o.Key, parts) {
			if !o.ModTime.Before(threshold) {
				m.TooYoung++
				continue
			}
			m.TempFiles++
			if err := p.addCandidate(e); err != nil {
				return err
			}
			continue
		}
		if isHidden(o.Key, parts) {
			m.Hidden++
			continue
		}
		n, ok := normKey(o.Key)
		if !ok {
			m.Hidden++ // a key the store should never list (outside the root)
			continue
		}
		if n != o.Key || n <= last {
			if n != o.Key {
				e.Norm = n
			}
			if err := odd.Add(e); err != nil {
				return err
			}
			continue
		}
		last = n
		has, err := cur.Seek(n)
		if err != nil {
			return err
		}
		if has {
			continue
		}
		if err := consider(e); err != nil {
			return err
		}
	}
	// The listing ended without an error; a cancelled context must still not pass for the end
	// of the listing.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list the table: %w", err)
	}
	if odd.Len() == 0 {
		return nil
	}
	c := newKeyCursor(needed.All())
	defer c.Close()
	for e, err := range odd.All() {
		if err != nil {
			return err
		}
		has, err := c.Seek(e.norm())
		if err != nil {
			return err
		}
		if has {
			continue
		}
		e.Norm = ""
		if err := consider(e); err != nil {
			return err
		}
	}
	return nil
}

// normKey is the normal form of a store key, the one vacuum compares needed files and listed
// objects in: the key cleaned ("a//b" and "a/./b" are "a/b", "./b" is "b"). Log paths are
// decoded first (delta.FileKey, which cleans too). ok is false for a key that cleans to
// nothing, leaves the root or is absolute.
func normKey(key string) (string, bool) {
	c := path.Clean(key)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.HasPrefix(c, "/") {
		return "", false
	}
	return c, true
}

// isOwnTemp reports whether key is a temporary file of our own local store
// (delta.LocalTempPrefix + name + "." + random + ".tmp"), outside the log and hidden
// directories: the one kind of dot file vacuum removes, once older than the retention.
func isOwnTemp(key string, partCols []string) bool {
	dir, base := "", key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir, base = key[:i], key[i+1:]
	}
	if !strings.HasPrefix(base, delta.LocalTempPrefix) || !strings.HasSuffix(base, ".tmp") ||
		len(base) <= len(delta.LocalTempPrefix)+len(".tmp") {
		return false
	}
	return dir == "" || !isHidden(dir+"/x", partCols)
}

func (p *VacuumPlan) addCandidate(e spillEntry) error {
	if err := p.files.Add(e); err != nil {
		return err
	}
	p.metrics.Candidates++
	p.metrics.CandidateBytes += e.Size
	return nil
}

// addExpired records the file of an expired remove (and its deletion vector file).
func addExpired(l *sortedRuns, root string, r *delta.Remove) error {
	k, err := delta.FileKey(r.Path)
	if err != nil {
		return nil // outside the root: never ours to delete
	}
	var size int64
	if r.Size != nil {
		size = *r.Size
	}
	if err := l.Add(spillEntry{Key: k, Size: size}); err != nil {
		return err
	}
	dk, ok, err := dvFileKey(root, r.DeletionVector)
	if err != nil || !ok {
		return nil
	}
	return l.Add(spillEntry{Key: dk})
}

// vacuumSlack is how far before the previous vacuum's threshold lite mode still reads
// commits, for clocks that disagree.
const vacuumSlack = time.Hour

// scanRemoves reads the commits of the log, newest first (delta.CommitsNewestFirst: one
// listing, then one GET a commit, until it stops), and adds the removes older than the
// threshold to expired: checkpoints drop expired tombstones, so the snapshot alone would miss
// files that expired before the last checkpoint. It stops at the commits older than the
// threshold of the last completed vacuum (less vacuumSlack), whose removes were handled then,
// and returns that time in milliseconds (math.MinInt64 when no vacuum completed).
func scanRemoves(ctx context.Context, s delta.Store, latest, thresholdMs int64, expired *sortedRuns, m *VacuumMetrics) (int64, error) {
	root := s.URL()
	sawEnd := false
	stopBefore := int64(math.MinInt64) // commits older than this (ms) were handled by the last vacuum
	for c, err := range delta.CommitsNewestFirst(ctx, s, latest) {
		if err != nil {
			return 0, err
		}
		var ci delta.CommitInfo
		var removes []*delta.Remove
		for a, err := range c.Actions() {
			if err != nil {
				return 0, err
			}
			if a.CommitInfo != nil {
				ci = a.CommitInfo
			}
			if r := a.Remove; r != nil && r.DeletionTimestamp != nil && *r.DeletionTimestamp < thresholdMs {
				removes = append(removes, r)
			}
		}
		m.CommitsScanned++
		ts, hasTS := ci.Timestamp()
		if hasTS && ts < stopBefore {
			break
		}
		for _, r := range removes {
			if err := addExpired(expired, root, r); err != nil {
				return 0, err
			}
		}
		op, _ := ci.String("operation")
		params := map[string]string{}
		if raw, ok := ci["operationParameters"]; ok {
			_ = json.Unmarshal(raw, &params)
		}
		switch {
		case op == "VACUUM END" && strings.EqualFold(params["status"], "COMPLETED") && !sawEnd:
			sawEnd = true
		case op == "VACUUM START" && sawEnd && stopBefore == math.MinInt64 && hasTS:
			ret, ok := params["specifiedRetentionMillis"]
			if !ok || ret == "" || ret == "null" {
				ret = params["defaultRetentionMillis"]
			}
			if ms, err := strconv.ParseInt(ret, 10, 64); err == nil && ms >= 0 {
				stopBefore = ts - ms - vacuumSlack.Milliseconds()
			}
		}
	}
	return stopBefore, nil
}

// changeDataDir holds the files of cdc actions. No snapshot references them, so, as Delta's
// VACUUM does, they are deleted once older than the retention, like any unreferenced file.
const changeDataDir = "_change_data"

// isHidden reports whether a key lies under a path segment that vacuum never touches: one
// starting with _ or . (the log, temporary and hidden files), except the top-level
// _change_data directory. A directory named col=value for a partition column col is not
// hidden, even when col starts with _.
func isHidden(key string, partCols []string) bool {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		if seg == "" || (seg[0] != '_' && seg[0] != '.') {
			continue
		}
		if i == 0 && seg == changeDataDir && len(segs) > 1 {
			continue // change data files are vacuumed like data files
		}
		if i < len(segs)-1 {
			if col, _, ok := strings.Cut(seg, "="); ok && slices.Contains(partCols, col) {
				continue
			}
		}
		return true
	}
	return false
}

// Execute deletes the planned files, between a VACUUM START and a VACUUM END commit, with at
// most Parallelism deletes in flight. A dry-run plan deletes and commits nothing. A failed
// delete stops the vacuum (the files deleted stay deleted; VACUUM END records FAILED).
func (p *VacuumPlan) Execute(ctx context.Context) (VacuumMetrics, error) {
	start := time.Now()
	m := p.metrics
	if p.opts.DryRun {
		m.Duration = p.metrics.Duration + time.Since(start)
		return m, nil
	}
	retMs := m.Retention.Milliseconds()
	startParams := map[string]any{
		"retentionCheckEnabled":    !p.opts.ForceRetention,
		"specifiedRetentionMillis": retMs,
		"defaultRetentionMillis":   p.tableRetention.Milliseconds(),
		"vacuumType":               p.opts.Mode.String(),
	}
	v, err := commitOnly(ctx, p.store, p.opts.Txn, "VACUUM START", startParams,
		map[string]int64{"numFilesToDelete": m.Candidates, "sizeOfDataToDelete": m.CandidateBytes})
	if err != nil {
		m.Duration = p.metrics.Duration + time.Since(start)
		return m, errwrap.URL("vacuum", p.store.URL(), err)
	}
	m.StartVersion = v

	derr := p.deleteAll(ctx, &m)
	status := "COMPLETED"
	if derr != nil {
		status = "FAILED"
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	ev, eerr := commitOnly(ectx, p.store, p.opts.Txn, "VACUUM END", map[string]any{"status": status},
		map[string]int64{"numDeletedFiles": m.Deleted, "numVacuumedDirectories": 0})
	if eerr == nil || ev >= 0 {
		m.EndVersion = ev
	}
	m.Duration = p.metrics.Duration + time.Since(start)
	if derr != nil {
		return m, fmt.Errorf("vacuum %s: %w", p.store.URL(), errors.Join(derr, eerr))
	}
	if eerr != nil {
		return m, fmt.Errorf("vacuum %s: %w", p.store.URL(), eerr)
	}
	return m, nil
}

// commitOnly commits a commit that holds only its commitInfo.
func commitOnly(ctx context.Context, s delta.Store, o delta.TxnOptions, op string, params map[string]any, metrics map[string]int64) (int64, error) {
	t, err := delta.Begin(ctx, s, o)
	if err != nil {
		return -1, err
	}
	t.SetOperationMetrics(metrics)
	return t.Commit(ctx, op, params)
}

// deleteAll deletes the planned files with a bounded pool. It stops at the first error.
func (p *VacuumPlan) deleteAll(ctx context.Context, m *VacuumMetrics) error {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan spillEntry)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range p.opts.Parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				err := p.store.Delete(dctx, e.Key)
				mu.Lock()
				if err != nil {
					m.DeleteErrors++
					if first == nil {
						first = errwrap.URL("delete", e.Key, err)
						cancel()
					}
				} else {
					m.Deleted++
					m.DeletedBytes += e.Size
				}
				mu.Unlock()
			}
		}()
	}
	var ferr error
feed:
	for e, err := range p.files.All() {
		if err != nil {
			ferr = err
			break
		}
		select {
		case work <- e:
		case <-dctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	if ferr != nil {
		return ferr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}
