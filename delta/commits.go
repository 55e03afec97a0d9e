package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
)

// Commit is one commit of the log as CommitsAfter yields it: its version, and its actions
// streamed from the commit file by Actions.
type Commit struct {
	Version int64

	key  string
	scan func(yield func(Action, error) bool) // reads the open commit file; nil once used
}

// Actions streams the commit's actions in file order. It reads the commit file that
// CommitsAfter opened, so it may be ranged over once, inside the loop body that received the
// commit; a second use yields an error. A line that does not decode is a *CorruptError naming
// the file, version and line; the stream ends after the first error.
func (c *Commit) Actions() iter.Seq2[Action, error] {
	return func(yield func(Action, error) bool) {
		scan := c.scan
		if scan == nil {
			yield(Action{}, fmt.Errorf("delta: actions of commit %d read twice, or after the loop that yielded it", c.Version))
			return
		}
		c.scan = nil
		scan(yield)
	}
}

// CommitsOption is an option of CommitsAfter.
type CommitsOption func(*commitsOptions)

type commitsOptions struct {
	through int64 // last version to read; -1 means until the first missing one
}

// ThroughVersion makes CommitsAfter stop after version w, and makes a commit missing up to w
// an error (a *CorruptError that matches ErrNotFound) rather than the end of the log.
func ThroughVersion(w int64) CommitsOption {
	return func(o *commitsOptions) { o.through = max(w, -1) }
}

// CommitsAfter returns the commits after version v in version order: v+1, v+2, and so on
// until the first version that has no commit (the end of the log, as the writers of the next
// version see it), or through ThroughVersion's w.
//
// It is how a reader of the log reacts to what was committed after the version it read: a
// transaction checking the commits that won its version, optimize dropping bins whose files a
// concurrent commit removed, an index kept current commit by commit. Each commit file is read
// with one GET as its actions are ranged over, so memory does not grow with the commit; the
// commits are not listed, so no listing cost or listing lag.
//
// An error (a failed read, a cancelled ctx, a commit missing before w) is yielded once, with a
// nil commit, and ends the sequence: a cancelled or failed iteration is never a short log.
func CommitsAfter(ctx context.Context, s Store, v int64, opts ...CommitsOption) iter.Seq2[*Commit, error] {
	o := commitsOptions{through: -1}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(*Commit, error) bool) {
		for w := v + 1; o.through < 0 || w <= o.through; w++ {
			if err := ctx.Err(); err != nil {
				yield(nil, fmt.Errorf("read commit %d: %w", w, err))
				return
			}
			c, r, err := openCommit(ctx, s, w)
			if errors.Is(err, ErrNotFound) {
				if o.through >= 0 {
					yield(nil, &CorruptError{Path: CommitKey(w), Version: w, Err: err})
				}
				return
			}
			if err != nil {
				yield(nil, fmt.Errorf("read commit %d: %w", w, err))
				return
			}
			if !yieldCommit(yield, c, r) {
				return
			}
		}
	}
}

// CommitsNewestFirst returns the commits of the log up to version through (every commit when
// through is negative), newest first, from one listing of the log: for a reader that looks
// back from the end and stops early, such as vacuum collecting the removes that expired since
// its last run. A commit removed since the listing (log clean-up runs beside it) is skipped.
// Each commit is read as CommitsAfter reads it, and errors end the sequence as there.
func CommitsNewestFirst(ctx context.Context, s Store, through int64) iter.Seq2[*Commit, error] {
	return func(yield func(*Commit, error) bool) {
		var versions []int64
		for o, err := range s.List(ctx, LogDir, "") {
			if err != nil {
				yield(nil, fmt.Errorf("list the log: %w", err))
				return
			}
			if f, ok := ParseLogKey(o.Key); ok && f.Kind == KindCommit && (through < 0 || f.Version <= through) {
				versions = append(versions, f.Version)
			}
		}
		slices.Sort(versions)
		for _, w := range slices.Backward(versions) {
			if err := ctx.Err(); err != nil {
				yield(nil, fmt.Errorf("read commit %d: %w", w, err))
				return
			}
			c, r, err := openCommit(ctx, s, w)
			if errors.Is(err, ErrNotFound) {
				continue // removed by log clean-up since the listing
			}
			if err != nil {
				yield(nil, fmt.Errorf("read commit %d: %w", w, err))
				return
			}
			if !yieldCommit(yield, c, r) {
				return
			}
		}
	}
}

// openCommit opens commit w for a Commit whose Actions stream it; r is closed by yieldCommit.
func openCommit(ctx context.Context, s Store, w int64) (*Commit, io.ReadCloser, error) {
	key := CommitKey(w)
	r, err := s.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return nil, nil, err
	}
	c := &Commit{Version: w, key: key}
	c.scan = func(yield func(Action, error) bool) {
		err := scanReader(ctx, r, key, w, func(line []byte, n int) error {
			a, err := ParseAction(line)
			if err != nil {
				return corrupt(key, w, "line %d: %v", n, err)
			}
			if !yield(a, nil) {
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			yield(Action{}, err)
		}
	}
	return c, r, nil
}

// yieldCommit hands c to the loop body and closes its file however the body ends, a panic
// included; closing a read loses nothing the body did not already see.
func yieldCommit(yield func(*Commit, error) bool, c *Commit, r io.Closer) bool {
	defer r.Close()
	defer func() { c.scan = nil }()
	return yield(c, nil)
}

// errStopScan ends a scan early when the consumer of a stream stops.
var errStopScan = errors.New("delta: stop scan")
