package ingest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// tableVersion is the table's latest version, -1 when there is no table.
func tableVersion(t *testing.T, s delta.Store) int64 {
	t.Helper()
	snap, err := delta.Open(context.Background(), s)
	if errors.Is(err, delta.ErrNotATable) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version()
}

// TestBadInput: each bad source fails its batch with an error naming it, and nothing is
// committed (into a new table: no table; into an existing one: no new version).
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	putObject(t, "mem://ingest-bad", "rgb.tif", td("rgb.tif"))
	putObject(t, "mem://ingest-bad", "cog.tif", td("cog.tif"))
	for _, c := range []struct {
		name     string
		source   string
		good     string // a good source of the same layout, first in the batch
		existing bool   // ingest rgb.tif into the table first
		opts     func(*Options)
		is       error
	}{
		{name: "truncated TIFF", source: td("truncated.tif"), good: "mem://ingest-bad/cog.tif"},
		{name: "text file", source: td("notraster.tif")},
		{name: "missing file", source: td("missing.tif")},
		{name: "missing file URL", source: "file://" + td("missing.tif")},
		{name: "missing object", source: "mem://ingest-bad/absent.tif"},
		{name: "bands do not fit", source: td("u16.tif"), good: "mem://ingest-bad/rgb.tif", existing: true, is: ErrBandLayout},
		{name: "data type does not fit", source: td("polar.tif"), good: "mem://ingest-bad/rgb.tif", existing: true, is: ErrBandLayout},
		{name: "bands do not fit the first source", source: td("u16.tif"), good: "mem://ingest-bad/rgb.tif", is: ErrBandLayout},
		{name: "too many pixels", source: td("rgb.tif"), opts: func(o *Options) { o.MaxPixels = 300*200 - 1 }, is: ErrTooLarge},
		{name: "no CRS", source: td("nocrs.tif"), is: ErrNoCRS},
		{name: "unsupported scheme", source: "ftp://host/a.tif"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "table"))
			if c.existing {
				if _, err := Ingest(ctx, s, []string{td("rgb.tif")}, quietOpts()); err != nil {
					t.Fatal(err)
				}
			}
			before := tableVersion(t, s)
			o := quietOpts()
			if c.opts != nil {
				c.opts(&o)
			}
			// A good source in the same batch is not committed either.
			batch := []string{c.source}
			if c.good != "" {
				batch = []string{c.good, c.source}
			}
			sum, err := Ingest(ctx, s, batch, o)
			if err == nil {
				t.Fatalf("no error; summary %+v", sum)
			}
			t.Log(err)
			var se *SourceError
			if !errors.As(err, &se) || se.Source != c.source || !strings.Contains(err.Error(), c.source) {
				t.Fatalf("error %v does not name the source %s", err, c.source)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v is not %v", err, c.is)
			}
			if sum.Committed || tableVersion(t, s) != before {
				t.Fatalf("committed: %+v (version %d, was %d)", sum, tableVersion(t, s), before)
			}
		})
	}
}

// TestFailureAfterWrites: a source that fails after data files were written leaves them
// uncommitted, and the error lists them.
func TestFailureAfterWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cog := copyFile(t, td("cog.tif"), dir, "cog.tif")
	truncated := copyFile(t, td("truncated.tif"), dir, "truncated.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	o.TargetFileBytes = 1 // one file per tile
	sum, err := Ingest(ctx, s, []string{cog, truncated}, o)
	var ue *UncommittedError
	if !errors.As(err, &ue) || len(ue.Files) == 0 {
		t.Fatalf("want an UncommittedError with files, got %v", err)
	}
	var se *SourceError
	if !errors.As(err, &se) || se.Source != truncated {
		t.Fatalf("error %v does not name %s", err, truncated)
	}
	t.Log(err)
	if sum.Committed || tableVersion(t, s) != -1 {
		t.Fatalf("committed: %+v", sum)
	}
	for _, f := range ue.Files {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error does not name %s", f)
		}
		if _, err := s.Stat(ctx, f); err != nil {
			t.Fatalf("written file %s: %v", f, err)
		}
	}
}
