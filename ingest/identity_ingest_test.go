package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// connectionParams are strings of the spellings these tests use that the table must never
// hold (they stand for an endpoint and a secret).
var connectionParams = []string{"endpoint", "127.0.0.1", "use_path_style", "region", "secret"}

// logText is every object of the table's _delta_log, concatenated.
func logText(t *testing.T, s delta.Store) string {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	for o, err := range s.List(ctx, "_delta_log/", "") {
		if err != nil {
			t.Fatal(err)
		}
		rc, err := s.ReadRange(ctx, o.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(&buf, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	return buf.String()
}

// liveText is what the live files say of their sources: their add actions' tags and the
// source column of every row.
func liveText(t *testing.T, s delta.Store) string {
	t.Helper()
	var b strings.Builder
	_, files := liveFiles(t, s)
	for _, a := range files {
		fmt.Fprintln(&b, a.Tags[tagSources])
	}
	for _, tl := range readTiles(t, s) {
		fmt.Fprintln(&b, tl.Source)
	}
	return b.String()
}

func assertNoConnectionParams(t *testing.T, what, text string) {
	t.Helper()
	for _, p := range connectionParams {
		if strings.Contains(text, p) {
			t.Errorf("%s holds %q:\n%s", what, p, text)
		}
	}
}

// tileSources counts the tiles of each source value (spelling) of the live files.
func tileSources(t *testing.T, s delta.Store) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, tl := range readTiles(t, s) {
		n[tl.Source]++
	}
	return n
}

func ingestOne(t *testing.T, s delta.Store, o Options, sources ...string) Summary {
	t.Helper()
	sum, err := Ingest(context.Background(), s, sources, o)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestSourceSpellingsIngestOnce: one object ingested under several spellings (connection
// parameters in any order, escapes, the scheme's case) is in the table once, under its
// identity, and the table holds none of the connection parameters; export finds it under any
// spelling.
func TestSourceSpellingsIngestOnce(t *testing.T) {
	ctx := context.Background()
	putObject(t, "mem://ident-src", "scenes/k.tif", td("rgb.tif"))
	const id = "mem://ident-src/scenes/k.tif"
	spellings := []string{
		id + "?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1",
		id,
		"MEM://ident-src/scenes/%6B.tif?region=us-east-1&endpoint=http%3A%2F%2F127.0.0.1%3A9000&secret=x",
		"mem://u:secret@ident-src/scenes/k.tif",
	}
	o := quietOpts()
	o.TileSize = 128

	one := openStore(t, "mem://ident-table-one")
	var tiles int64
	for i, sp := range spellings {
		sum := ingestOne(t, one, o, sp)
		want := StatusUnchanged
		if i == 0 {
			want, tiles = StatusAdded, sum.Tiles
		}
		if len(sum.Sources) != 1 || sum.Sources[0].Status != want || sum.Committed != (i == 0) {
			t.Fatalf("ingest %d (%s): %+v", i, sp, sum)
		}
		if r := sum.Sources[0]; r.URI != id || (sp != id && r.Given != sp) || (sp == id && r.Given != "") {
			t.Errorf("ingest %d: source %+v, want uri %s, given %s", i, r, id, sp)
		}
	}

	// All spellings in one call, into a new table: one source.
	all := openStore(t, "mem://ident-table-all")
	sum := ingestOne(t, all, o, spellings...)
	if len(sum.Sources) != 1 || sum.Sources[0].URI != id || sum.Sources[0].Given != spellings[0] || sum.Tiles != tiles {
		t.Fatalf("one call with every spelling: %+v", sum)
	}

	for name, s := range map[string]delta.Store{"one": one, "all": all} {
		if n := tileSources(t, s); len(n) != 1 || n[id] != int(tiles) {
			t.Errorf("table %s: tiles by source %v, want %d of %s", name, n, tiles, id)
		}
		assertNoConnectionParams(t, "the log of table "+name, logText(t, s))
		assertNoConnectionParams(t, "the live files of table "+name, liveText(t, s))
	}
	dir := t.TempDir()
	for i, sp := range spellings {
		out := filepath.Join(dir, fmt.Sprintf("out%d.tif", i))
		if err := Export(ctx, one, ExportOptions{Source: sp, Out: out}); err != nil {
			t.Fatalf("export %s: %v", sp, err)
		}
		assertSameRaster(t, td("rgb.tif"), 0, out)
	}
}

// TestLocalSpellingsIngestOnce: a local file given as an absolute path, a file:// URL and
// relative paths is one source, recorded as its absolute path.
func TestLocalSpellingsIngestOnce(t *testing.T) {
	dir := t.TempDir()
	p := copyFile(t, td("rgb.tif"), dir, "rgb.tif")
	t.Chdir(dir)
	o := quietOpts()
	o.TileSize = 128
	s := openStore(t, "mem://ident-table-local")
	spellings := []string{"rgb.tif", p, "file://" + p, "file://localhost" + p, "./sub/../rgb.tif", dir + "//rgb.tif"}
	for i, sp := range spellings {
		sum := ingestOne(t, s, o, sp)
		want := StatusUnchanged
		if i == 0 {
			want = StatusAdded
		}
		if len(sum.Sources) != 1 || sum.Sources[0].Status != want || sum.Sources[0].URI != p {
			t.Fatalf("ingest %d (%s): %+v", i, sp, sum)
		}
	}
	if n := tileSources(t, s); len(n) != 1 || n[p] == 0 {
		t.Errorf("tiles by source %v, want those of %s only", n, p)
	}
	out := filepath.Join(dir, "out.tif")
	if err := Export(context.Background(), s, ExportOptions{Source: "file://" + p, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, td("rgb.tif"), 0, out)
}

// writeAsGiven makes Ingest record sources as given until the returned function is called, as
// versions before source identities did.
func writeAsGiven(t *testing.T) func() {
	old := identityOf
	identityOf = func(given string, _ *sourceLoc) string { return given }
	restore := func() { identityOf = old }
	t.Cleanup(restore)
	return restore
}

// TestLegacySpellings: tables written before source identities, which hold sources as given,
// stay readable. A source there under one spelling is found under any spelling (unchanged;
// replaced when it changes, which removes the old spelling); a source there twice (the bug:
// ingested under two spellings) is exported once and replaced by the next ingest, which
// leaves it once.
func TestLegacySpellings(t *testing.T) {
	ctx := context.Background()
	putObject(t, "mem://ident-legacy", "a.tif", td("rgb.tif"))
	putObject(t, "mem://ident-legacy", "b.tif", td("rgb.tif"))
	const idA, idB = "mem://ident-legacy/a.tif", "mem://ident-legacy/b.tif"
	const q = "?endpoint=http://127.0.0.1:9000&use_path_style=true"
	o := quietOpts()
	o.TileSize = 128
	s := openStore(t, "mem://ident-table-legacy")

	restore := writeAsGiven(t)
	tiles := ingestOne(t, s, o, idA+q).Tiles
	if sum := ingestOne(t, s, o, idA); sum.Sources[0].Status != StatusAdded {
		t.Fatalf("the legacy writer did not add a second spelling: %+v", sum)
	}
	ingestOne(t, s, o, idB+q)
	restore()
	if n := tileSources(t, s); n[idA+q] != int(tiles) || n[idA] != int(tiles) || n[idB+q] != int(tiles) {
		t.Fatalf("legacy table: tiles by source %v", n)
	}

	dir := t.TempDir()
	for i, sp := range []string{idA, idA + "?region=x", idB, idB + q} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.tif", i))
		if err := Export(ctx, s, ExportOptions{Source: sp, Out: out}); err != nil {
			t.Fatalf("export %s from the legacy table: %v", sp, err)
		}
		assertSameRaster(t, td("rgb.tif"), 0, out)
	}

	sum := ingestOne(t, s, o, idA, idB+"?region=us-east-1")
	status := map[string]string{}
	for _, r := range sum.Sources {
		status[r.URI] = r.Status
	}
	if status[idA] != StatusReplaced || status[idB] != StatusUnchanged {
		t.Fatalf("re-ingest into the legacy table: %+v", sum)
	}
	if n := tileSources(t, s); len(n) != 2 || n[idA] != int(tiles) || n[idB+q] != int(tiles) {
		t.Fatalf("after re-ingest: tiles by source %v, want %d of %s and of %s", n, tiles, idA, idB+q)
	}

	// b changes: it is replaced, and its legacy spelling goes with its old tiles.
	putObject(t, "mem://ident-legacy", "b.tif", td("rgb.tif"))
	sum = ingestOne(t, s, o, idB)
	if sum.Sources[0].Status != StatusReplaced {
		t.Fatalf("changed source of the legacy table: %+v", sum)
	}
	if n := tileSources(t, s); len(n) != 2 || n[idA] != int(tiles) || n[idB] != int(tiles) {
		t.Fatalf("after b changed: tiles by source %v", n)
	}
	assertNoConnectionParams(t, "the live files", liveText(t, s))
}

// TestLegacyUntaggedFiles: files without the sources tag (rewritten by another engine) holding
// a source as given by a version before identities are found through their statistics.
func TestLegacyUntaggedFiles(t *testing.T) {
	dir := t.TempDir()
	p := copyFile(t, td("rgb.tif"), dir, "a.tif")
	legacy := "file://" + p
	o := quietOpts()
	o.TileSize = 128
	s := openStore(t, filepath.Join(dir, "table"))
	restore := writeAsGiven(t)
	ingestOne(t, s, o, legacy)
	restore()
	untag(t, s)
	sum := ingestOne(t, s, o, p)
	if sum.Committed || sum.Sources[0].Status != StatusUnchanged {
		t.Fatalf("legacy source in untagged files: %+v", sum)
	}
	out := filepath.Join(dir, "out.tif")
	if err := Export(context.Background(), s, ExportOptions{Source: p, Out: out}); err != nil {
		t.Fatal(err)
	}
	assertSameRaster(t, p, 0, out)
}

// untag rewrites every live file under a new name with no tags, as another engine may.
func untag(t *testing.T, s delta.Store) {
	t.Helper()
	ctx := context.Background()
	_, files := liveFiles(t, s)
	txn, err := delta.Begin(ctx, s, delta.TxnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range files {
		b, err := delta.ReadAll(ctx, s, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		np := "untagged-" + a.Path
		if err := s.Put(ctx, np, bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
		txn.Remove(&delta.Remove{Path: a.Path, DataChange: false})
		txn.Add(&delta.Add{Path: np, PartitionValues: delta.PartitionValues{}, Size: a.Size, ModificationTime: a.ModificationTime, Stats: a.Stats})
	}
	if _, err := txn.Commit(ctx, "OPTIMIZE", nil); err != nil {
		t.Fatal(err)
	}
}

// TestExportAzureAccount: an azblob source exported without an account (none given, none in
// the environment) matches the source of any one account, and is refused when the table holds
// that container and key under two accounts.
func TestExportAzureAccount(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGEBLOB_CONNECTIONSTRING", "")
	e := &exporter{want: exportID("azblob://c/k.tif?protocol=http")}
	for v, want := range map[string]bool{
		"azblob://acct@c/k.tif": true, "azblob://c/k.tif?domain=d": true, "azblob://acct@c/l.tif": false,
		"s3://c/k.tif": false,
	} {
		if got := e.matches(v); got != want {
			t.Errorf("matches(%q) = %v, want %v", v, got, want)
		}
	}
	if err := e.sameAccount("azblob://acct@c/k.tif"); err != nil {
		t.Fatal(err)
	}
	if err := e.sameAccount("azblob://other@c/k.tif"); err == nil {
		t.Error("two accounts matched without an error")
	}
	e = &exporter{want: exportID("azblob://acct@c/k.tif")}
	if e.matches("azblob://other@c/k.tif") || !e.matches("azblob://c/k.tif?storage_account=ACCT") {
		t.Error("an account given matches another account, or not its own")
	}
}

// TestConcurrentSpellings: another writer, under another app id, ingests one of this batch's
// sources under another spelling (a file:// URL) between this batch's writes and its commit.
// The read predicate matches identities: the batch re-plans and reports the source unchanged,
// and the table holds it once.
func TestConcurrentSpellings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	shared := copyFile(t, td("rgb.tif"), dir, "shared.tif")
	mine := copyFile(t, td("rgb.tif"), dir, "mine.tif")
	s := openStore(t, filepath.Join(dir, "table"))
	ingestOne(t, s, quietOpts(), copyFile(t, td("rgb.tif"), dir, "first.tif"))
	o := quietOpts()
	o.AppID = "writer-a"
	injected := false
	o.Progress = func(p Progress) {
		if p.FilesWritten == 1 && !injected {
			injected = true
			other := quietOpts()
			other.AppID = "writer-b"
			if _, err := Ingest(ctx, s, []string{"file://" + shared}, other); err != nil {
				t.Error(err)
			}
		}
	}
	sum := ingestOne(t, s, o, shared, mine)
	if !injected || !sum.Committed || sum.CommitAttempts != 2 {
		t.Fatalf("injected %v, summary %+v; want a commit on the second attempt", injected, sum)
	}
	status := map[string]string{}
	for _, r := range sum.Sources {
		status[r.URI] = r.Status
	}
	if status[shared] != StatusUnchanged || status[mine] != StatusAdded {
		t.Fatalf("statuses %v; want %s unchanged and %s added", status, shared, mine)
	}
	n := tileSources(t, s)
	if len(n) != 3 || n[shared] != n[mine] {
		t.Fatalf("tiles by source %v, want 3 sources, %s once", n, shared)
	}
}
