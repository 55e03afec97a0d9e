package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The rasters testdata/make.sh writes, made once per test binary (removed by Cleanup).
var rasters struct {
	once sync.Once
	dir  string
	err  error
}

// Raster returns the bytes of a raster testdata/make.sh writes (see that script), made with
// GDAL's tools once per test binary.
func Raster(t testing.TB, name string) []byte {
	t.Helper()
	rasters.once.Do(func() {
		dir, err := os.MkdirTemp("", "deltaraster-testdata-")
		if err != nil {
			rasters.err = err
			return
		}
		rasters.dir = dir
		out, err := exec.Command("sh", filepath.Join(ModuleRoot(t), "testdata", "make.sh"), dir).CombinedOutput()
		if err != nil {
			rasters.err = fmt.Errorf("testdata/make.sh: %v\n%s", err, out)
		}
	})
	if rasters.err != nil {
		t.Fatal(rasters.err)
	}
	b, err := os.ReadFile(filepath.Join(rasters.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Drop writes b to dir/name through a hidden temporary name and a rename, as a well-behaved
// producer does, and returns the path.
func Drop(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p, err := DropFile(dir, name, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// DropFile is Drop for goroutines other than the test's: it returns the error.
func DropFile(dir, name string, b []byte) (string, error) {
	p := filepath.Join(dir, name)
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// WaitFor polls cond every 50 ms until it holds, and fails the test after limit, with why()
// (when not nil) in the message.
func WaitFor(t testing.TB, limit time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if why != nil {
				msg = "; " + why()
			}
			t.Fatalf("not done after %v%s", limit, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
