package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// EngineInfo is written to every commitInfo.
const EngineInfo = "deltaraster/0.1"

// TxnOptions are the settings of a transaction; zero fields take the defaults.
type TxnOptions struct {
	// MaxAttempts bounds how many versions a commit tries before giving up (default 100).
	MaxAttempts int
	// Backoff is the base of the jittered exponential wait after a lost race (default 2ms,
	// capped at 64 times the base).
	Backoff time.Duration
	// Now is the clock for commit timestamps (default time.Now).
	Now func() time.Time
	// PostCommit, when set, runs after a successful commit (the checkpoint package hooks in
	// here: version checksums and checkpoints). Its error is returned by Commit together with
	// the committed version: the commit itself stands.
	PostCommit func(ctx context.Context, c Committed) error
}

func (o *TxnOptions) fill() {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 100
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Committed describes a commit that landed, for post-commit work.
type Committed struct {
	Store       Store
	Version     int64
	ReadVersion int64     // the version the transaction read
	Read        *Snapshot // the snapshot the transaction read (protocol and metadata)
	Actions     []Action  // what the commit holds, commitInfo first
}

// Txn is an optimistic transaction: it reads the latest protocol, metadata and version when it
// begins, gathers actions, and commits them as the next version with put-if-absent. A lost race
// is checked against the winning commits only (WriteSerializable, as Spark): blind appends
// never conflict; a concurrent protocol or metadata change, a concurrent remove of a file this
// transaction read or removes, a concurrent advance of one of its app transactions, or a
// concurrent add of data matching a predicate this transaction read (MarkReadWhere) is an
// ErrConflict. Otherwise it retries at the next version. A put whose outcome is unknown is read
// back before anything else is tried (see Commit). A Txn is for one goroutine.
type Txn struct {
	store    Store
	opts     TxnOptions
	snap     *Snapshot
	id       string
	adds     []*Add
	removes  []*Remove
	txns     []SetTransaction
	domains  []*DomainMetadata
	metadata *Metadata
	protocol *Protocol
	readKeys keySet // files read: a concurrent remove of one conflicts
	readAll  bool   // read the whole table: any concurrent remove conflicts
	preds    []readPredicate
	done     bool // committed (or failed for good): a Txn commits once
	creating bool // BeginCreate: the commit is version 0 or ErrTableExists
	metrics  map[string]int64
}

// Begin starts a transaction on the latest version of the table in s. The table must exist
// and every writer feature it needs must be supported.
func Begin(ctx context.Context, s Store, opts TxnOptions) (*Txn, error) {
	opts.fill()
	snap, err := Open(ctx, s, forWriting())
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &Txn{store: s, opts: opts, snap: snap, id: uuid.NewString(), readKeys: newKeySet()}, nil
}

// Snapshot is the snapshot the transaction read.
func (t *Txn) Snapshot() *Snapshot { return t.snap }

// ReadVersion is the version the transaction began at.
func (t *Txn) ReadVersion() int64 { return t.snap.Version() }

// Add adds data files.
func (t *Txn) Add(adds ...*Add) { t.adds = append(t.adds, adds...) }

// Remove removes data files; a concurrent remove of the same file conflicts.
func (t *Txn) Remove(removes ...*Remove) { t.removes = append(t.removes, removes...) }

// MarkRead records that the transaction's result depends on file a: a concurrent remove of it
// is a conflict.
func (t *Txn) MarkRead(path string, dv *DeletionVector) { t.readKeys.add(keyOf(path, dv)) }

// MarkReadAll records that the transaction read the whole table: any concurrent remove of data
// is a conflict (concurrent appends still are not, under WriteSerializable).
func (t *Txn) MarkReadAll() { t.readAll = true }

// readPredicate is a query the transaction ran against the table's files: what it found
// decided what it writes, so a concurrent add that the query would have found is a conflict.
type readPredicate struct {
	desc  string
	match func(*Add) bool
}

// MarkReadWhere records that the transaction read the table's files matching match and acted on
// what it found (typically: "no live file holds source S, so add it"). A concurrent commit that
// adds a file with dataChange=true that match accepts is then a conflict, as Spark's
// ConcurrentAppendException: two writers that both found nothing never both add. desc names the
// predicate in the conflict error. match must be safe to call after Begin's caller returns and
// must not keep the *Add.
func (t *Txn) MarkReadWhere(desc string, match func(*Add) bool) {
	t.preds = append(t.preds, readPredicate{desc: desc, match: match})
}

// SetAppTransaction records that application appID has committed its version v here. A
// concurrent commit that sets the same appID conflicts.
func (t *Txn) SetAppTransaction(appID string, v int64) {
	t.txns = append(t.txns, SetTransaction{AppID: appID, Version: v})
}

// SetOperationMetrics records counts of what the operation did (numAddedFiles,
// numOutputRows, ...) in commitInfo.operationMetrics, with values as strings, as Spark writes
// them. A later call adds to and overrides earlier ones.
func (t *Txn) SetOperationMetrics(m map[string]int64) {
	if t.metrics == nil {
		t.metrics = make(map[string]int64, len(m))
	}
	for k, v := range m {
		t.metrics[k] = v
	}
}

// SetDomainMetadata writes (or with Removed, tombstones) a metadata domain.
func (t *Txn) SetDomainMetadata(d DomainMetadata) { t.domains = append(t.domains, &d) }

// SetMetadata replaces the table metadata (schema, configuration) in this commit.
func (t *Txn) SetMetadata(m Metadata) { t.metadata = &m }

// SetProtocol upgrades the protocol in this commit.
func (t *Txn) SetProtocol(p Protocol) { t.protocol = &p }

// IsBlindAppend reports whether the transaction only adds data files and read none.
func (t *Txn) IsBlindAppend() bool {
	if len(t.removes) > 0 || t.readAll || len(t.readKeys) > 0 || len(t.preds) > 0 || t.metadata != nil || t.protocol != nil {
		return false
	}
	for _, a := range t.adds {
		if !a.DataChange {
			return false
		}
	}
	return true
}

// Commit writes the transaction as the next version and returns that version. params become
// commitInfo.operationParameters (each value JSON-encoded, as Spark writes them).
//
// A put that fails with anything but "already exists" (a timeout after the request left, a
// reset connection) may have landed. Commit then reads that version back and compares its
// commitInfo.txnId with this transaction's: its own commit is a success, another's a lost race;
// when the version is absent the same body is put again at the same version (idempotent: a
// delayed first put makes the retry lose to itself, which the read-back recognises). When the
// outcome cannot be told, the error matches ErrCommitUnknown and names the version: the caller
// must read the table before deciding whether to write again.
func (t *Txn) Commit(ctx context.Context, operation string, params map[string]any) (int64, error) {
	if t.done {
		return -1, fmt.Errorf("commit to %s: this transaction has already committed", t.store.URL())
	}
	if err := t.validate(); err != nil {
		return -1, err
	}
	t.done = true
	attempt := t.snap.Version() + 1
	for n := 1; ; n++ {
		body, actions, err := t.encode(operation, params)
		if err != nil {
			return -1, err
		}
		err = t.put(ctx, attempt, body)
		if err == nil {
			return t.landed(ctx, attempt, actions)
		}
		if !errors.Is(err, ErrExist) {
			return -1, err
		}
		next, err := t.checkWinners(ctx, attempt)
		if errors.Is(err, errOwnCommit) {
			// The version "taken" holds this very commit: a put whose answer was lost and
			// that the store client sent again.
			return t.landed(ctx, attempt, actions)
		}
		if t.creating {
			return -1, fmt.Errorf("create table %s: %w", t.store.URL(), ErrTableExists)
		}
		if err != nil {
			return -1, err
		}
		if n >= t.opts.MaxAttempts {
			return -1, fmt.Errorf("commit to %s: gave up after %d attempts (last version tried %d): %w", t.store.URL(), n, attempt, ErrConflict)
		}
		// Back off, then read what landed meanwhile and try the first free version at once:
		// a version found free and tried only after the wait has usually been taken by then,
		// and a writer that always waits between the two starves beside writers that do not.
		t.wait(ctx, n)
		if err := ctx.Err(); err != nil {
			return -1, fmt.Errorf("commit to %s: %w", t.store.URL(), err)
		}
		if attempt, err = t.checkWinners(ctx, next); err != nil {
			return -1, err
		}
	}
}

// landed runs the post-commit hook for the commit at version v.
func (t *Txn) landed(ctx context.Context, v int64, actions []Action) (int64, error) {
	if t.opts.PostCommit != nil {
		c := Committed{Store: t.store, Version: v, ReadVersion: t.snap.Version(), Read: t.snap, Actions: actions}
		if err := t.opts.PostCommit(ctx, c); err != nil {
			return v, &AfterCommitError{Version: v, Err: err}
		}
	}
	return v, nil
}

// errOwnCommit is checkWinners' answer when the first "winner" is this transaction's own
// commit.
var errOwnCommit = errors.New("delta: the version holds this transaction's commit")

// maxUnknownRetries bounds how often a put whose outcome was unknown and whose version was then
// found absent is tried again at the same version.
const maxUnknownRetries = 3

// readBackTimeout bounds the read-back of a put whose outcome is unknown; it runs even when the
// caller's context was cancelled during the put, so that a landed commit is reported as such.
const readBackTimeout = 30 * time.Second

// put writes the commit at version v with put-if-absent. It returns nil when the commit landed
// (also when a put that failed turns out to have landed), an error matching ErrExist when the
// version is taken (checkWinners then tells whether by this transaction: a store client that
// retries a put whose answer was lost gets "already exists" from its own first try), and
// otherwise an error, matching ErrCommitUnknown when the commit may have landed.
func (t *Txn) put(ctx context.Context, v int64, body []byte) error {
	key := CommitKey(v)
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("commit version %d of %s: %w", v, t.store.URL(), err) // never sent
		}
		err := t.store.PutIfAbsent(ctx, key, body)
		if err == nil || errors.Is(err, ErrExist) {
			return err
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readBackTimeout)
		ours, present, rerr := t.readBack(rctx, v)
		cancel()
		switch {
		case rerr != nil:
			return fmt.Errorf("commit version %d of %s: %w: the put failed (%w) and reading the version back failed (%w)",
				v, t.store.URL(), ErrCommitUnknown, err, rerr)
		case ours:
			return nil // the put landed; its answer was lost
		case present:
			return fmt.Errorf("put-if-absent %s: %w", key, ErrExist)
		case ctx.Err() != nil || try >= maxUnknownRetries:
			// Absent now, but a put cut off in flight may still land.
			return fmt.Errorf("commit version %d of %s: %w: the put failed (%w) and the version is absent after %d tries",
				v, t.store.URL(), ErrCommitUnknown, err, try)
		}
		// Absent: the put did not land (or has not yet: then the next try loses to it and
		// checkWinners finds it ours). Put the same body again at v.
	}
}

// readBack reports whether version v exists and holds this transaction's commit (by txnId).
func (t *Txn) readBack(ctx context.Context, v int64) (ours, present bool, err error) {
	ci, err := ReadCommitInfo(ctx, t.store, v)
	if errors.Is(err, ErrNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	id, _ := ci.String("txnId")
	return id == t.id, true, nil
}

func (t *Txn) wait(ctx context.Context, n int) {
	limit := t.opts.Backoff << min(n-1, 6)
	d := time.Duration(rand.Int64N(int64(limit) + 1))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// validate refuses commits the table's protocol forbids and paths that leave the root.
func (t *Txn) validate() error {
	p, m := t.snap.Protocol(), t.snap.Metadata()
	if t.protocol != nil {
		p = *t.protocol
	}
	if t.metadata != nil {
		m = *t.metadata
	}
	if err := CheckWrite(p, m); err != nil {
		return fmt.Errorf("commit to %s: %w", t.store.URL(), err)
	}
	if len(t.domains) > 0 && !slices.Contains(WriterFeaturesOf(p), "domainMetadata") {
		return fmt.Errorf("commit to %s: domain metadata needs the writer feature domainMetadata, which the table does not have: %w", t.store.URL(), ErrUnsupportedFeature)
	}
	if IsAppendOnly(p, m) {
		for _, r := range t.removes {
			if r.DataChange {
				return fmt.Errorf("commit to %s: remove of %s: the table is append-only (delta.appendOnly=true)", t.store.URL(), r.Path)
			}
		}
	}
	for _, a := range t.adds {
		if err := checkPath(a.Path); err != nil {
			return fmt.Errorf("commit to %s: add %q: %w", t.store.URL(), a.Path, err)
		}
	}
	for _, r := range t.removes {
		if err := checkPath(r.Path); err != nil {
			return fmt.Errorf("commit to %s: remove %q: %w", t.store.URL(), r.Path, err)
		}
	}
	return nil
}

// checkWinners reads the commits from first to the newest one and returns the next version to
// try, or ErrConflict naming the winning version and the reason.
func (t *Txn) checkWinners(ctx context.Context, first int64) (int64, error) {
	mine := newKeySet()
	for _, r := range t.removes {
		mine.add(keyOf(r.Path, r.DeletionVector))
	}
	apps := map[string]bool{}
	for _, x := range t.txns {
		apps[x.AppID] = true
	}
	domains := map[string]bool{}
	for _, d := range t.domains {
		domains[d.Domain] = true
	}
	next := first
	for c, err := range CommitsAfter(ctx, t.store, first-1) {
		if err != nil {
			return -1, fmt.Errorf("check concurrent commits: %w", err)
		}
		v := c.Version
		var conflict error
		for a, err := range c.Actions() {
			if err != nil {
				return -1, fmt.Errorf("check concurrent commit %d: %w", v, err)
			}
			switch {
			case a.CommitInfo != nil && v == first:
				if id, _ := a.CommitInfo.String("txnId"); id == t.id {
					conflict = errOwnCommit
				}
			case a.Protocol != nil:
				conflict = fmt.Errorf("version %d changed the protocol", v)
			case a.Metadata != nil:
				conflict = fmt.Errorf("version %d changed the metadata", v)
			case a.DomainMetadata != nil && domains[a.DomainMetadata.Domain]:
				conflict = fmt.Errorf("version %d also changed metadata domain %q", v, a.DomainMetadata.Domain)
			case a.Add != nil && a.Add.DataChange && len(t.preds) > 0:
				for _, p := range t.preds {
					if p.match(a.Add) {
						conflict = fmt.Errorf("version %d added %s, which matches what this transaction read (%s)", v, a.Add.Path, p.desc)
						break
					}
				}
			case a.Txn != nil && apps[a.Txn.AppID]:
				conflict = fmt.Errorf("version %d advanced app transaction %q to %d", v, a.Txn.AppID, a.Txn.Version)
			case a.Remove != nil:
				k := keyOf(a.Remove.Path, a.Remove.DeletionVector)
				switch {
				case mine.has(k):
					conflict = fmt.Errorf("version %d also removed %s", v, a.Remove.Path)
				case t.readKeys.has(k):
					conflict = fmt.Errorf("version %d removed %s, which this transaction read", v, a.Remove.Path)
				case t.readAll && a.Remove.DataChange:
					conflict = fmt.Errorf("version %d removed %s from the table this transaction read", v, a.Remove.Path)
				}
			}
			if conflict != nil {
				break
			}
		}
		if conflict == errOwnCommit {
			return -1, conflict
		}
		if conflict != nil {
			return -1, fmt.Errorf("commit to %s (read version %d): %w: %w", t.store.URL(), t.snap.Version(), ErrConflict, conflict)
		}
		next = v + 1
	}
	return next, nil // next is free: try it
}

// encode renders the commit: commitInfo first, then protocol, metadata, txns, domains,
// removes and adds, one action a line.
func (t *Txn) encode(operation string, params map[string]any) ([]byte, []Action, error) {
	ci := CommitInfo{}
	now := t.opts.Now().UnixMilli()
	op := map[string]string{}
	for k, v := range params {
		if s, ok := v.(string); ok {
			op[k] = s
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("encode operation parameter %s: %w", k, err)
		}
		op[k] = string(raw)
	}
	for k, v := range map[string]any{
		"timestamp": now, "operation": operation, "operationParameters": op, "engineInfo": EngineInfo,
		"isBlindAppend": t.IsBlindAppend(), "txnId": t.id, "readVersion": t.snap.Version(),
		"isolationLevel": "WriteSerializable",
	} {
		if err := ci.Set(k, v); err != nil {
			return nil, nil, err
		}
	}
	if len(t.metrics) > 0 {
		m := make(map[string]string, len(t.metrics))
		for k, v := range t.metrics {
			m[k] = strconv.FormatInt(v, 10)
		}
		if err := ci.Set("operationMetrics", m); err != nil {
			return nil, nil, err
		}
	}
	var buf bytes.Buffer
	var actions []Action
	write := func(a Action) error {
		actions = append(actions, a)
		line, err := MarshalAction(a)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
		return nil
	}
	if err := write(Action{CommitInfo: ci}); err != nil {
		return nil, nil, err
	}
	if t.protocol != nil {
		if err := write(Action{Protocol: t.protocol}); err != nil {
			return nil, nil, err
		}
	}
	if t.metadata != nil {
		if err := write(Action{Metadata: t.metadata}); err != nil {
			return nil, nil, err
		}
	}
	for _, x := range t.txns {
		last := now
		if err := write(Action{Txn: &SetTransaction{AppID: x.AppID, Version: x.Version, LastUpdated: &last}}); err != nil {
			return nil, nil, err
		}
	}
	for _, d := range t.domains {
		if err := write(Action{DomainMetadata: d}); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range t.removes {
		if r.DeletionTimestamp == nil {
			ts := now
			r.DeletionTimestamp = &ts
		}
		if err := write(Action{Remove: r}); err != nil {
			return nil, nil, err
		}
	}
	for _, a := range t.adds {
		if err := write(Action{Add: a}); err != nil {
			return nil, nil, err
		}
	}
	return buf.Bytes(), actions, nil
}
