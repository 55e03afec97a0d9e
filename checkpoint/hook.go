package checkpoint

import (
	"context"
	"fmt"
	"slices"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// HookOptions configure the work done after each commit.
type HookOptions struct {
	Checkpoint Options
	// DisableAuto turns automatic checkpoints off; .crc files are still written.
	DisableAuto bool
	// Interval overrides the table's delta.checkpointInterval for this writer (0: the table's,
	// default 100).
	Interval int64
}

// PostCommit returns the hook for delta.TxnOptions.PostCommit: it writes the version's .crc
// incrementally, then checkpoints when version % interval == 0.
func PostCommit(o HookOptions) func(context.Context, delta.Committed) error {
	return func(ctx context.Context, c delta.Committed) error {
		if err := WriteIncrementalCRC(ctx, c); err != nil {
			return err
		}
		if !Due(o, c) {
			return nil
		}
		if _, err := Write(ctx, c.Store, c.Version, o.Checkpoint); err != nil {
			return fmt.Errorf("auto-checkpoint: %w", err)
		}
		return nil
	}
}

// Due says whether the post-commit hook with options o checkpoints after commit c: auto
// checkpoints on, and c's version a multiple of the interval (o.Interval, else the table's
// delta.checkpointInterval as of c).
func Due(o HookOptions, c delta.Committed) bool {
	if o.DisableAuto || c.Version == 0 {
		return false
	}
	interval := o.Interval
	if interval <= 0 {
		interval = intervalOf(c)
	}
	return c.Version%interval == 0
}

// intervalOf is delta.checkpointInterval as of the commit (a metadata change in it counts).
func intervalOf(c delta.Committed) int64 {
	m := c.Read.Metadata()
	for _, a := range c.Actions {
		if a.Metadata != nil {
			m = *a.Metadata
		}
	}
	return m.CheckpointInterval()
}

// EnableV2 upgrades a table to V2 checkpoints: protocol reader 3 / writer 7 with the
// v2Checkpoint feature (and the features the old versions implied), and
// delta.checkpointPolicy=v2. It returns the committed version; a table that already has the
// feature is left alone (version -1).
func EnableV2(ctx context.Context, s delta.Store, opts delta.TxnOptions) (int64, error) {
	t, err := delta.Begin(ctx, s, opts)
	if err != nil {
		return -1, err
	}
	snap := t.Snapshot()
	p, m := snap.Protocol(), snap.Metadata()
	if hasV2Feature(p) {
		return -1, nil
	}
	reader := append([]string{}, delta.ReaderFeaturesOf(p, m)...)
	writer := append([]string{}, delta.WriterFeaturesOf(p)...)
	for _, f := range []*[]string{&reader, &writer} {
		if !slices.Contains(*f, "v2Checkpoint") {
			*f = append(*f, "v2Checkpoint")
		}
	}
	t.SetProtocol(delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: reader, WriterFeatures: writer})
	conf := map[string]string{}
	for k, v := range m.Configuration {
		conf[k] = v
	}
	conf["delta.checkpointPolicy"] = "v2"
	m.Configuration = conf
	t.SetMetadata(m)
	v, err := t.Commit(ctx, "UPGRADE PROTOCOL", map[string]any{"newProtocol": "v2Checkpoint"})
	if err != nil {
		return -1, errwrap.URL("enable v2 checkpoints on", s.URL(), err)
	}
	return v, nil
}
