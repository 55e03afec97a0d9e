package delta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadDirConsistent: the one-call listing returns exactly what os.ReadDir does, for
// directories from empty to several times the first buffer.
func TestReadDirConsistent(t *testing.T) {
	for _, n := range []int{0, 1, 150, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			for i := range n {
				name := fmt.Sprintf("%020d.json", i)
				if i%7 == 0 {
					name = fmt.Sprintf(".deltaraster-%020d.json.%x.tmp", i, i*7919)
				}
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := readDirConsistent(dir)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d names, want %d", len(got), len(want))
			}
			slices.SortFunc(got, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
			for i := range want {
				if got[i].name != want[i].Name() || got[i].mode.IsDir() != want[i].IsDir() {
					t.Fatalf("entry %d: %q (dir %v), want %q (dir %v)", i, got[i].name, got[i].mode.IsDir(), want[i].Name(), want[i].IsDir())
				}
			}
		})
	}
}

// TestLocalListUnderChurn: while writers publish commits (each through a temporary file that
// is created, linked and unlinked in the same directory), every commit whose put completed
// before a listing began is in that listing. With os.ReadDir's 8 KiB reads, listings past
// ~150 names missed commits that were there all along.
func TestLocalListUnderChurn(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const writers, perWriter = 6, 400
	var done atomic.Int64 // commits 0..done-1 are complete
	var mu sync.Mutex
	landed := map[int64]bool{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				// Every writer races for the next version, as committers do: most puts lose
				// (the temporary file is created, its link fails, it is unlinked).
				v := next.Load()
				if v >= writers*perWriter {
					return
				}
				err := st.PutIfAbsent(ctx, CommitKey(v), []byte("{}\n"))
				if errors.Is(err, ErrExist) {
					next.CompareAndSwap(v, v+1)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				next.CompareAndSwap(v, v+1)
				mu.Lock()
				landed[v] = true
				for landed[done.Load()] {
					done.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	listings := 0
	for done.Load() < writers*perWriter && time.Now().Before(deadline) {
		before := done.Load()
		seen := map[int64]bool{}
		for o, err := range st.List(ctx, LogDir, "") {
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := ParseLogKey(o.Key); ok {
				seen[f.Version] = true
			}
		}
		listings++
		for v := range before {
			if !seen[v] {
				t.Fatalf("listing %d: commit %d (of %d complete) is missing", listings, v, before)
			}
		}
	}
	wg.Wait()
	t.Logf("%d listings", listings)
}
