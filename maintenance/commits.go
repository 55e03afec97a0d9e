package maintenance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/deltaraster/deltaraster/delta"
)

// readCommit streams the actions of commit v, one line at a time.
func readCommit(ctx context.Context, s delta.Store, v int64, fn func(delta.Action) error) error {
	key := delta.CommitKey(v)
	rc, err := s.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("read commit %d: %w", v, err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var frag []byte
			frag, err = r.ReadSlice('\n')
			line = append(line, frag...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read commit %d: %w", v, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			a, perr := delta.ParseAction(t)
			if perr != nil {
				return &delta.CorruptError{Path: key, Version: v, Err: fmt.Errorf("line %d: %w", n, perr)}
			}
			if ferr := fn(a); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("read commit %d: %w", v, cerr)
		}
	}
}

// latestCommit lists the log after version after and returns the newest commit version it
// finds, or after when there is none. A failed listing is an error.
func latestCommit(ctx context.Context, s delta.Store, after int64) (int64, error) {
	latest := after
	for o, err := range s.List(ctx, delta.LogDir, delta.CommitKey(after)) {
		if err != nil {
			return -1, fmt.Errorf("list the log of %s: %w", s.URL(), err)
		}
		if f, ok := delta.ParseLogKey(o.Key); ok && f.Kind == delta.KindCommit && f.Version > latest {
			latest = f.Version
		}
	}
	return latest, nil
}
