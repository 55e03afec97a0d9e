package maintenance

import (
	"context"
	"fmt"

	"github.com/deltaraster/deltaraster/delta"
)

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
