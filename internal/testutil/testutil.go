// Package testutil holds helpers shared by the tests of several packages: locating and
// unpacking the conformance tables, copying tables to temporary directories, a store that
// injects faults, the rasters of testdata/make.sh and dropping them into watched directories.
package testutil

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ConformanceDir returns ../shared/conformance beside the module (or $DELTARASTER_CONFORMANCE).
// The test fails when it is missing: CI always has it.
func ConformanceDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DELTARASTER_CONFORMANCE"); d != "" {
		return d
	}
	d := filepath.Join(ModuleRoot(t), "..", "shared", "conformance")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("conformance tables not found at %s (set DELTARASTER_CONFORMANCE): %v", d, err)
	}
	return d
}

var (
	unpackMu sync.Mutex
	unpacked = map[string]string{}
)

// Unpack extracts a .tar.zst archive into a fresh directory and returns it. Each archive is
// unpacked once per test binary; callers must not write into the result (CopyTable first).
func Unpack(t testing.TB, archive string) string {
	t.Helper()
	unpackMu.Lock()
	defer unpackMu.Unlock()
	if d, ok := unpacked[archive]; ok {
		return d
	}
	dest, err := os.MkdirTemp("", "deltaraster-unpack-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := untarZst(archive, dest); err != nil {
		os.RemoveAll(dest)
		t.Fatalf("unpack %s: %v", archive, err)
	}
	unpacked[archive] = dest
	return dest
}

// Cleanup removes every directory Unpack and Raster made; call it from TestMain after m.Run.
func Cleanup() {
	unpackMu.Lock()
	defer unpackMu.Unlock()
	for k, d := range unpacked {
		os.RemoveAll(d)
		delete(unpacked, k)
	}
	if rasters.dir != "" {
		os.RemoveAll(rasters.dir)
	}
}

func untarZst(archive, dest string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return errors.New("archive entry escapes the destination: " + h.Name)
		}
		target := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chtimes(target, h.ModTime, h.ModTime); err != nil {
				return err
			}
		}
	}
}

// CopyTable copies a table directory into a new temporary directory and returns the copy, with
// file modification times kept (time travel by timestamp depends on them).
func CopyTable(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chtimes(target, info.ModTime(), info.ModTime())
	})
	if err != nil {
		t.Fatalf("copy table %s: %v", src, err)
	}
	return dst
}
