package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/cliflag"
	"github.com/deltaraster/deltaraster/internal/errwrap"
	"github.com/deltaraster/deltaraster/maintenance"
)

func newOptimizeCmd() *cobra.Command {
	var (
		target      byteSize
		clusterBy   string
		commitBins  int
		commitBytes byteSize
		dryRun      bool
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "optimize URL",
		Short: "Merge small files into files of a target size",
		Long: `Optimize merges the small data files of the table at URL into files of a target size
(--target-size, else the table's delta.targetFileSize, else 256 MiB): per partition, files
smaller than the target and without deletion vectors are packed into bins; each bin's rows are
streamed into new files (row group by row group, never a whole file in memory), keeping the
GeoParquet metadata, per-file statistics and source tags; the commit removes the old files and
adds the new ones with dataChange=false, so readers and streaming consumers see no data change.

--cluster-by quadbin (or any sortable column) writes each bin's rows in that column's order, so
files cover compact areas and readers that prune by file statistics skip more.

Optimize is safe beside live writers: appends never make it fail, and a concurrent delete of a
file in a bin drops that bin while the rest goes on. --commit-every-bins and
--commit-every-bytes commit progress in steps so an interrupted run keeps what it finished. The old files stay until vacuum deletes them.`,
		Example: `  # See what would be merged, then merge, clustering tiles by quadbin
  deltactl optimize ./tiles --dry-run
  deltactl optimize ./tiles --cluster-by quadbin

  # Merge a table given as a file:// URL into 128 MiB files, committing every 10 bins
  deltactl optimize file:///data/tiles --target-size 128MiB --commit-every-bins 10 --json

  # Optimize an S3 table
  deltactl optimize s3://bucket/tables/tiles --cluster-by quadbin`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if commitBins < 0 {
				return usageErrorf("invalid argument %d for --commit-every-bins: want 0 or more", commitBins)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			bar := newProgress(cmd.ErrOrStderr(), asJSON)
			defer bar.done()
			m, err := maintenance.Optimize(ctx, st, maintenance.OptimizeOptions{
				TargetSize: int64(target), ClusterBy: clusterBy, CommitEveryBins: commitBins,
				CommitEveryBytes: int64(commitBytes), DryRun: dryRun, Txn: txnOptions(),
				Progress: func(p maintenance.OptimizeProgress) {
					bar.update("optimize %s: bin %d/%d, %s read, %s written", args[0], p.BinsDone, p.BinsTotal,
						size(p.BytesRead), size(p.BytesWritten))
				},
			})
			bar.end(err)
			if err != nil {
				return errwrap.URL("optimize", args[0], err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					maintenance.OptimizeMetrics
					DryRun  bool    `json:"dryRun"`
					Seconds float64 `json:"seconds"`
				}{m, dryRun, m.Duration.Seconds()})
			}
			if dryRun {
				fmt.Fprintf(out, "would merge %s (%s) of %s into %s of at most %s; %s left alone\n",
					count(m.FilesPlanned, "file"), size(m.BytesPlanned), args[0], count(int64(m.BinsPlanned), "bin"), size(m.TargetSize),
					count(m.FilesLarge+m.FilesWithDV+m.FilesAlone, "file"))
				return nil
			}
			fmt.Fprintf(out, "optimized %s: %s (%s) removed, %s (%s) added in %s, %s %v, %s dropped; %s\n",
				args[0], count(m.FilesRemoved, "file"), size(m.BytesRemoved), count(m.FilesAdded, "file"), size(m.BytesAdded),
				count(int64(m.BinsCommitted), "bin"), count(int64(len(m.Versions)), "commit"), m.Versions, count(int64(m.BinsDropped), "bin"),
				m.Duration.Round(time.Millisecond))
			return nil
		}),
	}
	cmd.Flags().Var(&target, "target-size", "size of the files written (e.g. 256MiB; default: the table's delta.targetFileSize, else 256 MiB)")
	cmd.Flags().StringVar(&clusterBy, "cluster-by", "", "write each bin's rows in this column's order (e.g. quadbin)")
	cmd.Flags().IntVar(&commitBins, "commit-every-bins", 0, "commit after every N bins (0: once at the end)")
	cmd.Flags().Var(&commitBytes, "commit-every-bytes", "commit once this many input bytes are merged (e.g. 10GiB; default: once at the end)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "plan only: write and commit nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the metrics as JSON")
	cliflag.NoDefault(cmd.Flags(), "target-size", "commit-every-bytes") // 0 means unset: no "(default 0B)"
	return cmd
}

func newVacuumCmd() *cobra.Command {
	var (
		retention cliflag.Duration
		force     bool
		full      bool
		dryRun    bool
		parallel  int
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "vacuum URL",
		Short: "Delete data files no version within the retention needs",
		Long: `Vacuum deletes the data files of the table at URL that no version within the retention
needs: files removed from the table longer ago than the retention (--retention, default the
table's delta.deletedFileRetentionDuration, one week when unset). A retention shorter than the
table's is refused unless --force-retention: readers and writers still working on an older
version would lose files. A dry run may use any retention. Retentions are Go durations (168h,
90m) or days (7d, 1d12h).

Without --full (lite mode) only the log is read: files the log removed are deleted. --full also
lists the table and deletes unreferenced files older than the retention, such as those left by
writers that failed before committing and change data files (_change_data/); younger ones are
kept (a writer may be about to commit them). Vacuum never touches _delta_log, other paths
starting with _ or ., or anything outside the table root, whatever the log says; a listing
that fails or is cancelled deletes nothing.

It records VACUUM START and VACUUM END commits. --dry-run lists what would be deleted and
deletes and commits nothing.`,
		Example: `  # List what would go, then vacuum with the table's retention
  deltactl vacuum ./tiles --dry-run
  deltactl vacuum ./tiles

  # Full mode (orphans too) on a table given as a file:// URL, with JSON metrics
  deltactl vacuum file:///data/tiles --full --json

  # Keep 3 days on an S3 table whose retention is longer (explicit override)
  deltactl vacuum s3://bucket/tables/tiles --retention 3d --force-retention`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if parallel < 0 {
				return usageErrorf("invalid argument %d for --parallel: want 0 (the default) or more", parallel)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			mode := maintenance.VacuumLite
			if full {
				mode = maintenance.VacuumFull
			}
			opts := maintenance.VacuumOptions{ForceRetention: force, Mode: mode,
				DryRun: dryRun, Parallelism: parallel, Txn: txnOptions()}
			if cmd.Flags().Changed("retention") {
				r := time.Duration(retention)
				opts.Retention = &r // 0h is a retention, not "unset"
			}
			plan, err := maintenance.PlanVacuum(ctx, st, opts)
			if errors.Is(err, maintenance.ErrRetentionTooShort) {
				return retentionTooShort(ctx, st, args[0], time.Duration(retention), err)
			}
			if err != nil {
				return errwrap.URL("vacuum", args[0], err)
			}
			defer plan.Close()
			out := cmd.OutOrStdout()
			if dryRun && !asJSON {
				for f, err := range plan.Files() {
					if err != nil {
						return errwrap.URL("vacuum", args[0], err)
					}
					fmt.Fprintf(out, "would delete %s (%s)\n", f.Key, size(f.Size))
				}
			}
			m, err := plan.Execute(ctx)
			if err != nil {
				return errwrap.URL("vacuum", args[0], err)
			}
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					maintenance.VacuumMetrics
					Seconds float64 `json:"seconds"`
				}{m, m.Duration.Seconds()})
			}
			verb := "deleted"
			n, b := m.Deleted, m.DeletedBytes
			if dryRun {
				verb, n, b = "would delete", m.Candidates, m.CandidateBytes
			}
			fmt.Fprintf(out, "vacuum %s (%s mode, retention %s): %s %s (%s); %s, %s kept\n",
				args[0], m.Mode, cliflag.FormatDuration(m.Retention), verb, count(n, "file"), size(b), count(m.LiveFiles, "live file"),
				count(m.TombstonesKept, "recent tombstone"))
			return nil
		}),
	}
	cmd.Flags().Var(&retention, "retention", "keep files removed less than this long ago (e.g. 7d or 168h; 0 is zero, with --force-retention; default: the table's delta.deletedFileRetentionDuration)")
	cmd.Flags().BoolVar(&force, "force-retention", false, "allow a retention shorter than the table's (not needed with --dry-run)")
	cmd.Flags().BoolVar(&full, "full", false, "also list the table and delete unreferenced files older than the retention")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted; delete and commit nothing")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "deletes in flight at once (default 16)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the metrics as JSON")
	return cmd
}

// retentionTooShort is the message of a vacuum refused for its short retention: what the
// table keeps, and the two ways on (err, maintenance.ErrRetentionTooShort, says why).
func retentionTooShort(ctx context.Context, st delta.Store, url string, retention time.Duration, err error) error {
	table := "the table's delta.deletedFileRetentionDuration"
	if snap, serr := delta.Open(ctx, st); serr == nil {
		if d, perr := snap.Metadata().DeletedFileRetention(); perr == nil {
			table = "the table's " + cliflag.FormatDuration(d) + " (delta.deletedFileRetentionDuration)"
		}
	}
	return &exitError{code: exitFailure, err: fmt.Errorf(
		"vacuum %s: --retention %s is shorter than %s: readers of older versions could lose files; "+
			"pass --force-retention to vacuum anyway, or --dry-run to list what it would delete%w",
		url, cliflag.FormatDuration(retention), table, quiet{err})}
}

// quiet wraps an error for errors.Is and errors.As without adding to the message.
type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }
