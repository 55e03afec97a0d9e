package delta_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// table300k unpacks kernel/300k-add-files-100-col-partitioned (once per test binary): 300,000
// adds in three commits of about 100,000 lines, no checkpoint. Its file N is
// part_P/file_N.parquet with partition_col = part_P and modificationTime 1234567890+N.
func table300k(t testing.TB) string {
	t.Helper()
	const name = "300k-add-files-100-col-partitioned"
	return filepath.Join(testutil.Unpack(t, filepath.Join(testutil.ConformanceDir(t), "kernel", name+".tar.zst")), name)
}

// check300kAdd returns the file number of an add of the 300k table, or an error when the add is
// not one the table holds (a field of another line, a garbled path).
func check300kAdd(a *delta.Add) (int, error) {
	part, file, ok := strings.Cut(a.Path, "/")
	num, isParquet := strings.CutSuffix(strings.TrimPrefix(file, "file_"), ".parquet")
	n, err := strconv.Atoi(num)
	if !ok || !strings.HasPrefix(part, "part_") || !strings.HasPrefix(file, "file_") || !isParquet || err != nil || n < 0 || n >= 300_000 {
		return 0, fmt.Errorf("add of an unknown path %q", a.Path)
	}
	if pv := a.PartitionValues["partition_col"]; pv == nil || *pv != part {
		return 0, fmt.Errorf("add %q: partition_col %v, want %q", a.Path, pv, part)
	}
	if want := int64(1234567890 + n); a.ModificationTime != want {
		return 0, fmt.Errorf("add %q: modificationTime %d, want %d", a.Path, a.ModificationTime, want)
	}
	return n, nil
}

// cancelPoints are the numbers of files after which TestCancelReplay300k cancels: 50 in the
// replay's first commit (version 4, files 0-99,989 of the replay, newest first), most in its
// first chunks and some in its last ones, when the reader has read the whole file and only
// decoding remains; without -short, also in the last commits (versions 2 and 1), where a
// replay that drops what was still being decoded would end without any error.
func cancelPoints(short bool) []int {
	points := []int{0, 1, 2, 511, 1022, 1023, 1024, 1025, 2047, 2048, 3071, 4096}
	r := rand.New(rand.NewPCG(300, 50))
	for len(points) < 40 {
		points = append(points, r.IntN(20_000))
	}
	points = append(points, 97_279, 98_303, 99_000, 99_327, 99_328, 99_500, 99_900, 99_988, 99_989, 99_990)
	if !short {
		points = append(points, 250_000, 299_000, 299_500, 299_988, 299_989, 299_990, 299_995)
	}
	return points
}

// TestCancelReplay300k cancels Snapshot.Files on the 300k-file table at varied points (see
// cancelPoints), from the consumer itself or from another goroutine while the consumer goes on.
// Every run must end with an error wrapping context.Canceled, unless it delivered the whole
// table; every file delivered must be a file of the table, once. Run under -race: decoding
// workers must not be touching a chunk of lines that the reader has taken back.
func TestCancelReplay300k(t *testing.T) {
	dir := table300k(t)
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := delta.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	const total = 300_000
	points := cancelPoints(testing.Short())
	canceled := 0
	for i, k := range points {
		fromOther := i%2 == 1
		t.Run(fmt.Sprintf("at=%d/other=%v", k, fromOther), func(t *testing.T) {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			seen := make([]bool, total)
			n := 0
			var last error
			for a, err := range snap.Files(rctx) {
				if last != nil {
					t.Fatalf("a value after the error %v", last)
				}
				if err != nil {
					last = err
					continue
				}
				f, cerr := check300kAdd(a)
				if cerr != nil {
					t.Fatal(cerr)
				}
				if seen[f] {
					t.Fatalf("file %d delivered twice", f)
				}
				seen[f] = true
				if n == k {
					if fromOther {
						go cancel()
					} else {
						cancel()
					}
				}
				n++
			}
			switch {
			case errors.Is(last, context.Canceled):
				canceled++
			case last != nil:
				t.Fatalf("replay cancelled after %d files: %v, want context.Canceled", k+1, last)
			case n != total:
				t.Fatalf("replay cancelled after %d files: %d files and no error (a short result)", k+1, n)
			}
		})
	}
	if canceled < len(points)/2 {
		t.Errorf("only %d of %d cancelled replays reported the cancellation", canceled, len(points))
	}
}
