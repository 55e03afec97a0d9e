package maintenance

import (
	"context"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// latestCommit lists the log after version after and returns the newest commit version it
// finds, or after when there is none. A failed listing is an error.
func latestCommit(ctx context.Context, s delta.Store, after int64) (int64, error) {
	latest := after
	for o, err := range s.List(ctx, delta.LogDir, delta.CommitKey(after)) {
		if err != nil {
			return -1, errwrap.URL("list the log of", s.URL(), err)
		}
		if f, ok := delta.ParseLogKey(o.Key); ok && f.Kind == delta.KindCommit && f.Version > latest {
			latest = f.Version
		}
	}
	return latest, nil
}
