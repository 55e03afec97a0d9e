package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/delta"
)

func newFilesCmd() *cobra.Command {
	var (
		sf     snapshotFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "files URL",
		Short: "List the live data files of a table",
		Long: `Files lists the live data files of one snapshot of the table at URL (the latest, or the
one --version or --timestamp selects): every file added and not removed since. The list is
streamed as the log is replayed, so memory does not grow with the table; the order is the
replay's, not sorted.

Paths are printed exactly as the log holds them: relative to the table root and URI-encoded
(a space is %20), or absolute URIs.

Without --json: size in bytes, modification time (UTC) and path, one file a line. With
--json: one object per line (JSON Lines), the file's add action: path, size,
modificationTime (ms since the epoch), partitionValues (an object; a null partition value
is JSON null), dataChange, and stats (the raw JSON string), tags and deletionVector when the
file has them.`,
		Example: `  # The live files of a local table
  deltactl files ./tiles

  # As of version 3, through a file:// URL, as JSON Lines
  deltactl files file:///data/tiles --version 3 --json

  # The paths of an S3 table's files at a point in time
  deltactl files s3://bucket/tables/tiles --timestamp 2024-05-01T12:00:00Z --json | jq -r .path`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := sf.validate(cmd.Flags()); err != nil {
				return err
			}
			return runFiles(cmd, args[0], &sf, asJSON)
		}),
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per file, one per line")
	return cmd
}

func runFiles(cmd *cobra.Command, url string, sf *snapshotFlags, asJSON bool) error {
	ctx := cmd.Context()
	s, err := openStore(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := sf.open(ctx, s, cmd.Flags())
	if err != nil {
		return err
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	write := writeFileLine
	if asJSON {
		write = writeFileJSON
	} else if _, err := fmt.Fprintf(w, "%12s  %-24s  %s\n", "SIZE", "MODIFIED", "PATH"); err != nil {
		return err
	}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			// What was printed so far is flushed, then the error ends the listing.
			_ = w.Flush()
			return fmt.Errorf("list files of %s at version %d: %w", url, snap.Version(), err)
		}
		if err := write(w, a); err != nil {
			return fmt.Errorf("write file list: %w", err)
		}
	}
	return w.Flush()
}

// writeFileJSON writes the add action of a file as one line.
func writeFileJSON(w io.Writer, a *delta.Add) error {
	f := *a
	if f.PartitionValues == nil {
		f.PartitionValues = delta.PartitionValues{}
	}
	return writeJSON(w, &f)
}

// writeFileLine writes size, modification time and path in fixed-width columns, so the
// listing aligns without being held whole.
func writeFileLine(w io.Writer, a *delta.Add) error {
	mod := time.UnixMilli(a.ModificationTime).UTC().Format("2006-01-02T15:04:05.000Z")
	_, err := fmt.Fprintf(w, "%12d  %-24s  %s\n", a.Size, mod, a.Path)
	return err
}
