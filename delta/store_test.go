package delta_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/delta/deltatest"
)

// memSeq makes every mem:// store of this test binary a bucket of its own.
var memSeq atomic.Int64

func openStore(t *testing.T, rawURL string) delta.Store {
	t.Helper()
	s, err := delta.OpenStore(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("OpenStore(%q): %v", rawURL, err)
	}
	if got := s.URL(); got != rawURL {
		t.Errorf("URL() = %q, want %q", got, rawURL)
	}
	return s
}

func TestStoreMem(t *testing.T) {
	t.Parallel()
	deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
		return openStore(t, fmt.Sprintf("mem://deltatest-%d", memSeq.Add(1)))
	})
}

func TestStoreMemPrefixed(t *testing.T) {
	t.Parallel()
	deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
		return openStore(t, fmt.Sprintf("mem://deltatest-%d/tables/t1", memSeq.Add(1)))
	})
}

// Every local put-if-absent syncs the file and its directory, about 0.8 ms on ext4: the local
// stores race on fewer keys than the default 1,000 so the suite stays within a few seconds.
const (
	localRaceRounds   = 200
	fileURLRaceRounds = 50 // the same implementation as a plain path
)

func TestStoreLocalPath(t *testing.T) {
	t.Parallel()
	deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
		return openStore(t, filepath.Join(t.TempDir(), "table"))
	}, deltatest.WithRaceRounds(localRaceRounds))
}

func TestStoreLocalFileURL(t *testing.T) {
	t.Parallel()
	deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
		return openStore(t, "file://"+filepath.ToSlash(filepath.Join(t.TempDir(), "table")))
	}, deltatest.WithRaceRounds(fileURLRaceRounds))
}

// TestStoreMemShared checks that mem:// buckets are shared by name, and that opening a prefixed
// view of a bucket, or closing a store, leaves the other stores on that bucket working.
func TestStoreMemShared(t *testing.T) {
	ctx := t.Context()
	name := fmt.Sprintf("mem://deltatest-%d", memSeq.Add(1))
	a := openStore(t, name)
	defer a.Close()
	if err := a.Put(ctx, "tables/t1/x.json", []byte("x")); err != nil {
		t.Fatalf("Put: %v", err)
	}

	b := openStore(t, name)
	if got, err := delta.ReadAll(ctx, b, "tables/t1/x.json"); err != nil || string(got) != "x" {
		t.Fatalf("second open of %s: ReadAll = %q, %v; want \"x\"", name, got, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	p := openStore(t, name+"/tables/t1")
	if got, err := delta.ReadAll(ctx, p, "x.json"); err != nil || string(got) != "x" {
		t.Errorf("prefixed open %s/tables/t1: ReadAll(x.json) = %q, %v; want \"x\"", name, got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The first store, and a fresh open, still work.
	if err := a.Put(ctx, "y.json", []byte("y")); err != nil {
		t.Errorf("Put on %s after a prefixed open and close: %v", name, err)
	}
	c := openStore(t, name)
	defer c.Close()
	if _, err := c.Stat(ctx, "tables/t1/x.json"); err != nil {
		t.Errorf("Stat on a fresh open of %s after a prefixed open: %v", name, err)
	}
}

// TestStoreLocalMissingDir checks that a table directory that does not exist yet lists as empty,
// reads as not found and is not created by reading, listing or deleting.
func TestStoreLocalMissingDir(t *testing.T) {
	ctx := t.Context()
	parent := t.TempDir()
	dir := filepath.Join(parent, "new-table")
	for _, rawURL := range []string{dir, "file://" + filepath.ToSlash(dir)} {
		t.Run(rawURL, func(t *testing.T) {
			s := openStore(t, rawURL)
			defer s.Close()
			for o, err := range s.List(ctx, "", "") {
				t.Errorf("List of a missing directory yielded %+v, %v", o, err)
			}
			for o, err := range s.List(ctx, delta.LogDir, "") {
				t.Errorf("List(%q) of a missing directory yielded %+v, %v", delta.LogDir, o, err)
			}
			if _, err := s.Stat(ctx, delta.CommitKey(0)); !errors.Is(err, delta.ErrNotFound) {
				t.Errorf("Stat: error = %v, want ErrNotFound", err)
			}
			if _, err := s.ReadRange(ctx, delta.LastCheckpointKey, 0, -1); !errors.Is(err, delta.ErrNotFound) {
				t.Errorf("ReadRange: error = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, delta.CommitKey(0)); err != nil {
				t.Errorf("Delete: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s exists after reads of a missing table (stat error %v)", dir, err)
			}

			// The first put creates it; the same store then sees the object.
			if err := s.PutIfAbsent(ctx, delta.CommitKey(0), []byte("{}")); err != nil {
				t.Fatalf("PutIfAbsent: %v", err)
			}
			var keys []string
			for o, err := range s.List(ctx, "", "") {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				keys = append(keys, o.Key)
			}
			if len(keys) != 1 || keys[0] != delta.CommitKey(0) {
				t.Errorf("List after the first put = %q, want [%q]", keys, delta.CommitKey(0))
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStoreLocalNoTempFiles checks that puts, lost put-if-absents, streamed creates and aborted
// creates leave no temporary file behind.
func TestStoreLocalNoTempFiles(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()

	if err := s.Put(ctx, "a=1/part-0.parquet", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a=1/part-0.parquet", []byte("overwritten")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, delta.CommitKey(0), []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, delta.CommitKey(0), []byte("second")); !errors.Is(err, delta.ErrExist) {
		t.Fatalf("lost PutIfAbsent: error = %v, want ErrExist", err)
	}
	// Several writers racing: the losers' temporary files go too.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			_ = s.PutIfAbsent(ctx, delta.CommitKey(1), fmt.Appendf(nil, "writer %d", w))
		})
	}
	wg.Wait()

	w, err := s.Create(ctx, "_delta_log/00000000000000000001.checkpoint.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("checkpoint")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err = s.Create(actx, "aborted.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); err == nil {
		t.Errorf("Close of a cancelled Create returned nil")
	}

	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"_delta_log/00000000000000000000.json",
		"_delta_log/00000000000000000001.checkpoint.parquet",
		"_delta_log/00000000000000000001.json",
		"a=1/part-0.parquet",
	}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Errorf("files on disk:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
}

// TestStoreLocalInvalidKey checks that keys escaping the table directory are refused.
func TestStoreLocalInvalidKey(t *testing.T) {
	ctx := t.Context()
	parent := t.TempDir()
	s := openStore(t, filepath.Join(parent, "table"))
	defer s.Close()
	for _, key := range []string{"", "../outside.json", "a/../../outside.json", "/etc/outside.json", "..", `a\..\..\outside.json`} {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, delta.ErrInvalidPath) {
			t.Errorf("Put(%q): error = %v, want ErrInvalidPath", key, err)
		}
		if err := s.PutIfAbsent(ctx, key, []byte("x")); !errors.Is(err, delta.ErrInvalidPath) {
			t.Errorf("PutIfAbsent(%q): error = %v, want ErrInvalidPath", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, delta.ErrInvalidPath) {
			t.Errorf("Delete(%q): error = %v, want ErrInvalidPath", key, err)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "outside.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a put escaped the table directory (stat error %v)", err)
	}
}

// TestOpenStoreErrors checks the URLs OpenStore refuses.
func TestOpenStoreErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, rawURL := range []string{"", "ftp://host/table", "file://otherhost/tmp/table", file} {
		if s, err := delta.OpenStore(t.Context(), rawURL); err == nil {
			s.Close()
			t.Errorf("OpenStore(%q) succeeded, want an error", rawURL)
		}
	}
}
