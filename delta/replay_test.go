package delta_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// rpSeq makes each replay table a mem:// bucket of its own.
var rpSeq atomic.Int64

const rpSeeds = 64

// TestReplayRandom runs a seeded random workload per seed (adds, removes, re-adds of removed
// files, deletion-vector updates as remove (p, dv1) + add (p, dv2), data-change-free rewrites,
// app transactions moving both ways), written through Begin/Commit or by hand with the lines
// shuffled, blank lines and unknown actions and fields mixed in. At every version, Files,
// Tombstones and AppTransactions of delta.Open(AtVersion(v)) must equal a naive replay of the
// JSON commits 0..v decoded here with encoding/json: logical files keyed by (path, deletion
// vector unique id), the newest action wins.
func TestReplayRandom(t *testing.T) {
	for seed := range uint64(rpSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rpRun(t, seed)
		})
	}
}

// rpGen is the workload generator's model of the table, used only to pick valid actions: at
// most one live logical file per path, and no path touched twice in one commit.
type rpGen struct {
	rng      *rand.Rand
	next     int                  // sequence of new paths
	dvSeq    int                  // sequence of new deletion vectors
	keys     []string             // every logical file ever written, in order
	last     map[string]delta.Add // key -> its newest add
	live     map[string]bool      // key -> live
	livePath map[string]string    // path -> its live key
	apps     map[string]int64     // appId -> version
	version  int64                // latest committed version

	// The commit being built.
	touched map[string]bool      // paths it touches
	adds    []*delta.Add         //
	removes []*delta.Remove      //
	txns    map[string]int64     //
	pending map[string]delta.Add // its adds, by key
	dropped map[string]bool      // keys it removes
	hand    bool                 // written by hand...
	unknown bool                 // ...with unknown actions and fields and a blank line
}

const rpZ85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

func (g *rpGen) dv() *delta.DeletionVector {
	g.dvSeq++
	b := make([]byte, 20)
	for i := range b {
		b[i] = rpZ85[g.rng.IntN(len(rpZ85))]
	}
	d := &delta.DeletionVector{StorageType: "u", PathOrInlineDv: string(b), SizeInBytes: int32(34 + g.rng.IntN(100)),
		Cardinality: int64(1 + g.rng.IntN(1000))}
	switch g.rng.IntN(3) {
	case 0:
		d.StorageType, d.PathOrInlineDv = "i", "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L"+strconv.Itoa(g.dvSeq)
	case 1:
		off := int32(1 + g.rng.IntN(1<<20))
		d.Offset = &off
	}
	return d
}

// pick returns a random key satisfying ok, or "" after a few tries.
func (g *rpGen) pick(ok func(key string) bool) string {
	if len(g.keys) == 0 {
		return ""
	}
	for range 8 {
		k := g.keys[g.rng.IntN(len(g.keys))]
		if ok(k) {
			return k
		}
	}
	return ""
}

func (g *rpGen) add(a delta.Add) {
	g.touched[a.Path] = true
	cp := a
	g.adds = append(g.adds, &cp)
	g.pending[txKey(a.Path, a.DeletionVector)] = a
}

func (g *rpGen) remove(key string, dataChange bool) {
	a := g.last[key]
	g.touched[a.Path] = true
	size := a.Size
	r := &delta.Remove{Path: a.Path, DataChange: dataChange, PartitionValues: a.PartitionValues, Size: &size,
		DeletionVector: a.DeletionVector}
	if g.rng.IntN(2) == 0 {
		ts := int64(1_700_000_000_000 + g.rng.IntN(1_000_000))
		r.DeletionTimestamp = &ts
	}
	g.removes = append(g.removes, r)
	g.dropped[key] = true
}

// build fills one commit with 1 to 5 operations.
func (g *rpGen) build() {
	g.touched, g.pending, g.dropped = map[string]bool{}, map[string]delta.Add{}, map[string]bool{}
	g.adds, g.removes, g.txns = nil, nil, map[string]int64{}
	liveUntouched := func(k string) bool { return g.live[k] && !g.touched[g.last[k].Path] }
	for range 1 + g.rng.IntN(5) {
		switch r := g.rng.IntN(100); {
		case r < 35: // a new file
			p := fmt.Sprintf("tile_id=%d/part-%05d-%x.parquet", g.rng.IntN(4), g.next, g.rng.Uint32())
			g.next++
			v := strconv.Itoa(g.next % 4)
			a := delta.Add{Path: p, PartitionValues: delta.PartitionValues{"tile_id": &v}, Size: int64(1 + g.rng.IntN(1<<20)),
				ModificationTime: 1_700_000_000_000, DataChange: g.rng.IntN(8) != 0}
			if g.rng.IntN(5) == 0 {
				a.DeletionVector = g.dv()
			}
			if g.rng.IntN(4) == 0 {
				a.Stats = `{"numRecords":` + strconv.Itoa(g.rng.IntN(100)) + `}`
			}
			g.add(a)
		case r < 55: // remove a live file
			if k := g.pick(liveUntouched); k != "" {
				g.remove(k, g.rng.IntN(6) != 0)
			}
		case r < 65: // re-add a removed logical file whose path has nothing live
			k := g.pick(func(k string) bool {
				p := g.last[k].Path
				_, hasLive := g.livePath[p]
				return !g.live[k] && !hasLive && !g.touched[p]
			})
			if k != "" {
				a := g.last[k]
				a.Size++ // a re-add carries its own metadata: the newest must be the one read
				g.add(a)
			}
		case r < 85: // deletion-vector update: remove (p, dv1) + add (p, dv2)
			if k := g.pick(liveUntouched); k != "" {
				g.remove(k, true)
				a := g.last[k]
				a.DeletionVector = g.dv()
				a.DataChange = true
				g.add(a)
			}
		default: // an app transaction, which may also move backwards
			app := fmt.Sprintf("app-%d", g.rng.IntN(3))
			if _, ok := g.txns[app]; !ok {
				g.txns[app] = g.rng.Int64N(1000)
			}
		}
	}
	if len(g.adds)+len(g.removes)+len(g.txns) == 0 {
		p := fmt.Sprintf("filler-%05d.parquet", g.next)
		g.next++
		g.add(delta.Add{Path: p, PartitionValues: delta.PartitionValues{}, Size: 1, DataChange: true})
	}
	g.hand = g.rng.IntN(10) < 3
	g.unknown = g.hand && g.rng.IntN(2) == 0
}

// apply records a committed commit in the model.
func (g *rpGen) apply(v int64) {
	g.version = v
	for k := range g.dropped {
		g.live[k] = false
		delete(g.livePath, g.last[k].Path)
	}
	for _, k := range slices.Sorted(maps.Keys(g.pending)) {
		a := g.pending[k]
		if _, seen := g.last[k]; !seen {
			g.keys = append(g.keys, k)
		}
		g.last[k] = a
		g.live[k] = true
		g.livePath[a.Path] = k
	}
	for app, ver := range g.txns {
		g.apps[app] = ver
	}
}

// handCommit renders the commit being built as JSON lines, independently of the package's
// encoder, in a shuffled order.
func (g *rpGen) handCommit(t *testing.T) []byte {
	t.Helper()
	dvJSON := func(d *delta.DeletionVector) map[string]any {
		m := map[string]any{"storageType": d.StorageType, "pathOrInlineDv": d.PathOrInlineDv,
			"sizeInBytes": d.SizeInBytes, "cardinality": d.Cardinality}
		if d.Offset != nil {
			m["offset"] = *d.Offset
		}
		return m
	}
	var lines []map[string]any
	for _, a := range g.adds {
		m := map[string]any{"path": a.Path, "partitionValues": a.PartitionValues, "size": a.Size,
			"modificationTime": a.ModificationTime, "dataChange": a.DataChange}
		if a.DeletionVector != nil {
			m["deletionVector"] = dvJSON(a.DeletionVector)
		}
		if a.Stats != "" {
			m["stats"] = a.Stats
		}
		if g.unknown {
			m["futureField"] = map[string]any{"x": 1}
		}
		lines = append(lines, map[string]any{"add": m})
	}
	for _, r := range g.removes {
		m := map[string]any{"path": r.Path, "dataChange": r.DataChange}
		if r.DeletionTimestamp != nil {
			m["deletionTimestamp"] = *r.DeletionTimestamp
		}
		if r.DeletionVector != nil {
			m["deletionVector"] = dvJSON(r.DeletionVector)
		}
		lines = append(lines, map[string]any{"remove": m})
	}
	for _, app := range slices.Sorted(maps.Keys(g.txns)) {
		lines = append(lines, map[string]any{"txn": map[string]any{"appId": app, "version": g.txns[app]}})
	}
	lines = append(lines, map[string]any{"commitInfo": map[string]any{"timestamp": 1_700_000_000_000 + g.version,
		"operation": "HAND WRITE", "operationParameters": map[string]any{}}})
	if g.unknown {
		lines = append(lines, map[string]any{"futureAction": map[string]any{"path": "not-a-file.parquet"}})
	}
	g.rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	var buf bytes.Buffer
	for i, l := range lines {
		b, err := jsonMarshalNoEscape(l)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
		if g.unknown && i == 0 {
			buf.WriteString("\n") // a blank line
		}
	}
	return buf.Bytes()
}

func rpRun(t *testing.T, seed uint64) {
	ctx := t.Context()
	s := txOpenStore(t, fmt.Sprintf("mem://replay-%d-%d", seed, rpSeq.Add(1)))
	spec := delta.TableSpec{Name: "replay", Schema: txSchema, PartitionColumns: []string{"tile_id"},
		Configuration: map[string]string{"delta.enableDeletionVectors": "true"},
		Protocol: &delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7,
			ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors"}}}
	if _, err := delta.CreateTable(ctx, s, spec, delta.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
	g := &rpGen{rng: rand.New(rand.NewPCG(seed, 0x5eed)), last: map[string]delta.Add{}, live: map[string]bool{},
		livePath: map[string]string{}, apps: map[string]int64{}}
	commits := 10 + g.rng.IntN(16)
	for range commits {
		g.build()
		want := g.version + 1
		if g.hand {
			if err := s.PutIfAbsent(ctx, delta.CommitKey(want), g.handCommit(t)); err != nil {
				t.Fatalf("seed %d: hand-written commit %d: %v", seed, want, err)
			}
		} else {
			tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				t.Fatalf("seed %d: Begin: %v", seed, err)
			}
			tx.Remove(g.removes...)
			tx.Add(g.adds...)
			for _, app := range slices.Sorted(maps.Keys(g.txns)) {
				tx.SetAppTransaction(app, g.txns[app])
			}
			v, err := tx.Commit(ctx, "WRITE", nil)
			if err != nil {
				t.Fatalf("seed %d: Commit %d: %v", seed, want, err)
			}
			if v != want {
				t.Fatalf("seed %d: committed version %d, want %d", seed, v, want)
			}
		}
		g.apply(want)
	}

	// The naive replay, one state per version.
	type state struct {
		files map[string]int64 // key -> size of the live add
		tombs map[string]bool
		apps  map[string]int64
	}
	cur := state{files: map[string]int64{}, tombs: map[string]bool{}, apps: map[string]int64{}}
	for v := int64(0); v <= g.version; v++ {
		body, err := delta.ReadAll(ctx, s, delta.CommitKey(v))
		if err != nil {
			t.Fatal(err)
		}
		rpReplayCommit(t, body, v, cur.files, cur.tombs, cur.apps)
		snap, err := delta.Open(ctx, s, delta.AtVersion(v))
		if err != nil {
			t.Fatalf("seed %d: AtVersion(%d): %v", seed, v, err)
		}
		if snap.Version() != v {
			t.Fatalf("seed %d: AtVersion(%d) opened version %d", seed, v, snap.Version())
		}
		gotFiles := map[string]int64{}
		for a, err := range snap.Files(ctx) {
			if err != nil {
				t.Fatalf("seed %d v%d: Files: %v", seed, v, err)
			}
			k := rpKey(a.Path, a.DeletionVector)
			if _, dup := gotFiles[k]; dup {
				t.Errorf("seed %d v%d: Files yields %q twice", seed, v, k)
			}
			gotFiles[k] = a.Size
		}
		gotTombs := map[string]bool{}
		for r, err := range snap.Tombstones(ctx) {
			if err != nil {
				t.Fatalf("seed %d v%d: Tombstones: %v", seed, v, err)
			}
			k := rpKey(r.Path, r.DeletionVector)
			if gotTombs[k] {
				t.Errorf("seed %d v%d: Tombstones yields %q twice", seed, v, k)
			}
			gotTombs[k] = true
		}
		txns, err := snap.AppTransactions(ctx)
		if err != nil {
			t.Fatalf("seed %d v%d: AppTransactions: %v", seed, v, err)
		}
		gotApps := map[string]int64{}
		for app, x := range txns {
			gotApps[app] = x.Version
		}
		if !maps.Equal(gotFiles, cur.files) {
			t.Errorf("seed %d v%d: Files differ from the naive replay\n%s", seed, v, rpDiff(gotFiles, cur.files))
		}
		if !maps.Equal(gotTombs, cur.tombs) {
			t.Errorf("seed %d v%d: Tombstones differ from the naive replay\n%s", seed, v, rpDiff(gotTombs, cur.tombs))
		}
		if !maps.Equal(gotApps, cur.apps) {
			t.Errorf("seed %d v%d: AppTransactions %v, naive replay %v", seed, v, gotApps, cur.apps)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	// The naive replay agrees with the generator's model (a check of the test itself).
	for k, live := range g.live {
		if _, inFiles := cur.files[k]; inFiles != live {
			t.Errorf("seed %d: model says %q live=%v, naive replay disagrees", seed, k, live)
		}
	}
	if !maps.Equal(cur.apps, g.apps) {
		t.Errorf("seed %d: model apps %v, naive replay %v", seed, g.apps, cur.apps)
	}
	latest, err := delta.Open(ctx, s)
	if err != nil || latest.Version() != g.version {
		t.Errorf("seed %d: latest = %v, %v; want version %d", seed, latest, err, g.version)
	}
}

// rpKey is the logical file key as the protocol defines it, computed here independently of
// DeletionVector.UniqueID: storageType + pathOrInlineDv, then "@offset" when there is one.
func rpKey(p string, dv *delta.DeletionVector) string {
	if dv == nil {
		return p
	}
	id := dv.StorageType + dv.PathOrInlineDv
	if dv.Offset != nil {
		id += "@" + strconv.FormatInt(int64(*dv.Offset), 10)
	}
	return p + "\x00" + id
}

type rpDV struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int32 `json:"offset"`
}

type rpLine struct {
	Add *struct {
		Path string `json:"path"`
		Size int64  `json:"size"`
		DV   *rpDV  `json:"deletionVector"`
	} `json:"add"`
	Remove *struct {
		Path string `json:"path"`
		DV   *rpDV  `json:"deletionVector"`
	} `json:"remove"`
	Txn *struct {
		AppID   string `json:"appId"`
		Version int64  `json:"version"`
	} `json:"txn"`
}

func (d *rpDV) dv() *delta.DeletionVector {
	if d == nil {
		return nil
	}
	return &delta.DeletionVector{StorageType: d.StorageType, PathOrInlineDv: d.PathOrInlineDv, Offset: d.Offset}
}

// rpReplayCommit applies one commit, in file order, to the naive state.
func rpReplayCommit(t *testing.T, body []byte, v int64, files map[string]int64, tombs map[string]bool, apps map[string]int64) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l rpLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("naive replay: commit %d: %v: %s", v, err, line)
		}
		switch {
		case l.Add != nil:
			k := rpKey(l.Add.Path, l.Add.DV.dv())
			files[k] = l.Add.Size
			delete(tombs, k)
		case l.Remove != nil:
			k := rpKey(l.Remove.Path, l.Remove.DV.dv())
			delete(files, k)
			tombs[k] = true
		case l.Txn != nil:
			apps[l.Txn.AppID] = l.Txn.Version
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func rpDiff[V comparable](got, want map[string]V) string {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if w, ok := want[k]; !ok {
			fmt.Fprintf(&buf, "  extra   %q = %v\n", k, got[k])
		} else if w != got[k] {
			fmt.Fprintf(&buf, "  differs %q = %v, want %v\n", k, got[k], w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			fmt.Fprintf(&buf, "  missing %q = %v\n", k, want[k])
		}
	}
	return buf.String()
}
