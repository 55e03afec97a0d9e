package ingest

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestPrepared: batches prepared at one version and committed one after the other (as the
// daemon overlaps them) each commit whole; the second is carried over to the newer version
// without planning again when the first touched none of its sources, and is planned again
// (and the source the first added taken out) when it did; an aborted batch commits nothing
// and names its files.
func TestPrepared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := func(name string) string { return copyFile(t, td("rgb.tif"), dir, name) }
	x, a, b, c, d := src("x.tif"), src("a.tif"), src("b.tif"), src("c.tif"), src("d.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	var log testutil.SyncBuffer
	o := quietOpts()
	o.Logger = slog.New(slog.NewTextHandler(&log, nil))
	o.TileSize = 128
	o.AppID = "prepared-test"
	if _, err := Ingest(ctx, s, []string{x}, o); err != nil {
		t.Fatal(err)
	}

	pa, err := Prepare(ctx, s, []string{a}, o)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Prepare(ctx, s, []string{b, c}, o)
	if err != nil {
		t.Fatal(err)
	}
	if pa.Empty() || pb.Empty() || pb.Summary().Committed || len(pb.Summary().Files) == 0 {
		t.Fatalf("prepared: %+v / %+v", pa.Summary(), pb.Summary())
	}
	sa, err := pa.Commit(ctx)
	if err != nil || !sa.Committed || sa.Version != 1 || sa.AppVersion != 1 {
		t.Fatalf("first commit: %+v, %v", sa, err)
	}
	sb, err := pb.Commit(ctx)
	if err != nil || !sb.Committed || sb.Version != 2 || sb.AppVersion != 2 || sb.CommitAttempts != 1 {
		t.Fatalf("second commit: %+v, %v", sb, err)
	}
	if strings.Contains(log.String(), "planning again") {
		t.Errorf("the second batch was planned again though the first touched none of its sources; log:\n%s", log.String())
	}
	if _, err := pb.Commit(ctx); err == nil {
		t.Error("a Prepared committed twice")
	}

	// Both prepared with c (already in) and d; the first commits d: the second finds it there.
	pc, err := Prepare(ctx, s, []string{c, d}, o)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := Prepare(ctx, s, []string{d}, o)
	if err != nil {
		t.Fatal(err)
	}
	if sc, err := pc.Commit(ctx); err != nil || !sc.Committed || sc.Version != 3 {
		t.Fatalf("third commit: %+v, %v", sc, err)
	}
	sd, err := pd.Commit(ctx)
	if err != nil || sd.Committed || sd.Sources[0].Status != StatusUnchanged || len(sd.Files) != 0 {
		t.Fatalf("fourth batch: %+v, %v", sd, err)
	}
	if !strings.Contains(log.String(), "planning again") {
		t.Errorf("the fourth batch was not planned again; log:\n%s", log.String())
	}

	// An aborted batch: nothing committed, its files named (orphans for vacuum).
	e := src("e.tif")
	pe, err := Prepare(ctx, s, []string{e}, o)
	if err != nil {
		t.Fatal(err)
	}
	files := pe.Summary().Files
	var ue *UncommittedError
	if err := pe.Abort(); !errors.As(err, &ue) || len(ue.Files) != len(files) || len(files) == 0 {
		t.Fatalf("abort: %v, files %v", err, files)
	}
	if _, err := pe.Commit(ctx); err == nil {
		t.Error("an aborted batch committed")
	}

	snap, _ := liveFiles(t, s)
	if snap.Version() != 3 {
		t.Fatalf("table at version %d, want 3", snap.Version())
	}
	n, versions := countTiles(readTiles(t, s))
	for k, c := range n {
		if c != 1 {
			t.Errorf("tile %v appears %d times", k, c)
		}
	}
	for _, u := range []string{x, a, b, c, d} {
		id, _ := SourceID(u)
		if len(versions[id]) != 1 {
			t.Errorf("source %s: versions %v", u, versions[id])
		}
	}
	if id, _ := SourceID(e); versions[id] != nil {
		t.Errorf("the aborted source is in the table")
	}
}
