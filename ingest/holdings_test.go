package ingest

import (
	"context"
	"path/filepath"
	"testing"
)

// holdings answers Absent with fixed values (a caller's record, such as ingestd's index).
type holdings struct {
	version int64
	absent  bool
	asked   int
}

func (h *holdings) Absent([]string) (int64, bool) {
	h.asked++
	return h.version, h.absent
}

// TestHoldings: a plan trusts Options.Holdings' "absent" only up to the version it answers
// for: a source another commit added after that version is found (the plan reads those
// commits), an answer for a version newer than the plan's or too far behind it, or a "may
// hold", is not used (the file list is); an answer at the plan's own version is trusted
// without reading the file list.
func TestHoldings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := func(name string) string { return copyFile(t, td("rgb.tif"), dir, name) }
	a, b := src("a.tif"), src("b.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	if _, err := Ingest(ctx, s, []string{b}, o); err != nil { // version 0
		t.Fatal(err)
	}
	if _, err := Ingest(ctx, s, []string{a}, o); err != nil { // version 1
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		h    holdings
		want string
	}{
		{"absent before the commit that added it", holdings{version: 0, absent: true}, StatusUnchanged},
		{"absent at a version newer than the plan's", holdings{version: 5, absent: true}, StatusUnchanged},
		{"absent too many commits back", holdings{version: 1 - maxHoldingsGap - 1, absent: true}, StatusUnchanged},
		{"may hold", holdings{version: 1, absent: false}, StatusUnchanged},
		// Trusted at the plan's version: the file list is not read, so the answer (false
		// here, to show it) decides.
		{"absent at the plan's version", holdings{version: 1, absent: true}, StatusAdded},
	} {
		p, err := Prepare(ctx, s, []string{a}, func() Options { o := o; o.Holdings = &c.h; return o }())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sum := p.Summary()
		if err := p.Abort(); err != nil && c.want != StatusAdded {
			t.Errorf("%s: abort: %v", c.name, err)
		}
		if c.h.asked != 1 || len(sum.Sources) != 1 || sum.Sources[0].Status != c.want {
			t.Errorf("%s: asked %d times, sources %+v; want status %s", c.name, c.h.asked, sum.Sources, c.want)
		}
	}
}
