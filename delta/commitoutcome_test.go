package delta_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// lossyStore wraps a real store and loses the answers of commit puts, as a network that drops a
// response after the request was sent: the put lands, the caller sees an error. Only the
// response is fake; the objects live in the real local store underneath.
type lossyStore struct {
	delta.Store
	mu sync.Mutex
	// plan lists, for the commit puts in order, what happens to each: "" passes through,
	// "drop" lands and answers with a reset connection, "fail" does not land and answers so,
	// "again" lands and answers "already exists" (a client that retried a lost answer).
	plan []string
	// failReads makes every read of a commit fail (the read-back cannot tell).
	failReads bool
	puts      int
}

var errReset = errors.New("read tcp 127.0.0.1:9000: connection reset by peer")

func (s *lossyStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if !strings.HasSuffix(key, ".json") {
		return s.Store.PutIfAbsent(ctx, key, data)
	}
	s.mu.Lock()
	step := ""
	if s.puts < len(s.plan) {
		step = s.plan[s.puts]
	}
	s.puts++
	s.mu.Unlock()
	switch step {
	case "fail":
		return fmt.Errorf("put-if-absent %s: %w", key, errReset)
	case "drop":
		if err := s.Store.PutIfAbsent(ctx, key, data); err != nil {
			return err
		}
		return fmt.Errorf("put-if-absent %s: %w", key, errReset)
	case "again":
		if err := s.Store.PutIfAbsent(ctx, key, data); err != nil {
			return err
		}
		return s.Store.PutIfAbsent(ctx, key, data) // the client's retry loses to the first try
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

func (s *lossyStore) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	fail := s.failReads && strings.HasSuffix(key, ".json")
	s.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("read %s: %w", key, errReset)
	}
	return s.Store.ReadRange(ctx, key, off, n)
}

// TestCommitOutcomeUnknown: a commit put that fails with anything but "already exists" is read
// back before anything else is tried. Before the read-back, a dropped answer was reported as a
// failure (the caller retried and the data landed twice) and an "already exists" from a
// client's own retry made the commit try the next version and land twice.
func TestCommitOutcomeUnknown(t *testing.T) {
	cases := []struct {
		name      string
		plan      []string
		failReads bool
		wantErr   error // nil: committed exactly once, at version 1
	}{
		{name: "answer dropped", plan: []string{"drop"}},
		{name: "put failed, retried at the same version", plan: []string{"fail"}},
		{name: "put failed twice", plan: []string{"fail", "fail"}},
		{name: "client retry lost to its own first try", plan: []string{"again"}},
		{name: "put failed every time", plan: []string{"fail", "fail", "fail", "fail"}, wantErr: delta.ErrCommitUnknown},
		{name: "answer dropped, read-back fails", plan: []string{"drop"}, failReads: true, wantErr: delta.ErrCommitUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			base, dir := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
			s := &lossyStore{Store: base}
			tx, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tx.Add(txAdd("a.parquet"))
			tx.SetAppTransaction("app", 1)
			s.mu.Lock()
			s.plan, s.failReads = tc.plan, tc.failReads
			s.mu.Unlock()
			v, err := tx.Commit(ctx, "WRITE", nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Commit = %d, %v; want an error matching %v", v, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "version 1") {
					t.Errorf("error %q does not name the version", err)
				}
				return
			}
			if err != nil || v != 1 {
				t.Fatalf("Commit = %d, %v; want version 1", v, err)
			}
			files, latest := txLiveFiles(t, base)
			if latest != 1 {
				t.Errorf("latest version %d, want 1 (the commit landed more than once?)", latest)
			}
			txSamePaths(t, files, "a.parquet")
			if got := len(txLogFiles(t, dir)); got != 2 {
				t.Errorf("%d commit files, want 2", got)
			}
		})
	}
}

// TestCreateOutcomeUnknown: a create whose answer is lost is still a created table, not
// ErrTableExists.
func TestCreateOutcomeUnknown(t *testing.T) {
	for _, step := range []string{"drop", "again", "fail"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "table")
			s := &lossyStore{Store: txOpenStore(t, dir), plan: []string{step}}
			snap, err := delta.CreateTable(ctx, s, delta.TableSpec{Schema: txSchema}, delta.TxnOptions{})
			if err != nil || snap.Version() != 0 {
				t.Fatalf("CreateTable = %v; want version 0", err)
			}
		})
	}
}

// txLogFiles lists the commit files of a local table.
func txLogFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "_delta_log", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReadPredicateConflict: a transaction that read "no live file matches P" conflicts with a
// concurrent commit that added a matching data file, and with nothing else (a non-matching add,
// a matching add with dataChange=false, or a blind append).
func TestReadPredicateConflict(t *testing.T) {
	holdsS := func(a *delta.Add) bool { return a.Tags["source"] == "S" }
	cases := []struct {
		name     string
		winner   *delta.Add
		conflict bool
	}{
		{name: "matching add", winner: &delta.Add{Path: "w.parquet", DataChange: true, Tags: map[string]string{"source": "S"}}, conflict: true},
		{name: "other add", winner: &delta.Add{Path: "w.parquet", DataChange: true, Tags: map[string]string{"source": "T"}}},
		{name: "matching rewrite", winner: &delta.Add{Path: "w.parquet", DataChange: false, Tags: map[string]string{"source": "S"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := txNewTable(t, delta.TableSpec{}, delta.TxnOptions{})
			loser, err := delta.Begin(ctx, s, delta.TxnOptions{})
			if err != nil {
				t.Fatal(err)
			}
			loser.MarkReadWhere("no live file holds S", holdsS)
			a := txAdd("mine.parquet")
			a.Tags = map[string]string{"source": "S"}
			loser.Add(a)
			if loser.IsBlindAppend() {
				t.Error("a transaction with a read predicate is not a blind append")
			}
			w := *tc.winner
			w.PartitionValues, w.Size, w.ModificationTime = delta.PartitionValues{}, 10, 1
			txCommit(t, s, "WRITE", func(tx *delta.Txn) { tx.Add(&w) })
			v, err := loser.Commit(ctx, "WRITE", nil)
			if tc.conflict {
				if !errors.Is(err, delta.ErrConflict) || !strings.Contains(err.Error(), "w.parquet") {
					t.Fatalf("Commit = %d, %v; want ErrConflict naming w.parquet", v, err)
				}
				return
			}
			if err != nil || v != 2 {
				t.Fatalf("Commit = %d, %v; want version 2", v, err)
			}
		})
	}
}
