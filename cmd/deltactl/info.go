package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/delta"
)

func newInfoCmd() *cobra.Command {
	var (
		sf     snapshotFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "info URL",
		Short: "Show a table's version, size, protocol and metadata",
		Long: `Info reads one snapshot of the table at URL (the latest, or the one --version or
--timestamp selects) and shows its version, the number and total size of its live files, its
row count, protocol, metadata and the checkpoint the snapshot was read from.

The row count (numRecords) is the sum of numRecords in the stats of every live file, less the
rows their deletion vectors remove; it is unknown (null in JSON) when any live file has no
numRecords in its stats. Counting reads the whole file list, streamed: memory does not grow
with the table.

--timestamp selects the newest version committed at or before the given time: RFC 3339
(2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00), or a date meaning midnight UTC.

With --json, one object with these fields, a stable contract: version, numFiles, sizeInBytes,
numRecords, protocol {minReaderVersion, minWriterVersion, readerFeatures, writerFeatures},
metadata {id, name, description, format, partitionColumns, configuration, createdTime,
schema}, lastCheckpointVersion (null when the snapshot has no checkpoint) and url.`,
		Example: `  # The latest snapshot of a local table
  deltactl info ./tiles

  # As of version 12, through a file:// URL, as JSON
  deltactl info file:///data/tiles --version 12 --json

  # An S3 table as it was at midnight UTC on 1 May 2024; its row count with jq
  deltactl info s3://bucket/tables/tiles --timestamp 2024-05-01 --json | jq .numRecords`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := sf.validate(cmd.Flags()); err != nil {
				return err
			}
			return runInfo(cmd, args[0], &sf, asJSON)
		}),
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// tableInfo is the JSON output of info.
type tableInfo struct {
	Version               int64        `json:"version"`
	NumFiles              int64        `json:"numFiles"`
	SizeInBytes           int64        `json:"sizeInBytes"`
	NumRecords            *int64       `json:"numRecords"`
	Protocol              protocolInfo `json:"protocol"`
	Metadata              metadataInfo `json:"metadata"`
	LastCheckpointVersion *int64       `json:"lastCheckpointVersion"`
	URL                   string       `json:"url"`
}

type protocolInfo struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures"`
	WriterFeatures   []string `json:"writerFeatures"`
}

type metadataInfo struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Format           delta.Format      `json:"format"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime"`
	Schema           json.RawMessage   `json:"schema"`
}

func runInfo(cmd *cobra.Command, url string, sf *snapshotFlags, asJSON bool) error {
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
	info, err := describe(ctx, snap, url)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), info)
	}
	return writeInfo(cmd.OutOrStdout(), info)
}

// describe reads what info shows of a snapshot, streaming its file list once.
func describe(ctx context.Context, snap *delta.Snapshot, url string) (*tableInfo, error) {
	p, m := snap.Protocol(), snap.Metadata()
	if !json.Valid([]byte(m.SchemaString)) {
		return nil, fmt.Errorf("read schema of %s at version %d: schemaString is not JSON", url, snap.Version())
	}
	info := &tableInfo{
		Version: snap.Version(),
		Protocol: protocolInfo{
			MinReaderVersion: p.MinReaderVersion,
			MinWriterVersion: p.MinWriterVersion,
			ReaderFeatures:   orEmpty(p.ReaderFeatures),
			WriterFeatures:   orEmpty(p.WriterFeatures),
		},
		Metadata: metadataInfo{
			ID:               m.ID,
			Name:             m.Name,
			Description:      m.Description,
			Format:           m.Format,
			PartitionColumns: orEmpty(m.PartitionColumns),
			Configuration:    m.Configuration,
			CreatedTime:      m.CreatedTime,
			Schema:           json.RawMessage(m.SchemaString),
		},
		URL: url,
	}
	if info.Metadata.Configuration == nil {
		info.Metadata.Configuration = map[string]string{}
	}
	if info.Metadata.Format.Options == nil {
		info.Metadata.Format.Options = map[string]string{}
	}
	if cp := snap.Segment().Checkpoint; cp != nil {
		v := cp.Version
		info.LastCheckpointVersion = &v
	}

	var records int64
	allStats := true
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, fmt.Errorf("list files of %s at version %d: %w", url, snap.Version(), err)
		}
		info.NumFiles++
		info.SizeInBytes += a.Size
		if !allStats {
			continue
		}
		n, ok, err := fileRecords(a)
		if err != nil {
			return nil, fmt.Errorf("read stats of %s in %s at version %d: %w", a.Path, url, snap.Version(), err)
		}
		if !ok {
			allStats = false
			continue
		}
		records += n
	}
	if allStats {
		info.NumRecords = &records
	}
	return info, nil
}

// fileRecords returns the rows of a live file: its stats' numRecords less the rows its deletion
// vector removes. ok is false when the stats have no numRecords.
func fileRecords(a *delta.Add) (n int64, ok bool, err error) {
	if a.Stats == "" {
		return 0, false, nil
	}
	st, err := delta.ParseStats(a.Stats)
	if err != nil {
		return 0, false, err
	}
	if st.NumRecords == nil {
		return 0, false, nil
	}
	n = *st.NumRecords
	if a.DeletionVector != nil {
		n -= a.DeletionVector.Cardinality
	}
	return n, true, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeInfo prints info as an aligned key: value listing.
func writeInfo(out io.Writer, info *tableInfo) error {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, args...))
	}
	m, p := info.Metadata, info.Protocol
	row("url", "%s", info.URL)
	row("version", "%d", info.Version)
	row("id", "%s", m.ID)
	if m.Name != "" {
		row("name", "%s", m.Name)
	}
	if m.Description != "" {
		row("description", "%s", m.Description)
	}
	if m.CreatedTime != nil {
		row("created", "%s", formatMillis(*m.CreatedTime))
	}
	row("files", "%d", info.NumFiles)
	row("size", "%s", formatBytes(info.SizeInBytes))
	if info.NumRecords != nil {
		row("records", "%d", *info.NumRecords)
	} else {
		row("records", "unknown (a file has no numRecords in its stats)")
	}
	row("protocol", "reader %d, writer %d", p.MinReaderVersion, p.MinWriterVersion)
	if len(p.ReaderFeatures) > 0 {
		row("reader features", "%s", strings.Join(p.ReaderFeatures, ", "))
	}
	if len(p.WriterFeatures) > 0 {
		row("writer features", "%s", strings.Join(p.WriterFeatures, ", "))
	}
	if info.LastCheckpointVersion != nil {
		row("checkpoint", "version %d", *info.LastCheckpointVersion)
	} else {
		row("checkpoint", "none")
	}
	row("format", "%s", m.Format.Provider)
	row("schema", "%s", schemaSummary(m.Schema))
	if len(m.PartitionColumns) > 0 {
		row("partition columns", "%s", strings.Join(m.PartitionColumns, ", "))
	} else {
		row("partition columns", "none")
	}
	if len(m.Configuration) == 0 {
		row("properties", "none")
	}
	for i, k := range slices.Sorted(maps.Keys(m.Configuration)) {
		key := ""
		if i == 0 {
			key = "properties"
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", keyColon(key), k, m.Configuration[k])
	}
	return tw.Flush()
}

func keyColon(k string) string {
	if k == "" {
		return ""
	}
	return k + ":"
}

// schemaSummary lists the top-level columns as "name type"; nested types are shown as their
// kind (struct, array, map).
func schemaSummary(raw json.RawMessage) string {
	var st delta.StructType
	if err := json.Unmarshal(raw, &st); err != nil {
		return string(raw)
	}
	cols := make([]string, 0, len(st.Fields))
	for _, f := range st.Fields {
		t, ok := f.PrimitiveType()
		if !ok {
			var nested struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(f.Type, &nested)
			t = nested.Type
		}
		cols = append(cols, f.Name+" "+t)
	}
	return strings.Join(cols, ", ")
}

func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// formatBytes prints a size in bytes, with a binary-prefixed figure when it is large.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%d bytes (%.1f %ciB)", n, float64(n)/float64(div), "KMGTPE"[exp])
}
