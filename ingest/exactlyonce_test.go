package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

type tileKey struct {
	source   string
	level    int32
	col, row int32
}

// countTiles counts the rows of each tile slot and the versions of each source.
func countTiles(tiles []tile) (map[tileKey]int, map[string]map[string]bool) {
	n := map[tileKey]int{}
	versions := map[string]map[string]bool{}
	for _, t := range tiles {
		n[tileKey{t.Source, t.Level, t.Col, t.Row}]++
		if versions[t.Source] == nil {
			versions[t.Source] = map[string]bool{}
		}
		versions[t.Source][t.SourceVersion] = true
	}
	return n, versions
}

func TestExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := copyFile(t, td("rgb.tif"), dir, "a.tif")
	b := copyFile(t, td("rgb.tif"), dir, "b.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	o := quietOpts()
	o.TileSize = 128
	o.AppID = "exactly-once-test"

	first, err := Ingest(ctx, s, []string{a, b}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Committed || !first.TableCreated || first.Version != 0 || first.AppVersion != 0 {
		t.Fatalf("first ingest: %+v", first)
	}
	n, _ := countTiles(readTiles(t, s))
	if len(n) != 12 {
		t.Fatalf("%d tile slots, want 12", len(n))
	}

	// The same sources again: nothing is added, nothing committed.
	again, err := Ingest(ctx, s, []string{a, b, a}, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Committed || again.Version != 0 || len(again.Files) != 0 {
		t.Fatalf("second ingest: %+v", again)
	}
	for _, r := range again.Sources {
		if r.Status != StatusUnchanged {
			t.Fatalf("second ingest: %+v", again.Sources)
		}
	}
	n, _ = countTiles(readTiles(t, s))
	for k, c := range n {
		if c != 1 {
			t.Fatalf("tile %v appears %d times", k, c)
		}
	}

	// Change b (bands in another order, a later mtime) and ingest both again.
	gdalRun(t, "gdal_translate", "-q", "-b", "3", "-b", "2", "-b", "1", td("rgb.tif"), filepath.Join(dir, "b2.tif"))
	if err := os.Rename(filepath.Join(dir, "b2.tif"), b); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(b, later, later); err != nil {
		t.Fatal(err)
	}
	third, err := Ingest(ctx, s, []string{a, b}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !third.Committed || third.Version != 1 || third.AppVersion != 1 || len(third.RemovedFiles) == 0 {
		t.Fatalf("third ingest: %+v", third)
	}
	if third.Sources[0].Status != StatusUnchanged || third.Sources[1].Status != StatusReplaced {
		t.Fatalf("third ingest sources: %+v", third.Sources)
	}
	if third.KeptTiles != 6 || third.Tiles != 6 {
		t.Fatalf("third ingest kept %d tiles of a and wrote %d of b, want 6 and 6", third.KeptTiles, third.Tiles)
	}
	n, versions := countTiles(readTiles(t, s))
	if len(n) != 12 {
		t.Fatalf("%d tile slots after the replace, want 12", len(n))
	}
	for k, c := range n {
		if c != 1 {
			t.Fatalf("tile %v appears %d times", k, c)
		}
	}
	if len(versions[b]) != 1 || !versions[b][third.Sources[1].SourceVersion] || len(versions[a]) != 1 {
		t.Fatalf("versions after the replace: %v", versions)
	}
	_, files := liveFiles(t, s)
	for _, f := range files {
		for _, r := range third.RemovedFiles {
			if f.Path == r {
				t.Fatalf("removed file %s still live", r)
			}
		}
	}
	out := filepath.Join(dir, "b.out.tif")
	if err := Export(ctx, s, ExportOptions{Source: b, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, b, 0, out)
	out = filepath.Join(dir, "a.out.tif")
	if err := Export(ctx, s, ExportOptions{Source: a, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, a, 0, out)

	// The commit records the app transaction and its sources.
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := snap.AppTransactionVersion(ctx, o.AppID); err != nil || v != 1 {
		t.Fatalf("app transaction version %d, %v; want 1", v, err)
	}
	ci, err := snap.CommitInfo(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkCommitSources(t, ci, map[string]string{a: third.Sources[0].SourceVersion, b: third.Sources[1].SourceVersion})
	var metrics map[string]string
	if err := json.Unmarshal(ci["operationMetrics"], &metrics); err != nil {
		t.Fatalf("operationMetrics %s: %v", ci["operationMetrics"], err)
	}
	for k, v := range map[string]int64{"numFiles": int64(len(third.Files)), "numOutputBytes": third.Bytes,
		"numOutputRows": third.Tiles + third.KeptTiles, "numRemovedFiles": int64(len(third.RemovedFiles))} {
		if metrics[k] != strconv.FormatInt(v, 10) {
			t.Errorf("operationMetrics[%s] = %q, want %d (all: %v)", k, metrics[k], v, metrics)
		}
	}
}

// checkCommitSources checks commitInfo.operationParameters.sources.
func checkCommitSources(t *testing.T, ci delta.CommitInfo, want map[string]string) {
	t.Helper()
	raw, err := json.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Operation string            `json:"operation"`
		Params    map[string]string `json:"operationParameters"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	var srcs []struct {
		URI     string `json:"uri"`
		Version string `json:"source_version"`
	}
	if err := json.Unmarshal([]byte(c.Params["sources"]), &srcs); err != nil {
		t.Fatalf("operationParameters %v: %v", c.Params, err)
	}
	got := map[string]string{}
	for _, s := range srcs {
		got[s.URI] = s.Version
	}
	if c.Operation != "INGEST" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("commit %s sources %v, want %v", c.Operation, got, want)
	}
}

// TestConcurrentCommit injects a commit by another ingest between this ingest's writes and its
// commit (from the Progress hook, which runs when a data file is finished). Another source
// under the same AppID: the commit conflicts, re-plans, finds its plan unchanged and commits
// at the next version. The same source: the re-plan finds it in the table at this version, so
// the batch takes it out and, with nothing left, commits nothing.
func TestConcurrentCommit(t *testing.T) {
	ctx := context.Background()
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("same source %v", same), func(t *testing.T) {
			dir := t.TempDir()
			a := copyFile(t, td("rgb.tif"), dir, "a.tif")
			b := copyFile(t, td("rgb.tif"), dir, "b.tif")
			c := copyFile(t, td("rgb.tif"), dir, "c.tif")
			s := openStore(t, filepath.Join(dir, "table"))
			if _, err := Ingest(ctx, s, []string{a}, quietOpts()); err != nil {
				t.Fatal(err)
			}
			other := c
			if same {
				other = b
			}
			o := quietOpts()
			injected := false
			o.Progress = func(p Progress) {
				if p.FilesWritten == 1 && !injected {
					injected = true
					if _, err := Ingest(ctx, s, []string{other}, quietOpts()); err != nil {
						t.Error(err)
					}
				}
			}
			sum, err := Ingest(ctx, s, []string{b}, o)
			if !injected {
				t.Fatal("no concurrent commit injected")
			}
			if same {
				// The source is in the table at this version now: the batch drops it and
				// has nothing left to commit.
				if err != nil || sum.Committed || len(sum.Files) != 0 || sum.Tiles != 0 ||
					len(sum.Sources) != 1 || sum.Sources[0].Status != StatusUnchanged {
					t.Fatalf("want nothing committed and the source reported unchanged, got %v (%+v)", err, sum)
				}
				if _, files := liveFiles(t, s); len(files) != 2 {
					t.Fatalf("%d live files, want 2 (the batch's own files deleted, not committed)", len(files))
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if sum.CommitAttempts != 2 || sum.Version != 2 || sum.AppVersion != 2 {
					t.Fatalf("summary %+v", sum)
				}
			}
			n, versions := countTiles(readTiles(t, s))
			for k, c := range n {
				if c != 1 {
					t.Fatalf("tile %v appears %d times", k, c)
				}
			}
			if want := map[bool]int{false: 3, true: 2}[same]; len(versions) != want {
				t.Fatalf("%d sources in the table, want %d", len(versions), want)
			}
		})
	}
}

// TestPostCommitError: a failing post-commit hook (checkpointing) does not undo the commit,
// and the error does not claim nothing was committed.
func TestPostCommitError(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "table"))
	o := quietOpts()
	hookErr := errors.New("checkpoint failed")
	calls := 0
	o.Txn.PostCommit = func(context.Context, delta.Committed) error { calls++; return hookErr }
	sum, err := Ingest(ctx, s, []string{td("rgb.tif")}, o)
	var ue *UncommittedError
	if !errors.Is(err, hookErr) || errors.As(err, &ue) || !sum.Committed || sum.Version != 0 || calls != 1 {
		t.Fatalf("err %v, summary %+v, %d hook calls", err, sum, calls)
	}
	if n, _ := countTiles(readTiles(t, s)); len(n) != 2 {
		t.Fatalf("%d tiles committed, want 2", len(n))
	}
}

// TestConcurrentSharedSource: another writer, under another app id, ingests one of this
// batch's two sources between this batch's writes and its commit. The commit conflicts on the
// read predicate, re-plans, writes its data file again without the shared source, commits the
// other source and reports the shared one unchanged. Before, the batch either added the shared
// source a second time (different app ids never conflicted) or failed whole.
func TestConcurrentSharedSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	shared := copyFile(t, td("rgb.tif"), dir, "shared.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	first := copyFile(t, td("rgb.tif"), dir, "first.tif")
	if _, err := Ingest(ctx, s, []string{first}, quietOpts()); err != nil {
		t.Fatal(err)
	}
	mine := copyFile(t, td("rgb.tif"), dir, "mine.tif")
	o := quietOpts()
	o.AppID = "writer-a"
	injected := false
	o.Progress = func(p Progress) {
		if p.FilesWritten == 1 && !injected {
			injected = true
			other := quietOpts()
			other.AppID = "writer-b"
			if _, err := Ingest(ctx, s, []string{shared}, other); err != nil {
				t.Error(err)
			}
		}
	}
	sum, err := Ingest(ctx, s, []string{shared, mine}, o)
	if !injected {
		t.Fatal("no concurrent commit injected")
	}
	if err != nil || !sum.Committed || sum.CommitAttempts != 2 {
		t.Fatalf("Ingest = %v (%+v); want a commit on the second attempt", err, sum)
	}
	status := map[string]string{}
	for _, r := range sum.Sources {
		status[r.URI] = r.Status
	}
	if status[shared] != StatusUnchanged || status[mine] != StatusAdded {
		t.Fatalf("statuses %v; want %s unchanged and %s added", status, shared, mine)
	}
	n, versions := countTiles(readTiles(t, s))
	for k, c := range n {
		if c != 1 {
			t.Fatalf("tile %v appears %d times", k, c)
		}
	}
	if len(versions) != 3 {
		t.Fatalf("%d sources in the table, want 3", len(versions))
	}
	_, files := liveFiles(t, s)
	live := map[string]bool{}
	for _, a := range files {
		live[a.Path] = true
	}
	for _, f := range sum.Files {
		if !live[f] {
			t.Errorf("summary lists %s, which is not live", f)
		}
	}
	// The batch's first data file (with the shared source's rows) was deleted, not left behind.
	parquets, _ := filepath.Glob(filepath.Join(dir, "table", "*.parquet"))
	if len(parquets) != len(files) {
		t.Errorf("%d data files on disk, %d live: the dropped copy was left behind", len(parquets), len(files))
	}
}
