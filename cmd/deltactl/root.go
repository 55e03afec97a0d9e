package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run executes deltactl with args (without the program name) and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var se *delta.StoreError
	if errors.As(err, &se) {
		fmt.Fprintf(stderr, "deltactl: %s\n", storeErrorLine(err, se))
		return exitFailure
	}
	fmt.Fprintf(stderr, "deltactl: %v\n", err)
	code := exitStatus(err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// storeErrorLine is what deltactl prints for err, which holds se: a store that cannot be used
// as configured. se's one line names the URL and what to set, and the context the commands
// add would only bury it; unless that context says something was committed, or may have been.
func storeErrorLine(err error, se *delta.StoreError) string {
	if full := err.Error(); errors.Is(err, delta.ErrCommitUnknown) || strings.Contains(full, "committ") {
		return strings.ReplaceAll(full, "\n", "; ")
	}
	return se.Error()
}

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a bad invocation found by a command itself (exit status 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitStatus maps an error from Execute to an exit status. Errors that did not come out of a
// command body (see runE) are cobra's: an unknown command or flag, a bad argument count or flag
// value, conflicting flags. Those are usage errors.
func exitStatus(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitUsage
}

// runE adapts a command body: the errors it returns are failures (exit status 1) unless they
// are usage errors already.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var e *exitError
		if err == nil || errors.As(err, &e) {
			return err
		}
		return &exitError{code: exitFailure, err: err}
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "deltactl",
		Short: "Inspect and manage Delta Lake tables",
		Long: `deltactl inspects and manages Delta Lake tables kept by deltaraster, or written by any
other Delta engine (Spark, delta-rs, DuckDB, Trino). ingest cuts rasters into the tiles of a
raster table, and export writes them back out as a GeoTIFF or COG.

A table is a URL: a plain local path, or a file://, s3://, gs://, azblob:// or mem:// URL.
Cloud credentials come from the usual environment of each provider (AWS_*, GOOGLE_*,
AZURE_*). Every request to an object store has a time limit (--timeout, retries included);
requests answered 5xx or throttled are retried with backoff. A missing bucket, refused
credentials, a missing AWS region or an unreachable endpoint are reported in one line that
says what to set. Buckets must exist (create and ingest take --create-bucket). How to point
at an endpoint (AWS_ENDPOINT_URL, ?endpoint=...&use_path_style=true, STORAGE_EMULATOR_HOST,
AZURE_STORAGE_DOMAIN) and a worked example per store: README.md, "Tables and sources in
object stores".

Every command that reads a table takes --json for machines: the fields of that output are a
stable contract. Exit status: 0 success, 1 failure (message on stderr), 2 usage error.`,
		Example: `  # Create a table partitioned by day, then look at it
  deltactl create ./tiles --schema "source:string,level:integer,day:date" --partition-by day
  deltactl info ./tiles

  # The same table through a URL, and one in S3
  deltactl files file:///data/tiles --json
  deltactl history s3://bucket/tables/tiles --limit 10`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("missing command (one of create, info, files, history, checkpoint, cleanup-metadata, ingest, export, optimize, vacuum)")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	var timeout time.Duration
	root.PersistentFlags().DurationVar(&timeout, "timeout", delta.DefaultRequestTimeout,
		"time limit of each request to an object store (s3, gs, azblob), its retries included; 0 for none")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if timeout < 0 {
			return usageErrorf("invalid argument %s for --timeout: want 0 (no limit) or more", timeout)
		}
		cmd.SetContext(context.WithValue(cmd.Context(), storeOptionsKey{}, []delta.StoreOption{delta.WithRequestTimeout(timeout)}))
		if len(args) > 0 && strings.HasPrefix(args[0], "mem://") {
			fmt.Fprintf(cmd.ErrOrStderr(), "deltactl: warning: %s is a table in this process's memory: it vanishes when deltactl exits\n", args[0])
		}
		return nil
	}
	root.AddCommand(newCreateCmd(), newInfoCmd(), newFilesCmd(), newHistoryCmd(), newCheckpointCmd(), newCleanupCmd(),
		newIngestCmd(), newExportCmd(), newOptimizeCmd(), newVacuumCmd())
	return root
}

// tableArg checks that a command got exactly one table URL.
func tableArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s takes one table URL, got %d arguments", cmd.Name(), len(args))
	}
	if args[0] == "" {
		return fmt.Errorf("%s: empty table URL", cmd.Name())
	}
	return nil
}

// txnOptions are the settings of every commit the CLI makes: after each, the version's .crc,
// and a checkpoint every delta.checkpointInterval versions.
func txnOptions() delta.TxnOptions {
	return delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{})}
}

// storeOptionsKey keys the options of every store a command opens in its context (set from
// the root's flags before the command runs).
type storeOptionsKey struct{}

func storeOptions(ctx context.Context) []delta.StoreOption {
	opts, _ := ctx.Value(storeOptionsKey{}).([]delta.StoreOption)
	return opts
}

// openStore opens the store of a table URL.
func openStore(ctx context.Context, url string) (delta.Store, error) {
	s, err := delta.OpenStore(ctx, url, storeOptions(ctx)...)
	if err != nil {
		return nil, errwrap.URL("open table", url, err)
	}
	return s, nil
}

// createBucketFlag registers --create-bucket on a command that writes a table.
func createBucketFlag(cmd *cobra.Command, create *bool) {
	cmd.Flags().BoolVar(create, "create-bucket", false,
		"create the table's bucket (S3 bucket, GCS bucket in GOOGLE_CLOUD_PROJECT, Azure container) when it does not exist")
}

// prepareBucket creates the bucket of a table URL when asked to.
func prepareBucket(ctx context.Context, url string, create bool) error {
	if !create {
		return nil
	}
	return delta.CreateBucket(ctx, url, storeOptions(ctx)...)
}

// bucketHint adds --create-bucket to what a missing bucket of the table at url tells to do.
func bucketHint(err error, url string) error {
	var se *delta.StoreError
	if errors.As(err, &se) && errors.Is(se.Kind, delta.ErrNoBucket) && se.URL == url {
		se.Hint = "create it or pass --create-bucket"
	}
	return err
}

// timeFlag is a --timestamp value: RFC 3339, or a date meaning midnight UTC.
type timeFlag struct {
	t   time.Time
	set bool
}

func (f *timeFlag) String() string {
	if !f.set {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(s string) error {
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	f.t, f.set = t, true
	return nil
}

func (f *timeFlag) Type() string { return "time" }

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil // midnight UTC
	}
	return time.Time{}, errors.New("want RFC 3339 (2024-05-01T12:00:00Z) or a date (2024-05-01)")
}

// snapshotFlags select the version a read command looks at.
type snapshotFlags struct {
	version   int64
	timestamp timeFlag
}

func (f *snapshotFlags) register(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&f.version, "version", 0, "read the table as of this version")
	cmd.Flags().Var(&f.timestamp, "timestamp",
		"read the table as of the newest commit at or before this time (RFC 3339, or YYYY-MM-DD for midnight UTC)")
}

// validate checks the flag values that cobra cannot.
func (f *snapshotFlags) validate(flags *pflag.FlagSet) error {
	if flags.Changed("version") && f.timestamp.set {
		return usageErrorf("--version and --timestamp select a snapshot each: give one of them")
	}
	if flags.Changed("version") && f.version < 0 {
		return usageErrorf("invalid argument %d for --version: versions start at 0", f.version)
	}
	return nil
}

// open reads the snapshot the flags select. The error names the URL and the version or time.
func (f *snapshotFlags) open(ctx context.Context, s delta.Store, flags *pflag.FlagSet) (*delta.Snapshot, error) {
	url := s.URL()
	switch {
	case flags.Changed("version"):
		snap, err := delta.Open(ctx, s, delta.AtVersion(f.version))
		if err != nil {
			return nil, fmt.Errorf("read table %s at version %d: %w", url, f.version, err)
		}
		return snap, nil
	case f.timestamp.set:
		snap, err := delta.Open(ctx, s, delta.AtTimestamp(f.timestamp.t))
		if err != nil {
			return nil, fmt.Errorf("read table %s at %s: %w", url, f.timestamp.t.UTC().Format(time.RFC3339Nano), err)
		}
		return snap, nil
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		return nil, errwrap.URL("read table", url, err)
	}
	return snap, nil
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
