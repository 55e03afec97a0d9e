package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/internal/cliflag"
)

func newCheckpointCmd() *cobra.Command {
	var (
		version   int64
		v2        bool
		batchRows int
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "checkpoint URL",
		Short: "Write a checkpoint of a table",
		Long: `Checkpoint writes a checkpoint of the table at URL (its latest version, or --version),
then points _last_checkpoint at it and writes the version's .crc if it is missing.

The writer streams: the previous checkpoint is read in record batches and the commits after it
are reconciled in memory, so memory depends on the batch size, not on the number of files.
Tombstones older than delta.deletedFileRetentionDuration (default 1 week) and app
transactions older than delta.setTransactionRetentionDuration (when set) are dropped.

The format is classic (one Parquet file) unless the table has the v2Checkpoint feature, which
writes a V2 checkpoint (a UUID-named file plus Parquet sidecars). --v2 first enables that
feature on the table (protocol reader 3 / writer 7, delta.checkpointPolicy=v2): readers that
do not support V2 checkpoints can no longer read the table afterwards.

A crash at any point leaves a table every reader opens: files are published whole, and
_last_checkpoint last.

While it writes, the Go runtime's soft memory limit is set from the writer's working set (the
memory in use when it starts plus about 56 MiB with the default batch), so the collector does
not let garbage pile up to twice the live heap; the limit is raised if the rows turn out
larger. GOMEMLIMIT, when set, is used instead.`,
		Example: `  # Checkpoint a local table at its latest version
  deltactl checkpoint ./tiles

  # Checkpoint version 200 of a table given as a file:// URL, with a JSON summary
  deltactl checkpoint file:///data/tiles --version 200 --json

  # Move an S3 table to V2 checkpoints and write one
  deltactl checkpoint s3://bucket/tables/tiles --v2`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if version < -1 {
				return usageErrorf("invalid argument %d for --version: want a version (0 or more)", version)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if v2 {
				if _, err := checkpoint.EnableV2(ctx, st, txnOptions()); err != nil {
					return err
				}
			}
			bar := newProgress(cmd.ErrOrStderr(), asJSON)
			defer bar.done()
			res, err := checkpoint.Write(ctx, st, version, checkpoint.Options{
				BatchRows:       batchRows,
				Progress:        func(n int64) { bar.update("checkpoint %s: %d file actions written", args[0], n) },
				SoftMemoryLimit: true,
			})
			bar.end(err)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					checkpoint.Result
					Seconds float64 `json:"seconds"`
				}{res, res.Duration.Seconds()})
			}
			fmt.Fprintf(out, "checkpoint of %s at version %d (%s): %s, %s, %s in %s, %s\n",
				args[0], res.Version, res.Format, count(res.NumAddFiles, "file"), count(res.NumTombstones, "tombstone"), size(res.SizeInBytes),
				count(int64(len(res.Keys)), "file"), res.Duration.Round(time.Millisecond))
			return nil
		}),
	}
	cmd.Flags().Int64Var(&version, "version", -1, "checkpoint this version instead of the latest")
	cmd.Flags().BoolVar(&v2, "v2", false, "enable V2 checkpoints on the table first (irreversible protocol upgrade)")
	cmd.Flags().IntVar(&batchRows, "batch-rows", 0, "rows read and written at once (default 4096; memory grows with it)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON summary")
	return cmd
}

func newCleanupCmd() *cobra.Command {
	var (
		dryRun    bool
		retention cliflag.Duration
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "cleanup-metadata URL",
		Short: "Delete log files older than the log retention",
		Long: `Cleanup-metadata deletes _delta_log files that no reader needs any more, as the Delta
protocol's metadata cleanup: the cutoff is now minus delta.logRetentionDuration (default 30
days), truncated to midnight UTC. The newest checkpoint at or before the last commit before
the cutoff is kept, with every commit after it; older commits, checkpoints, .crc and
compacted files are deleted, and V2 sidecars no remaining checkpoint references once they
are a day old.

Time travel keeps working to every version from the kept checkpoint on; older versions are no
longer readable. Nothing is deleted when no checkpoint is old enough. Data files are never
touched (that is vacuum's job).`,
		Example: `  # See what would be deleted
  deltactl cleanup-metadata ./tiles --dry-run

  # Clean up a table given as a file:// URL, keeping 7 days of log, with a JSON summary
  deltactl cleanup-metadata file:///data/tiles --retention 7d --json

  # Clean up an S3 table with its own delta.logRetentionDuration
  deltactl cleanup-metadata s3://bucket/tables/tiles`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			bar := newProgress(cmd.ErrOrStderr(), asJSON)
			defer bar.done()
			res, err := checkpoint.CleanupMetadata(ctx, st, checkpoint.CleanupOptions{
				DryRun: dryRun, Retention: time.Duration(retention),
				Progress: func(done, total int) { bar.update("cleanup %s: %d/%d files", args[0], done, total) },
			})
			bar.end(err)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if res.Deleted == nil {
					res.Deleted = []string{}
				}
				return json.NewEncoder(out).Encode(res)
			}
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			if res.KeptCheckpoint < 0 {
				fmt.Fprintf(out, "nothing to clean up in %s: no checkpoint before the cutoff %s\n", args[0], res.Cutoff.Format(time.RFC3339))
				return nil
			}
			for _, k := range res.Deleted {
				fmt.Fprintf(out, "%s %s\n", verb, k)
			}
			fmt.Fprintf(out, "%s %s of %s older than %s; oldest readable version is now %d\n",
				verb, count(int64(len(res.Deleted)), "log file"), args[0], res.Cutoff.Format(time.RFC3339), res.KeptCheckpoint)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted; delete nothing")
	cmd.Flags().Var(&retention, "retention", "keep this much log (e.g. 30d or 720h), instead of the table's delta.logRetentionDuration")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON summary")
	return cmd
}
