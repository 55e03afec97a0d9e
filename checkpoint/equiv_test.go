package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// tableState is everything a checkpoint must preserve, in comparable form.
type tableState struct {
	Version    int64
	Protocol   delta.Protocol
	Metadata   delta.Metadata
	Files      map[string]string // key -> add as JSON
	Tombstones map[string]string
	Txns       map[string]int64
	Domains    map[string]delta.DomainMetadata
}

func fileKey(p string, dv *delta.DeletionVector) string {
	return p + "\x00" + dv.UniqueID()
}

func stateOf(t *testing.T, ctx context.Context, snap *delta.Snapshot) tableState {
	t.Helper()
	st := tableState{Version: snap.Version(), Protocol: snap.Protocol(), Metadata: snap.Metadata(),
		Files: map[string]string{}, Tombstones: map[string]string{}, Txns: map[string]int64{}}
	norm(&st.Protocol)
	for a, err := range snap.FileActions(ctx) {
		if err != nil {
			t.Fatalf("replay version %d: %v", snap.Version(), err)
		}
		if a.Add != nil {
			c := *a.Add
			c.DataChange = false // checkpoints may rewrite dataChange
			c.Stats = normStats(c.Stats)
			b, _ := json.Marshal(c)
			st.Files[fileKey(c.Path, c.DeletionVector)] = string(b)
		} else {
			c := *a.Remove
			c.DataChange = false
			c.Stats = "" // checkpoints keep no stats of tombstones (as Spark writes them)
			b, _ := json.Marshal(c)
			st.Tombstones[fileKey(c.Path, c.DeletionVector)] = string(b)
		}
	}
	txns, err := snap.AppTransactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range txns {
		st.Txns[k] = v.Version
	}
	if st.Domains, err = snap.DomainMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func norm(p *delta.Protocol) {
	sort.Strings(p.ReaderFeatures)
	sort.Strings(p.WriterFeatures)
	if len(p.ReaderFeatures) == 0 {
		p.ReaderFeatures = nil
	}
	if len(p.WriterFeatures) == 0 {
		p.WriterFeatures = nil
	}
}

func diffState(a, b tableState) string {
	if a.Version != b.Version {
		return fmt.Sprintf("version %d vs %d", a.Version, b.Version)
	}
	if !reflect.DeepEqual(a.Protocol, b.Protocol) {
		return fmt.Sprintf("protocol %+v vs %+v", a.Protocol, b.Protocol)
	}
	am, bm := a.Metadata, b.Metadata
	if len(am.Configuration) == 0 {
		am.Configuration = nil
	}
	if len(bm.Configuration) == 0 {
		bm.Configuration = nil
	}
	if len(am.Format.Options) == 0 {
		am.Format.Options = nil
	}
	if len(bm.Format.Options) == 0 {
		bm.Format.Options = nil
	}
	if !reflect.DeepEqual(am, bm) {
		return fmt.Sprintf("metadata %+v vs %+v", am, bm)
	}
	for _, pair := range []struct {
		name string
		x, y map[string]string
	}{{"file", a.Files, b.Files}, {"tombstone", a.Tombstones, b.Tombstones}} {
		if len(pair.x) != len(pair.y) {
			return fmt.Sprintf("%d %ss vs %d", len(pair.x), pair.name, len(pair.y))
		}
		for k, v := range pair.x {
			if pair.y[k] != v {
				return fmt.Sprintf("%s %q:\n  %s\nvs\n  %s", pair.name, k, v, pair.y[k])
			}
		}
	}
	if !reflect.DeepEqual(a.Txns, b.Txns) {
		return fmt.Sprintf("txns %v vs %v", a.Txns, b.Txns)
	}
	if len(a.Domains)+len(b.Domains) > 0 && !reflect.DeepEqual(a.Domains, b.Domains) {
		return fmt.Sprintf("domains %v vs %v", a.Domains, b.Domains)
	}
	return ""
}

// normStats puts stats JSON in a canonical form, so the same statistics compare equal whether
// they came from a JSON stats string or were rendered from a checkpoint's stats_parsed: keys
// sorted, numbers (and decimals written as strings) as float64, nulls dropped.
func normStats(s string) string {
	if s == "" {
		return ""
	}
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return s
	}
	b, _ := json.Marshal(normValue(v))
	return string(b)
}

func normValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e != nil {
				out[k] = normValue(e)
			}
		}
		return out
	case json.Number:
		f, _ := x.Float64()
		return f
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f
		}
	}
	return v
}
