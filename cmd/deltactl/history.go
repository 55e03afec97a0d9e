package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

func newHistoryCmd() *cobra.Command {
	var (
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "history URL",
		Short: "Show a table's commits, newest first",
		Long: `History lists the readable commits of the table at URL, newest first: each commit's
version, time, operation and parameters, taken from its commitInfo. Commits older than the
oldest checkpoint that log cleanup kept are not readable and not listed.

The time is the one time travel uses: the commit's inCommitTimestamp when the table records
one, else the modification time of the commit file.

Without --json: version, time (RFC 3339, UTC), operation, its main parameters and its
metrics (files and bytes added and removed, rows written: commitInfo.operationMetrics). With
--json: one object per line (JSON Lines) with version, timestamp (ms since the epoch),
operation, operationParameters and the whole commitInfo (null when a commit has none).`,
		Example: `  # Every commit of a local table
  deltactl history ./tiles

  # The last 5 commits, through a file:// URL, as JSON Lines
  deltactl history file:///data/tiles --limit 5 --json

  # Which operations rewrote an S3 table
  deltactl history s3://bucket/tables/tiles --json | jq -r 'select(.operation=="OPTIMIZE") | .version'`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usageErrorf("invalid argument %d for --limit: want 0 (all) or more", limit)
			}
			return runHistory(cmd, args[0], limit, asJSON)
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many commits, newest first (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per commit, one per line")
	return cmd
}

// commitJSON is one line of history --json.
type commitJSON struct {
	Version             int64            `json:"version"`
	Timestamp           int64            `json:"timestamp"`
	Operation           *string          `json:"operation"`
	OperationParameters json.RawMessage  `json:"operationParameters"`
	CommitInfo          delta.CommitInfo `json:"commitInfo"`
}

func runHistory(cmd *cobra.Command, url string, limit int, asJSON bool) error {
	ctx := cmd.Context()
	s, err := openStore(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	entries, err := delta.History(ctx, s, limit)
	if err != nil {
		return errwrap.URL("read history of", url, err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		for _, e := range entries {
			c := commitJSON{Version: e.Version, Timestamp: e.Timestamp.UnixMilli(), CommitInfo: e.CommitInfo}
			if op, ok := e.CommitInfo.String("operation"); ok {
				c.Operation = &op
			}
			if p, ok := e.CommitInfo["operationParameters"]; ok {
				c.OperationParameters = p
			}
			if err := writeJSON(out, c); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME\tOPERATION\tPARAMETERS\tMETRICS")
	for _, e := range entries {
		op, ok := e.CommitInfo.String("operation")
		if !ok {
			op = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Version, e.Timestamp.UTC().Format(time.RFC3339),
			op, summarizeParams(e.CommitInfo["operationParameters"]), summarizeParams(e.CommitInfo["operationMetrics"]))
	}
	return tw.Flush()
}

// maxParamLen bounds how much of one parameter value the human listing shows.
const maxParamLen = 60

// summarizeParams prints operationParameters (or operationMetrics) as key=value pairs, sorted by key, leaving out
// empty values. Values Spark encodes as JSON inside strings are shown unquoted.
func summarizeParams(raw json.RawMessage) string {
	var params map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &params) != nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := paramValue(params[k])
		switch v {
		case "", "[]", "{}", "null":
			continue
		}
		if len(v) > maxParamLen {
			v = v[:maxParamLen-3] + "..."
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// paramValue is a parameter's value as text: a JSON string's content, else compact JSON.
func paramValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
