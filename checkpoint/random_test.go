package checkpoint_test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
)

var (
	randomSeeds = flag.Int("random.seeds", 200, "number of seeded workloads TestRandomWorkloads runs")
	randomSeed  = flag.Int64("random.seed", -1, "run only this seed of TestRandomWorkloads")
	// copiedRows counts Result.CopiedRows over every workload: classic, then V2.
	copiedRows [2]atomic.Int64
)

// TestRandomWorkloads runs seeded random histories (adds with stats, removes, re-adds,
// deletion-vector updates, app transactions, configuration changes, a V2 upgrade, checkpoints
// at random versions with small batches and several sidecars, a clock moving by minutes to
// weeks) and compares what readers see, at the latest version and at earlier ones, with a
// plain in-memory replay of the commits. The model applies tombstone and txn retention
// exactly where a reader meets it: in the checkpoint the snapshot is read through, with the
// clock and table properties of the moment that checkpoint was written.
//
// A failure names its seed; rerun it alone with -run TestRandomWorkloads -random.seed=N -v.
// -random.seeds=N runs more (or fewer) seeds; -short runs 20.
func TestRandomWorkloads(t *testing.T) {
	first, n := int64(1), int64(*randomSeeds)
	if testing.Short() {
		n = min(n, 20)
	}
	if *randomSeed >= 0 {
		first, n = *randomSeed, 1
	}
	if n >= 20 {
		// Most checkpoints follow an earlier one this package wrote: their rows must have been
		// copied as columns, in both formats, or that path went untested.
		t.Cleanup(func() {
			t.Logf("rows copied from previous checkpoints: classic %d, v2 %d", copiedRows[0].Load(), copiedRows[1].Load())
			if copiedRows[0].Load() == 0 || copiedRows[1].Load() == 0 {
				t.Errorf("rows copied from previous checkpoints: classic %d, v2 %d; want both > 0",
					copiedRows[0].Load(), copiedRows[1].Load())
			}
		})
	}
	for seed := first; seed < first+n; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runRandomWorkload(t, seed)
		})
	}
}

// Model of the log: what the test wrote, replayed by the simplest possible rules.

type mState struct {
	protocol delta.Protocol
	metadata delta.Metadata
	files    map[string]delta.Add    // by fileKey, live
	tombs    map[string]delta.Remove // by fileKey, in force
	txns     map[string]delta.SetTransaction
}

func (s mState) clone() mState {
	c := s
	c.files = maps.Clone(s.files)
	c.tombs = maps.Clone(s.tombs)
	c.txns = maps.Clone(s.txns)
	if c.files == nil {
		c.files = map[string]delta.Add{}
	}
	if c.tombs == nil {
		c.tombs = map[string]delta.Remove{}
	}
	if c.txns == nil {
		c.txns = map[string]delta.SetTransaction{}
	}
	return c
}

// apply replays one commit. Within a commit every key appears once, so order does not matter.
func (s *mState) apply(actions []delta.Action) {
	for _, a := range actions {
		switch {
		case a.Protocol != nil:
			s.protocol = *a.Protocol
		case a.Metadata != nil:
			s.metadata = *a.Metadata
		case a.Txn != nil:
			s.txns[a.Txn.AppID] = *a.Txn
		case a.Remove != nil:
			k := fileKey(a.Remove.Path, a.Remove.DeletionVector)
			delete(s.files, k)
			s.tombs[k] = *a.Remove
		case a.Add != nil:
			k := fileKey(a.Add.Path, a.Add.DeletionVector)
			delete(s.tombs, k)
			s.files[k] = *a.Add
		}
	}
}

func (s mState) observed(version int64) observed {
	o := observed{st: tableState{Version: version, Protocol: s.protocol, Metadata: s.metadata,
		Files: map[string]string{}, Tombstones: map[string]string{}, Txns: map[string]int64{}}, lus: map[string]int64{}}
	norm(&o.st.Protocol)
	for k, a := range s.files {
		o.st.Files[k] = addJSON(a)
	}
	for k, r := range s.tombs {
		o.st.Tombstones[k] = removeJSON(r)
	}
	for id, x := range s.txns {
		o.st.Txns[id] = x.Version
		o.lus[id] = -1
		if x.LastUpdated != nil {
			o.lus[id] = *x.LastUpdated
		}
	}
	return o
}

// mCheckpoint is the checkpoint a reader picks at one version and the state it holds.
type mCheckpoint struct {
	classic bool
	key     string // the top-level file
	state   mState
}

type logModel struct {
	commits [][]delta.Action // by version
	cps     map[int64]*mCheckpoint
}

// stateAt is the state a reader sees at v: the newest checkpoint at or before v, then the
// commits after it.
func (m *logModel) stateAt(v int64) (mState, *mCheckpoint, int64) {
	cpv := int64(-1)
	for c := range m.cps {
		if c <= v && c > cpv {
			cpv = c
		}
	}
	var st mState
	var cp *mCheckpoint
	if cpv >= 0 {
		cp = m.cps[cpv]
		st = cp.state.clone()
	} else {
		st = mState{}.clone()
	}
	for u := cpv + 1; u <= v; u++ {
		st.apply(m.commits[u])
	}
	return st, cp, cpv
}

// retention durations of the property values the workload sets.
var intervals = map[string]time.Duration{
	"interval 1 day":    24 * time.Hour,
	"interval 36 hours": 36 * time.Hour,
	"3 days":            72 * time.Hour,
	"interval 1 week":   7 * 24 * time.Hour,
	"interval 2 weeks":  14 * 24 * time.Hour,
	"interval 5 days":   5 * 24 * time.Hour,
	"2 days":            48 * time.Hour,
}

// checkpointed is what a checkpoint of st written at now keeps.
func checkpointed(t *testing.T, st mState, now time.Time) (kept mState, droppedRemoves, droppedTxns int64) {
	kept = st.clone()
	ret := 7 * 24 * time.Hour
	if v, ok := st.metadata.Configuration["delta.deletedFileRetentionDuration"]; ok {
		d, known := intervals[v]
		if !known {
			t.Fatalf("model: unknown interval %q", v)
		}
		ret = d
	}
	from := now.Add(-ret).UnixMilli()
	for k, r := range kept.tombs {
		if *r.DeletionTimestamp < from {
			delete(kept.tombs, k)
			droppedRemoves++
		}
	}
	if v, ok := st.metadata.Configuration["delta.setTransactionRetentionDuration"]; ok {
		d, known := intervals[v]
		if !known {
			t.Fatalf("model: unknown interval %q", v)
		}
		from := now.Add(-d).UnixMilli()
		for id, x := range kept.txns {
			if *x.LastUpdated < from {
				delete(kept.txns, id)
				droppedTxns++
			}
		}
	}
	return kept, droppedRemoves, droppedTxns
}

// The workload.

type workload struct {
	t       *testing.T
	ctx     context.Context
	rng     *rand.Rand
	s       delta.Store
	clock   *testClock
	opts    delta.TxnOptions
	model   logModel
	dvs     bool
	parted  bool
	nextID  int
	removed []string // paths once removed (candidates for re-adding)
	hintMax int64
	log     []string // what happened, for the failure message
}

func (w *workload) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf(format, args...))
}

func (w *workload) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s\nhistory:\n  %s", fmt.Sprintf(format, args...), strings.Join(w.log, "\n  "))
}

func (w *workload) latest() int64 { return int64(len(w.model.commits)) - 1 }

func (w *workload) current() mState {
	st, _, _ := w.model.stateAt(w.latest())
	return st
}

// advance moves the clock by minutes to weeks.
func (w *workload) advance() {
	var d time.Duration
	switch r := w.rng.IntN(100); {
	case r < 50:
		d = time.Duration(1+w.rng.IntN(300)) * time.Minute
	case r < 80:
		d = time.Duration(1+w.rng.IntN(72)) * time.Hour
	case r < 95:
		d = time.Duration(1+w.rng.IntN(10)) * 24 * time.Hour
	default:
		d = time.Duration(1+w.rng.IntN(3)) * 7 * 24 * time.Hour
	}
	d += time.Duration(w.rng.IntN(1000)) * time.Millisecond
	w.clock.Advance(d)
}

func (w *workload) partValue() *string {
	if !w.parted {
		return nil
	}
	vals := []string{"a", "b", "c d", "x/y=%z", ""}
	if w.rng.IntN(8) == 0 {
		return nil // a null partition value
	}
	v := vals[w.rng.IntN(len(vals))]
	return &v
}

func (w *workload) newAdd(p string) delta.Add {
	now := w.clock.Now()
	part := w.partValue()
	pv := delta.PartitionValues{}
	if w.parted {
		pv["part"] = part
	}
	n := int64(1 + w.rng.IntN(100000))
	lo := w.rng.Int64N(1<<62) - 1<<61
	names := []string{"alpha", "Zürich", `quo"te`, "tab\there", "日本", ""}
	minName, maxName := names[w.rng.IntN(len(names))], names[w.rng.IntN(len(names))]
	stats := fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"name":%q},"maxValues":{"id":%d,"name":%q},"nullCount":{"id":%d,"name":%d}}`,
		n, lo, minName, lo+w.rng.Int64N(1<<40), maxName, w.rng.Int64N(n+1), w.rng.Int64N(n+1))
	if w.rng.IntN(10) == 0 {
		stats = "" // files without stats
	}
	a := delta.Add{Path: p, PartitionValues: pv, Size: 1 + w.rng.Int64N(1<<30), ModificationTime: now.UnixMilli(),
		DataChange: true, Stats: stats}
	if w.rng.IntN(4) == 0 {
		a.Tags = map[string]string{"INSERTION_TIME": fmt.Sprint(now.UnixMicro()), "ZORDER": "id"}
	}
	return a
}

func (w *workload) newDV() *delta.DeletionVector {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[w.rng.IntN(len(alphabet))]
	}
	dv := &delta.DeletionVector{StorageType: "u", PathOrInlineDv: string(b), SizeInBytes: int32(30 + w.rng.IntN(100)),
		Cardinality: 1 + w.rng.Int64N(1000)}
	switch w.rng.IntN(3) {
	case 0:
		dv.StorageType = "i"
	default:
		off := int32(1 + w.rng.IntN(1000))
		dv.Offset = &off
	}
	return dv
}

var appIDs = []string{"ingestd-1", "ingestd-2", "stream/α"}

// randomCommit builds and commits one random transaction, and records it in the model.
func (w *workload) randomCommit() {
	w.advance()
	now := w.clock.Now()
	nowMS := now.UnixMilli()
	st := w.current()
	var removes []delta.Remove
	var adds []delta.Add
	var txns []delta.SetTransaction
	var meta *delta.Metadata
	used := map[string]bool{} // keys in this commit
	livePaths := map[string]bool{}
	for _, a := range st.files {
		livePaths[a.Path] = true
	}
	liveKeys := slices.Sorted(maps.Keys(st.files))
	w.rng.Shuffle(len(liveKeys), func(i, j int) { liveKeys[i], liveKeys[j] = liveKeys[j], liveKeys[i] })
	pickLive := func() (delta.Add, bool) {
		for len(liveKeys) > 0 {
			k := liveKeys[0]
			liveKeys = liveKeys[1:]
			if !used[k] {
				return st.files[k], true
			}
		}
		return delta.Add{}, false
	}
	var did []string
	for n := 1 + w.rng.IntN(4); n > 0; n-- {
		switch r := w.rng.IntN(100); {
		case r < 40: // new files
			for range 1 + w.rng.IntN(3) {
				w.nextID++
				p := fmt.Sprintf("part-%05d-%x.parquet", w.nextID, w.rng.Uint32())
				if w.parted && w.rng.IntN(2) == 0 {
					p = "part=v/" + p
				}
				a := w.newAdd(p)
				used[fileKey(a.Path, nil)] = true
				adds = append(adds, a)
				did = append(did, "add "+p)
			}
		case r < 60: // remove a live file
			a, ok := pickLive()
			if !ok {
				continue
			}
			rm := *removeOf(&a)
			rm.DeletionTimestamp = &nowMS
			if w.rng.IntN(5) == 0 {
				rm.Stats = a.Stats // Spark may keep stats on removes; checkpoints drop them
			}
			used[fileKey(a.Path, a.DeletionVector)] = true
			removes = append(removes, rm)
			w.removed = append(w.removed, a.Path)
			did = append(did, fmt.Sprintf("remove %s dv=%q", a.Path, a.DeletionVector.UniqueID()))
		case r < 70: // re-add a path removed earlier that has nothing live
			for range 3 {
				if len(w.removed) == 0 {
					break
				}
				p := w.removed[w.rng.IntN(len(w.removed))]
				k := fileKey(p, nil)
				if livePaths[p] || used[k] {
					continue
				}
				a := w.newAdd(p)
				used[k] = true
				livePaths[p] = true
				adds = append(adds, a)
				did = append(did, "re-add "+p)
				break
			}
		case r < 80: // deletion-vector update
			if !w.dvs {
				continue
			}
			a, ok := pickLive()
			if !ok {
				continue
			}
			rm := *removeOf(&a)
			rm.DeletionTimestamp = &nowMS
			na := a
			na.DeletionVector = w.newDV()
			na.ModificationTime = nowMS
			k2 := fileKey(na.Path, na.DeletionVector)
			if used[k2] {
				continue
			}
			used[fileKey(a.Path, a.DeletionVector)] = true
			used[k2] = true
			removes = append(removes, rm)
			adds = append(adds, na)
			did = append(did, fmt.Sprintf("dv %s %q -> %q", a.Path, a.DeletionVector.UniqueID(), na.DeletionVector.UniqueID()))
		case r < 92: // app transaction
			id := appIDs[w.rng.IntN(len(appIDs))]
			if slices.ContainsFunc(txns, func(x delta.SetTransaction) bool { return x.AppID == id }) {
				continue
			}
			v := int64(0)
			if old, ok := st.txns[id]; ok {
				v = old.Version + 1 + w.rng.Int64N(3)
			}
			txns = append(txns, delta.SetTransaction{AppID: id, Version: v, LastUpdated: &nowMS})
			did = append(did, fmt.Sprintf("txn %s=%d", id, v))
		default: // configuration change
			if meta != nil {
				continue
			}
			m := st.metadata
			conf := maps.Clone(m.Configuration)
			if conf == nil {
				conf = map[string]string{}
			}
			switch w.rng.IntN(4) {
			case 0:
				setOrUnset(w.rng, conf, "delta.deletedFileRetentionDuration",
					"interval 1 day", "interval 36 hours", "3 days", "interval 1 week", "interval 2 weeks")
			case 1:
				setOrUnset(w.rng, conf, "delta.setTransactionRetentionDuration", "interval 1 day", "2 days", "interval 5 days")
			case 2:
				setOrUnset(w.rng, conf, "delta.checkpoint.writeStatsAsStruct", "true", "false")
			default:
				conf["user.note"] = fmt.Sprintf("v%d ünïcode", w.rng.IntN(1000))
			}
			m.Configuration = conf
			meta = &m
			did = append(did, fmt.Sprintf("metadata %v", conf))
		}
	}
	if len(did) == 0 {
		w.nextID++
		p := fmt.Sprintf("part-%05d.parquet", w.nextID)
		adds = append(adds, w.newAdd(p))
		did = append(did, "add "+p)
	}
	tx, err := delta.Begin(w.ctx, w.s, w.opts)
	if err != nil {
		w.fatalf("Begin: %v", err)
	}
	var actions []delta.Action
	if meta != nil {
		tx.SetMetadata(*meta)
		actions = append(actions, delta.Action{Metadata: meta})
	}
	for i := range txns {
		tx.SetAppTransaction(txns[i].AppID, txns[i].Version)
		actions = append(actions, delta.Action{Txn: &txns[i]})
	}
	for i := range removes {
		r := removes[i]
		tx.Remove(&r)
		actions = append(actions, delta.Action{Remove: &removes[i]})
	}
	for i := range adds {
		a := adds[i]
		tx.Add(&a)
		actions = append(actions, delta.Action{Add: &adds[i]})
	}
	v, err := tx.Commit(w.ctx, "WRITE", nil)
	if err != nil {
		w.fatalf("Commit: %v", err)
	}
	if v != w.latest()+1 {
		w.fatalf("committed version %d, want %d", v, w.latest()+1)
	}
	w.model.commits = append(w.model.commits, actions)
	w.logf("v%d at %s: %s", v, now.Format(time.RFC3339), strings.Join(did, "; "))
}

func setOrUnset(rng *rand.Rand, conf map[string]string, key string, values ...string) {
	if rng.IntN(len(values)+1) == 0 {
		delete(conf, key)
		return
	}
	conf[key] = values[rng.IntN(len(values))]
}

// enableV2 upgrades the table with checkpoint.EnableV2 and records the commit.
func (w *workload) enableV2() {
	w.advance()
	st := w.current()
	v, err := checkpoint.EnableV2(w.ctx, w.s, w.opts)
	if err != nil {
		w.fatalf("EnableV2: %v", err)
	}
	if v != w.latest()+1 {
		w.fatalf("EnableV2 committed version %d, want %d", v, w.latest()+1)
	}
	p := delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7}
	if st.protocol.MinReaderVersion >= 3 {
		p.ReaderFeatures = append(p.ReaderFeatures, st.protocol.ReaderFeatures...)
	}
	if st.protocol.MinWriterVersion >= 7 {
		p.WriterFeatures = append(p.WriterFeatures, st.protocol.WriterFeatures...)
	} else {
		p.WriterFeatures = append(p.WriterFeatures, "appendOnly", "invariants") // implied by writer 2
	}
	p.ReaderFeatures = append(p.ReaderFeatures, "v2Checkpoint")
	p.WriterFeatures = append(p.WriterFeatures, "v2Checkpoint")
	m := st.metadata
	m.Configuration = maps.Clone(m.Configuration)
	m.Configuration["delta.checkpointPolicy"] = "v2"
	w.model.commits = append(w.model.commits, []delta.Action{{Protocol: &p}, {Metadata: &m}})
	w.logf("v%d at %s: EnableV2", v, w.clock.Now().Format(time.RFC3339))
}

// randomCheckpoint writes a checkpoint at a random version and checks its result against the
// model, then records it.
func (w *workload) randomCheckpoint() {
	if w.rng.IntN(3) == 0 {
		w.clock.Advance(time.Duration(w.rng.IntN(48*60)) * time.Minute)
	}
	version := w.latest()
	if w.rng.IntN(10) < 4 {
		version = w.rng.Int64N(w.latest() + 1)
	}
	arg := version
	if version == w.latest() && w.rng.IntN(2) == 0 {
		arg = -1
	}
	o := checkpoint.Options{Now: w.clock.Now, BatchRows: 1 + w.rng.IntN(50), Sidecars: 1 + w.rng.IntN(3)}
	if w.rng.IntN(4) == 0 {
		o.RowGroupBytes = int64(1 + w.rng.IntN(4096)) // many row groups
	}
	if w.rng.IntN(8) == 0 {
		o.Format = checkpoint.FormatClassic
	}
	before, _, _ := w.model.stateAt(version)
	now := w.clock.Now()
	res, err := checkpoint.Write(w.ctx, w.s, arg, o)
	if err != nil {
		w.fatalf("checkpoint.Write(version %d, %+v): %v", arg, o, err)
	}
	w.logf("checkpoint at v%d (%s, batch %d, sidecars %d, row group bytes %d) at %s: %d adds, %d tombstones, %d dropped, %d txns dropped, %d rows copied",
		version, res.Format, o.BatchRows, o.Sidecars, o.RowGroupBytes, now.Format(time.RFC3339), res.NumAddFiles,
		res.NumTombstones, res.DroppedRemoves, res.DroppedTxns, res.CopiedRows)
	copiedRows[map[string]int{"classic": 0, "v2": 1}[res.Format]].Add(res.CopiedRows)
	if res.Version != version {
		w.fatalf("checkpoint version %d, want %d", res.Version, version)
	}
	v2 := slices.Contains(before.protocol.ReaderFeatures, "v2Checkpoint") && o.Format != checkpoint.FormatClassic
	if want := map[bool]string{true: "v2", false: "classic"}[v2]; res.Format != want {
		w.fatalf("checkpoint format %q, want %q", res.Format, want)
	}
	kept, droppedRemoves, droppedTxns := checkpointed(w.t, before, now)
	var size int64
	for _, a := range kept.files {
		size += a.Size
	}
	if res.Existing {
		// A classic checkpoint of this version was there already: it is kept as it is.
		if old := w.model.cps[version]; old == nil || !old.classic || v2 {
			w.fatalf("checkpoint at v%d reports an existing classic checkpoint the model does not have", version)
		}
		w.hintMax = max(w.hintMax, version)
		return
	}
	if res.NumAddFiles != int64(len(kept.files)) || res.NumTombstones != int64(len(kept.tombs)) ||
		res.TableSizeBytes != size || res.DroppedRemoves != droppedRemoves || res.DroppedTxns != droppedTxns {
		w.fatalf("checkpoint at v%d reports %d adds, %d tombstones, %d bytes, %d/%d dropped; model: %d, %d, %d, %d/%d",
			version, res.NumAddFiles, res.NumTombstones, res.TableSizeBytes, res.DroppedRemoves, res.DroppedTxns,
			len(kept.files), len(kept.tombs), size, droppedRemoves, droppedTxns)
	}
	top := res.Keys[len(res.Keys)-1]
	cp := &mCheckpoint{classic: !v2, key: top, state: kept}
	switch old := w.model.cps[version]; {
	case old == nil, cp.classic && !old.classic: // readers prefer a classic checkpoint
		w.model.cps[version] = cp
	case !old.classic && top < old.key: // among V2 ones readers take the first listed
		w.model.cps[version] = cp
	}
	w.hintMax = max(w.hintMax, version)
	if lc, ok := readHint(w.t, w.ctx, w.s); !ok || lc.Version != w.hintMax {
		w.fatalf("_last_checkpoint names version %d (present %v), want %d", lc.Version, ok, w.hintMax)
	}
}

// check compares what readers see at v with the model, and the checkpoint they read through.
func (w *workload) check(v int64) {
	w.t.Helper()
	want, cp, cpv := w.model.stateAt(v)
	snap, err := delta.Open(w.ctx, w.s, delta.AtVersion(v), delta.WithBatchRows(1+w.rng.IntN(64)))
	if err != nil {
		w.fatalf("open at version %d: %v", v, err)
	}
	seg := snap.Segment()
	switch {
	case cp == nil && seg.Checkpoint != nil:
		w.fatalf("version %d read through checkpoint %d, want none", v, seg.Checkpoint.Version)
	case cp != nil && seg.Checkpoint == nil:
		w.fatalf("version %d read without a checkpoint, want the one at %d", v, cpv)
	case cp != nil && (seg.Checkpoint.Version != cpv || seg.Checkpoint.Files[0].Key != cp.key):
		w.fatalf("version %d read through %s, want %s", v, seg.Checkpoint.Files[0].Key, cp.key)
	}
	if d := diffObserved(observe(w.t, w.ctx, snap), want.observed(v)); d != "" {
		w.fatalf("version %d (checkpoint %d): reader vs model: %s", v, cpv, d)
	}
}

func runRandomWorkload(t *testing.T, seed int64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	url := fmt.Sprintf("mem://random-%d-%d/table", time.Now().UnixNano(), seed)
	if seed%5 == 0 {
		url = newDir(t) // every fifth seed on the local store
	}
	s, err := delta.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clock := newTestClock(epoch.Add(time.Duration(rng.IntN(1000)) * time.Hour))
	w := &workload{t: t, ctx: ctx, rng: rng, s: s, clock: clock, opts: delta.TxnOptions{Now: clock.Now},
		model: logModel{cps: map[int64]*mCheckpoint{}}, hintMax: -1}
	w.parted = rng.IntN(3) == 0
	w.dvs = rng.IntN(2) == 0
	conf := map[string]string{}
	if rng.IntN(3) == 0 {
		conf["delta.checkpoint.writeStatsAsStruct"] = "true"
	}
	if rng.IntN(2) == 0 {
		conf["delta.deletedFileRetentionDuration"] = []string{"interval 1 day", "interval 36 hours", "3 days", "interval 2 weeks"}[rng.IntN(4)]
	}
	if rng.IntN(2) == 0 {
		conf["delta.setTransactionRetentionDuration"] = []string{"interval 1 day", "2 days", "interval 5 days"}[rng.IntN(3)]
	}
	spec := delta.TableSpec{Name: "random", Schema: tableSchema(w.parted), Configuration: conf}
	if w.parted {
		spec.PartitionColumns = []string{"part"}
	}
	if w.dvs {
		spec.Protocol = &delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7,
			ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors"}}
	}
	snap0, err := delta.CreateTable(ctx, s, spec, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	m0 := snap0.Metadata()
	if !maps.Equal(m0.Configuration, conf) || m0.SchemaString != spec.Schema.String() {
		t.Fatalf("created metadata %+v, want configuration %v", m0, conf)
	}
	p0 := delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
	if spec.Protocol != nil {
		p0 = *spec.Protocol
	}
	w.model.commits = append(w.model.commits, []delta.Action{{Protocol: &p0}, {Metadata: &m0}})
	w.logf("v0 at %s: create partitioned=%v dvs=%v %v", clock.Now().Format(time.RFC3339), w.parted, w.dvs, conf)

	commits := 6 + rng.IntN(16)
	v2At := -1
	if rng.IntN(3) == 0 {
		v2At = rng.IntN(commits)
	}
	for i := range commits {
		if i == v2At {
			w.enableV2()
		} else {
			w.randomCommit()
		}
		if rng.IntN(5) == 0 {
			w.randomCheckpoint()
		}
	}
	if rng.IntN(2) == 0 {
		w.randomCheckpoint()
	}
	// The latest version, and a few earlier ones (the versions of checkpoints among them).
	w.check(w.latest())
	versions := []int64{}
	for c := range w.model.cps {
		versions = append(versions, c)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	if len(versions) > 1 {
		versions = versions[len(versions)-1:]
	}
	for range 2 {
		versions = append(versions, rng.Int64N(w.latest()+1))
	}
	for _, v := range versions {
		w.check(v)
	}
}
