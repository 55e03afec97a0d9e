package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// wantFailure runs deltactl and checks its exit status and that stderr is exactly want.
func wantFailure(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	r := deltactl(t, args...)
	if r.code != code || r.stderr != want {
		t.Errorf("deltactl %s: exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
}

// wantStderr runs deltactl and checks its exit status and that stderr holds want.
func wantStderr(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := deltactl(t, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Errorf("deltactl %s: exit %d, stderr:\n%s\nwant exit %d, stderr holding:\n%s", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
	return r
}

// TestRetentionMessages: a retention below the table's says which flag allows it and that a
// dry run may use it; retentions take days; a negative one names its flag.
func TestRetentionMessages(t *testing.T) {
	dir, _ := newTable(t)
	wantFailure(t, exitFailure, "deltactl: vacuum "+dir+": --retention 1h is shorter than the table's 7d (delta.deletedFileRetentionDuration): "+
		"readers of older versions could lose files; pass --force-retention to vacuum anyway, or --dry-run to list what it would delete\n",
		"vacuum", dir, "--retention", "1h")
	// The dry run is allowed, and lists the file removed at version 3 (in March 2024).
	if out := mustRun(t, "vacuum", dir, "--retention", "1h", "--dry-run"); !strings.Contains(out, "would delete "+pathA) ||
		!strings.Contains(out, "retention 1h") {
		t.Errorf("dry run with a short retention:\n%s", out)
	}
	if out := mustRun(t, "vacuum", dir, "--retention", "10d", "--dry-run"); !strings.Contains(out, "retention 10d") {
		t.Errorf("dry run with --retention 10d:\n%s", out)
	}
	mustRun(t, "cleanup-metadata", dir, "--retention", "30d", "--dry-run")
	for _, c := range []string{"vacuum", "cleanup-metadata"} {
		wantFailure(t, exitUsage, `deltactl: invalid argument "-5h" for "--retention" flag: duration "-5h" is negative`+"\n"+
			"Run 'deltactl "+c+" --help' for usage.\n", c, dir, "--retention", "-5h")
		wantFailure(t, exitUsage, `deltactl: invalid argument "7days" for "--retention" flag: duration "7days": want hours, minutes or seconds (168h, 90m, 30s) or days (7d, 1d12h)`+"\n"+
			"Run 'deltactl "+c+" --help' for usage.\n", c, dir, "--retention", "7days")
	}
	wantFailure(t, exitUsage, "deltactl: invalid argument -1 for --parallel: want 0 (the default) or more\nRun 'deltactl vacuum --help' for usage.\n",
		"vacuum", dir, "--parallel", "-1")
}

// TestHelpNamesFlags: every --flag the help of a command mentions is one of its flags, and no
// help prints a default of 0B.
func TestHelpNamesFlags(t *testing.T) {
	// A flag, and the word before it: "export --source" is another command's flag.
	mention := regexp.MustCompile(`([a-z-]*) ?--([a-z][a-z0-9-]*)`)
	root := newRootCmd()
	for _, c := range root.Commands() {
		text := c.Long + "\n" + c.Example
		for _, m := range mention.FindAllStringSubmatch(text, -1) {
			of := c
			if o, _, err := root.Find([]string{m[1]}); err == nil && o != root {
				of = o
			}
			if of.Flags().Lookup(m[2]) == nil && of.InheritedFlags().Lookup(m[2]) == nil && m[2] != "help" {
				t.Errorf("deltactl %s --help mentions --%s, which is not a flag of %s", c.Name(), m[2], of.Name())
			}
		}
		help := mustRun(t, c.Name(), "--help")
		if strings.Contains(help, "(default 0B)") {
			t.Errorf("deltactl %s --help prints a default of 0B:\n%s", c.Name(), help)
		}
	}
}

// TestExportMessages: export says which of source, level, bbox or output directory is at fault.
func TestExportMessages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	cog := testRaster(t, "cog.tif") // levels 0, 1 and 2
	mustRun(t, "ingest", dir, cog)
	out := filepath.Join(t.TempDir(), "out.tif")
	prefix := func(src, level string) string {
		return "deltactl: export " + src + " level " + level + " from " + dir + ": "
	}
	other := filepath.Join(filepath.Dir(cog), "cog2.tif")
	wantFailure(t, exitFailure, prefix(other, "0")+"the table holds no source "+other+`; the nearest of its sources: "`+cog+`"`+"\n",
		"export", dir, "--source", other, "--out", out)
	// A relative spelling is read against the working directory, and the message says so.
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, exitFailure, prefix("cog.tif", "0")+"the table holds no source cog.tif (a relative path, read as "+
		filepath.Join(cwd, "cog.tif")+`); the nearest of its sources: "`+cog+`"`+"\n",
		"export", dir, "--source", "cog.tif", "--out", out)
	wantFailure(t, exitFailure, prefix(cog, "3")+"the table holds the source at level 0, 1 and 2, not at level 3\n",
		"export", dir, "--source", cog, "--out", out, "--level", "3")
	wantStderr(t, exitFailure, prefix(cog, "0")+"none of the 2 tiles at level 0 intersects the bbox 10,10,11,11; they cover ",
		"export", dir, "--source", cog, "--out", out, "--bbox", "10,10,11,11")
	missing := filepath.Join(t.TempDir(), "missing", "out.tif")
	wantFailure(t, exitFailure, "deltactl: export to "+missing+": directory "+filepath.Dir(missing)+" does not exist\n",
		"export", dir, "--source", cog, "--out", missing)
}

// TestTableURLMessages: a missing directory, a directory without a log, a URL with one
// slash after its scheme, and a mem:// table each say what they are.
func TestTableURLMessages(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	wantFailure(t, exitFailure, "deltactl: read table: "+missing+" does not exist (delta: not a delta table)\n", "info", missing)
	empty := t.TempDir()
	wantFailure(t, exitFailure, "deltactl: read table: "+empty+": no Delta log in _delta_log/ (delta: not a delta table)\n", "info", empty)
	for _, u := range []string{"s3:/bucket/t", "gs:bucket/t", "azblob:/c/t", "mem:/t"} {
		scheme, rest, _ := strings.Cut(u, ":")
		wantFailure(t, exitFailure, `deltactl: open table: open store "`+u+`": a `+scheme+" URL has two slashes after "+scheme+": ("+
			scheme+"://"+strings.TrimLeft(rest, "/")+")\n", "info", u)
	}
	if _, err := os.Stat("s3:"); err == nil {
		t.Error(`a directory "s3:" was made in the working directory`)
	}
	// file:/abs/path is a file URI, not a typo.
	dir := filepath.Join(t.TempDir(), "t")
	mustRun(t, "create", "file:"+dir, "--schema", "a:long")
	mustRun(t, "info", dir)

	url := "mem://deltactl-messages/t"
	warn := "deltactl: warning: " + url + " is a table in this process's memory: it vanishes when deltactl exits\n"
	if r := deltactl(t, "create", url, "--schema", "a:long"); r.code != exitOK || r.stderr != warn {
		t.Errorf("create %s: exit %d, stderr %q, want %q", url, r.code, r.stderr, warn)
	}
}

// TestErrorsNameURLOnce walks the error chain of failing commands: the table's URL is named
// by one layer only, and no layer repeats another's words; stderr is one line naming it once.
func TestErrorsNameURLOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	table, _ := newTable(t)
	out := filepath.Join(t.TempDir(), "out.tif")
	for _, args := range [][]string{
		{"info", missing}, {"files", missing}, {"history", missing}, {"checkpoint", missing},
		{"cleanup-metadata", missing}, {"vacuum", missing}, {"optimize", missing},
		{"export", missing, "--source", "a.tif", "--out", out},
		{"create", table, "--schema", "a:long"},
		{"ingest", table, filepath.Join(missing, "a.tif")},
	} {
		name := args[1]
		if args[0] == "ingest" {
			name = args[2] // the source at fault
		}
		root := newRootCmd()
		root.SetArgs(args)
		var sink strings.Builder
		root.SetOut(&sink)
		root.SetErr(&sink)
		err := root.ExecuteContext(context.Background())
		if err == nil {
			t.Errorf("deltactl %s succeeded", strings.Join(args, " "))
			continue
		}
		var own []string // each layer's own words
		for e := err; e != nil; e = errors.Unwrap(e) {
			text := e.Error()
			if in := errors.Unwrap(e); in != nil {
				text = strings.TrimSuffix(text, in.Error())
			}
			if text = strings.Trim(text, ": "); text != "" {
				own = append(own, text)
			}
		}
		named := 0
		for i, o := range own {
			if strings.Contains(o, name) {
				named++
			}
			for _, p := range own[i+1:] {
				if p == o {
					t.Errorf("deltactl %s: %q twice in %q", strings.Join(args, " "), o, err)
				}
			}
		}
		if named != 1 {
			t.Errorf("deltactl %s: %s named by %d layers of %q", strings.Join(args, " "), name, named, err)
		}
		// And as the user sees it: one line on stderr naming it once, exit 1.
		r := deltactl(t, args...)
		if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 || strings.Count(r.stderr, name) != 1 {
			t.Errorf("deltactl %s: exit %d, stderr %q; want exit %d and one line naming %s once", strings.Join(args, " "), r.code, r.stderr, exitFailure, name)
		}
	}
}

// TestTruncatedRasterMessage: libtiff's and GDAL's messages about a truncated raster come out
// as one line naming the source once.
func TestTruncatedRasterMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	src := testRaster(t, "truncated.tif")
	r := wantStderr(t, exitFailure, "deltactl: source "+src+": read level 0 tile 0,0 band 1: gdal: TIFFFillTile", "ingest", dir, src)
	if strings.Count(r.stderr, "\n") != 1 || strings.Count(r.stderr, src) != 1 || strings.Count(r.stderr, "gdal: ") != 1 {
		t.Errorf("want one line naming the source once, got:\n%s", r.stderr)
	}
}

// TestCountsAndSizes: counts read as English and sizes are written once, in binary units.
func TestCountsAndSizes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "table")
	rgb := testRaster(t, "rgb.tif")
	out := mustRun(t, "ingest", dir, rgb)
	sz := `[0-9]+(\.[0-9])? KiB`
	for _, c := range []struct{ out, re string }{
		{out, `^added +` + regexp.QuoteMeta(rgb) + `: 2 tiles, 1 level\ncommitted version 0 of ` + regexp.QuoteMeta(dir) +
			` \(table created\): 1 added; 2 tiles in 1 file, ` + sz + `; [0-9.]+m?s\n$`},
		{mustRun(t, "optimize", dir, "--dry-run"), `^would merge 0 files \(0 bytes\) of .* into 0 bins of at most 256 MiB; 1 file left alone\n$`},
		{mustRun(t, "vacuum", dir, "--dry-run"), `^vacuum .* \(LITE mode, retention 7d\): would delete 0 files \(0 bytes\); 1 live file, 0 recent tombstones kept\n$`},
		{mustRun(t, "checkpoint", dir), `^checkpoint of .* at version 0 \(classic\): 1 file, 0 tombstones, ` + sz + ` in 1 file, [0-9.]+m?s\n$`},
	} {
		if !regexp.MustCompile(c.re).MatchString(c.out) {
			t.Errorf("output\n%s\ndoes not match\n%s", c.out, c.re)
		}
	}
}
