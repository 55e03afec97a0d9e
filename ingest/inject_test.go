package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// TestInjectIngest fails every store operation of one Ingest in turn (i = 0, 1, 2, ... until
// a run no longer reaches operation i), alone and as if the process died there, each with the
// failing write not landing or landing with its answer lost (a put that timed out after it
// left: the outcome the caller cannot know); into a new table (the create path: version 0
// holds the data) and into a table that holds another source (the append path, with a
// checkpoint after the commit). After each run the table reads with a clean store and still
// holds the other source once; the source of the run is in it entirely or not at all, and not
// while the error says nothing was committed; a retry with the clean store succeeds and leaves
// exactly one copy of each source. No fault (all are the table store's) is reported as the
// source's (*SourceError).
func TestInjectIngest(t *testing.T) {
	ctx := context.Background()
	srcDir := t.TempDir()
	a := copyFile(t, td("rgb.tif"), srcDir, "a.tif")
	b := copyFile(t, td("rgb.tif"), srcDir, "b.tif")
	opts := func() Options {
		o := quietOpts()
		o.TileSize = 128
		o.TargetFileBytes = 1 // one data file per tile: several files to write and commit
		o.AppID = "inject-ingest"
		o.Txn.PostCommit = checkpoint.PostCommit(checkpoint.HookOptions{Interval: 1})
		return o
	}
	withA := filepath.Join(t.TempDir(), "table")
	if _, err := Ingest(ctx, openStore(t, withA), []string{a}, opts()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		template string // "" for a new table
	}{{"new table", ""}, {"existing table", withA}} {
		t.Run(c.name, func(t *testing.T) {
			wantApp := int64(0)
			if c.template != "" {
				wantApp = 1
			}
			for _, mode := range []struct{ crash, lose bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
				t.Run(fmt.Sprintf("crash=%v/answer-lost=%v", mode.crash, mode.lose), func(t *testing.T) {
					crash := mode.crash
					runs := 0
					for i := int64(0); ; i++ {
						if i > 5000 {
							t.Fatalf("still reaching operation %d", i)
						}
						dir := filepath.Join(t.TempDir(), "table")
						if c.template != "" {
							dir = testutil.CopyTable(t, c.template)
						}
						clean := openStore(t, dir)
						fs := testutil.NewFaultStore(clean)
						fs.WriteBuffer(64 << 10)
						fs.FailAt(i, crash)
						fs.LoseAnswer(mode.lose)
						sum, err := Ingest(ctx, fs, []string{b}, opts())
						hit, op, key := fs.Hit()
						run := fmt.Sprintf("run %d (crash=%v, answer lost=%v, fault at %s %s)", i, crash, mode.lose, op, key)
						if !hit {
							run = fmt.Sprintf("run %d (no fault reached)", i)
						}
						switch {
						case !hit && err != nil:
							t.Fatalf("%s: %v", run, err)
						case hit && err != nil && !errors.Is(err, testutil.ErrInjected) && !strings.Contains(err.Error(), testutil.ErrInjected.Error()):
							t.Fatalf("%s: the error does not report the fault: %v", run, err)
						}
						// Every operation of fs is the table's (the source is a local file): a
						// fault there is never the source's, which a daemon would retry and
						// dead-letter.
						if se := (*SourceError)(nil); hit && errors.As(err, &se) {
							t.Fatalf("%s: a fault of the table's store is blamed on the source: %v", run, err)
						}

						tiles, ok := injectedTableTiles(t, run, clean, c.template == "")
						if !ok && err == nil {
							t.Fatalf("%s: Ingest returned no error and there is no table", run)
						}
						checkSources(t, run, tiles, a, b, c.template != "", false)
						if bIn := countSource(tiles, b) > 0; bIn {
							var ue *UncommittedError
							if errors.As(err, &ue) {
								t.Fatalf("%s: the source is committed, but the error says nothing was: %v", run, err)
							}
							// Either the summary says committed, or the error says the outcome
							// could not be told (the put failed and so did its read-back).
							if !sum.Committed && !errors.Is(err, delta.ErrCommitUnknown) {
								t.Fatalf("%s: the source is committed, the summary says not (err %v)", run, err)
							}
						} else if err == nil {
							t.Fatalf("%s: Ingest returned no error and committed nothing (summary %+v)", run, sum)
						}

						// The caller retries with a clean store.
						if _, err := Ingest(ctx, clean, []string{b}, opts()); err != nil {
							t.Fatalf("%s: the retry failed: %v", run, err)
						}
						tiles, _ = injectedTableTiles(t, run, clean, false)
						checkSources(t, run, tiles, a, b, c.template != "", true)
						snap, err := delta.Open(ctx, clean)
						if err != nil {
							t.Fatal(err)
						}
						if v, err := snap.AppTransactionVersion(ctx, "inject-ingest"); err != nil || v != wantApp {
							t.Fatalf("%s: after the retry the app transaction is at %d (%v), want %d: a second commit", run, v, err, wantApp)
						}
						if !hit {
							break
						}
						runs++
					}
					t.Logf("crash=%v, answer lost=%v: %d runs with a fault", crash, mode.lose, runs)
					if runs < 10 {
						t.Fatalf("only %d store operations in an ingest", runs)
					}
				})
			}
		})
	}
}

// injectedTableTiles reads every tile of the table with the clean store; ok is false when
// there is no table (allowed only when mayBeAbsent).
func injectedTableTiles(t *testing.T, run string, s delta.Store, mayBeAbsent bool) ([]tile, bool) {
	t.Helper()
	ctx := context.Background()
	snap, err := delta.Open(ctx, s)
	if errors.Is(err, delta.ErrNotATable) && mayBeAbsent {
		return nil, false
	}
	if err != nil {
		t.Fatalf("%s: the table does not open with a clean store: %v", run, err)
	}
	for _, err := range snap.Files(ctx) {
		if err != nil {
			t.Fatalf("%s: the files do not list with a clean store: %v", run, err)
		}
	}
	return readTiles(t, s), true
}

func countSource(tiles []tile, src string) int {
	n := 0
	for _, tl := range tiles {
		if tl.Source == src {
			n++
		}
	}
	return n
}

// checkSources checks that a (when haveA) is in the table with each of its tile slots once,
// and b either not at all (unless needB) or with each slot once.
func checkSources(t *testing.T, run string, tiles []tile, a, b string, haveA, needB bool) {
	t.Helper()
	const slots = 6 // 300x200 pixels in 128x128 tiles
	n, _ := countTiles(tiles)
	per := map[string]int{}
	for k, c := range n {
		if c != 1 {
			t.Fatalf("%s: tile %v appears %d times", run, k, c)
		}
		per[k.source]++
	}
	wantA := 0
	if haveA {
		wantA = slots
	}
	if per[a] != wantA {
		t.Fatalf("%s: %d tiles of the source committed before, want %d", run, per[a], wantA)
	}
	if per[b] != slots && (needB || per[b] != 0) {
		t.Fatalf("%s: %d tiles of the ingested source, want %d", run, per[b], slots)
	}
	if len(per) > 2 {
		t.Fatalf("%s: sources %v", run, per)
	}
}
