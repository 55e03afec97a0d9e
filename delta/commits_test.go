package delta_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"slices"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// commitsTable makes a table at version n: version 0 creates it, version v adds part-v.
func commitsTable(t *testing.T, n int) delta.Store {
	t.Helper()
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, filepath.Join(t.TempDir(), "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	schema := delta.StructType{Fields: []delta.StructField{delta.NewField("source", "string")}}
	if _, err := delta.CreateTable(ctx, st, delta.TableSpec{Schema: schema}, delta.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= n; v++ {
		txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		txn.Add(&delta.Add{Path: fmt.Sprintf("part-%d.parquet", v), Size: int64(v), DataChange: true})
		if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// collect ranges over the commits, reading every action, and returns "v:path" for each add and
// "v:op" for each commitInfo, and the error that ended the sequence.
func collect(seq func(yield func(*delta.Commit, error) bool)) ([]string, error) {
	var out []string
	for c, err := range seq {
		if err != nil {
			return out, err
		}
		for a, err := range c.Actions() {
			if err != nil {
				return out, err
			}
			switch {
			case a.Add != nil:
				out = append(out, fmt.Sprintf("%d:%s", c.Version, a.Add.Path))
			case a.CommitInfo != nil:
				op, _ := a.CommitInfo.String("operation")
				out = append(out, fmt.Sprintf("%d:%s", c.Version, op))
			}
		}
	}
	return out, nil
}

func TestCommitsAfter(t *testing.T) {
	ctx := context.Background()
	st := commitsTable(t, 3)
	for _, c := range []struct {
		name    string
		after   int64
		opts    []delta.CommitsOption
		want    []string
		missing bool // ends with a missing-commit error
	}{
		{"to the end", 0, nil, []string{"1:WRITE", "1:part-1.parquet", "2:WRITE", "2:part-2.parquet", "3:WRITE", "3:part-3.parquet"}, false},
		{"from the start", -1, nil, []string{"0:CREATE TABLE", "1:WRITE", "1:part-1.parquet", "2:WRITE", "2:part-2.parquet", "3:WRITE", "3:part-3.parquet"}, false},
		{"after the last", 3, nil, nil, false},
		{"through", 0, []delta.CommitsOption{delta.ThroughVersion(2)}, []string{"1:WRITE", "1:part-1.parquet", "2:WRITE", "2:part-2.parquet"}, false},
		{"through the read version", 3, []delta.CommitsOption{delta.ThroughVersion(3)}, nil, false},
		{"through a missing version", 1, []delta.CommitsOption{delta.ThroughVersion(5)}, []string{"2:WRITE", "2:part-2.parquet", "3:WRITE", "3:part-3.parquet"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := collect(delta.CommitsAfter(ctx, st, c.after, c.opts...))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			var ce *delta.CorruptError
			switch {
			case c.missing && !(errors.Is(err, delta.ErrNotFound) && errors.As(err, &ce) && ce.Version == 4):
				t.Errorf("error %v, want a *CorruptError of version 4 matching ErrNotFound", err)
			case !c.missing && err != nil:
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestCommitsAfterReads: one GET per commit read and one for the missing version that ends the
// log; breaking out reads no further; a commit whose actions are not ranged over is skipped.
func TestCommitsAfterReads(t *testing.T) {
	ctx := context.Background()
	fs := testutil.NewFaultStore(commitsTable(t, 3))
	var versions []int64
	for c, err := range delta.CommitsAfter(ctx, fs, 0) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, c.Version)
	}
	if !slices.Equal(versions, []int64{1, 2, 3}) || fs.Count(testutil.OpReadRange) != 4 || fs.Count(testutil.OpList) != 0 {
		t.Fatalf("versions %v with %d reads and %d listings, want 1 2 3 with 4 reads and none",
			versions, fs.Count(testutil.OpReadRange), fs.Count(testutil.OpList))
	}
	fs.Reset()
	for c, err := range delta.CommitsAfter(ctx, fs, 0) {
		if err != nil {
			t.Fatal(err)
		}
		for range c.Actions() {
			break
		}
		break
	}
	if n := fs.Count(testutil.OpReadRange); n != 1 {
		t.Fatalf("%d reads after breaking out at the first commit, want 1", n)
	}
}

// TestCommitsNewestFirst: one listing, then the commits newest first up to the version asked
// for; a commit that vanished after the listing (log clean-up) is skipped, not an error;
// breaking out reads no further.
func TestCommitsNewestFirst(t *testing.T) {
	ctx := context.Background()
	st := commitsTable(t, 4)
	got, err := collect(delta.CommitsNewestFirst(ctx, st, 3))
	want := []string{"3:WRITE", "3:part-3.parquet", "2:WRITE", "2:part-2.parquet", "1:WRITE", "1:part-1.parquet", "0:CREATE TABLE"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("through 3: %q, %v; want %q", got, err, want)
	}
	fs := testutil.NewFaultStore(st)
	var versions []int64
	for c, err := range delta.CommitsNewestFirst(ctx, fs, -1) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, c.Version)
		if c.Version == 4 {
			// Clean-up removes version 1 while the reader is at version 4.
			if err := st.Delete(ctx, delta.CommitKey(1)); err != nil {
				t.Fatal(err)
			}
		}
		if c.Version == 0 {
			break
		}
	}
	if !slices.Equal(versions, []int64{4, 3, 2, 0}) || fs.Count(testutil.OpList) != 1 || fs.Count(testutil.OpReadRange) != 5 {
		t.Errorf("versions %v with %d listings and %d reads, want 4 3 2 0 with 1 listing and 5 reads (1 found gone)",
			versions, fs.Count(testutil.OpList), fs.Count(testutil.OpReadRange))
	}
}

func TestCommitsAfterErrors(t *testing.T) {
	ctx := context.Background()
	st := commitsTable(t, 3)

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := 0
		var err error
		for c, e := range delta.CommitsAfter(cctx, st, 0) {
			if e != nil {
				err = e
				break
			}
			n++
			if c.Version == 1 {
				cancel()
			}
		}
		if n != 1 || !errors.Is(err, context.Canceled) {
			t.Fatalf("%d commits then %v, want 1 then context.Canceled", n, err)
		}
	})
	t.Run("read fails", func(t *testing.T) {
		fs := testutil.NewFaultStore(st)
		fs.FailAt(1, false) // the read of version 2
		got, err := collect(delta.CommitsAfter(ctx, fs, 0))
		if !errors.Is(err, testutil.ErrInjected) || len(got) != 2 {
			t.Fatalf("got %q, %v; want version 1's actions then the injected error", got, err)
		}
	})
	t.Run("corrupt line", func(t *testing.T) {
		if err := st.Put(ctx, delta.CommitKey(4), []byte("{\"commitInfo\":{}}\n{\"add\":\n")); err != nil {
			t.Fatal(err)
		}
		got, err := collect(delta.CommitsAfter(ctx, st, 3))
		var ce *delta.CorruptError
		if !errors.As(err, &ce) || ce.Version != 4 || len(got) != 1 {
			t.Fatalf("got %q, %v; want the commitInfo of 4, then a *CorruptError of version 4", got, err)
		}
	})
	t.Run("actions twice", func(t *testing.T) {
		for c, err := range delta.CommitsAfter(ctx, st, 0, delta.ThroughVersion(1)) {
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range c.Actions() {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, err := range c.Actions() {
				if err == nil {
					t.Fatal("second read of the actions yielded an action, want an error")
				}
			}
		}
	})
}

// CommitsAfter follows the log from a version read earlier: here, what was added since.
func ExampleCommitsAfter() {
	ctx := context.Background()
	st, remove := newExampleTable(ctx)
	defer remove()
	read := int64(0) // the version a reader last saw
	for _, name := range []string{"a", "b"} {
		txn, err := delta.Begin(ctx, st, delta.TxnOptions{})
		if err != nil {
			log.Fatal(err)
		}
		zero := "0"
		txn.Add(&delta.Add{Path: "level=0/" + name + ".parquet", Size: 10, DataChange: true,
			PartitionValues: delta.PartitionValues{"level": &zero}})
		if _, err := txn.Commit(ctx, "WRITE", nil); err != nil {
			log.Fatal(err)
		}
	}

	for c, err := range delta.CommitsAfter(ctx, st, read) {
		if err != nil {
			log.Fatal(err)
		}
		for a, err := range c.Actions() {
			if err != nil {
				log.Fatal(err)
			}
			if a.Add != nil {
				fmt.Println("version", c.Version, "added", a.Add.Path)
			}
		}
		read = c.Version
	}
	fmt.Println("now at version", read)
	// Output:
	// version 1 added level=0/a.parquet
	// version 2 added level=0/b.parquet
	// now at version 2
}
