package main

import (
	"context"
	"encoding/json"
	"errors"
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
		verify bool
	)
	cmd := &cobra.Command{
		Use:   "info URL",
		Short: "Show a table's version, size, protocol and metadata",
		Long: `Info reads one snapshot of the table at URL (the latest, or the one --version or
--timestamp selects) and shows its version, the number and total size of its live files, its
row count, protocol, metadata and the checkpoint the snapshot was read from.

The row count (numRecords) is the sum of numRecords in the stats of every live file, less the
rows their deletion vectors remove; it is unknown (null in JSON) when any live file has no
numRecords in its stats.

The counts come from the version's checksum file (_delta_log/N.crc) when it has them all: a
.crc written by this tool records the row count besides the file count and size the protocol
defines, so info reads three objects whatever the size of the table. Otherwise (no .crc, or
one written by another engine, which records no row count) info counts by reading the whole
file list, streamed: memory does not grow with the table. --verify always reads the file
list, and fails when a .crc of the version disagrees with it.

--timestamp selects the newest version committed at or before the given time: RFC 3339
(2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00), or a date meaning midnight UTC.

With --json, one object with these fields, a stable contract: version, numFiles, sizeInBytes,
numRecords, protocol {minReaderVersion, minWriterVersion, readerFeatures, writerFeatures},
metadata {id, name, description, format, partitionColumns, configuration, createdTime,
schema}, lastCheckpointVersion (null when the snapshot has no checkpoint), url, and
countsFrom ("checksum" or "log": where numFiles, sizeInBytes and numRecords were taken from).`,
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
			return runInfo(cmd, args[0], &sf, asJSON, verify)
		}),
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&verify, "verify", false, "count from the file list, and check the version's .crc against it")
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
	CountsFrom            string       `json:"countsFrom"`
}

// Where info's counts come from.
const (
	fromChecksum = "checksum"
	fromLog      = "log"
)

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

func runInfo(cmd *cobra.Command, url string, sf *snapshotFlags, asJSON, verify bool) error {
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
	info, err := describe(ctx, snap, url, verify)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), info)
	}
	return writeInfo(cmd.OutOrStdout(), info)
}

// describe reads what info shows of a snapshot: the counts from the version's .crc when it
// has them all, else (or with verify) from its file list, streamed once.
func describe(ctx context.Context, snap *delta.Snapshot, url string, verify bool) (*tableInfo, error) {
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

	var counts delta.Counts
	var err error
	if verify {
		counts, err = snap.CountFiles(ctx)
	} else {
		counts, err = snap.Counts(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("count files of %s at version %d: %w", url, snap.Version(), err)
	}
	info.NumFiles, info.SizeInBytes, info.NumRecords = counts.NumFiles, counts.SizeInBytes, counts.NumRecords
	info.CountsFrom = fromLog
	if counts.FromChecksum {
		info.CountsFrom = fromChecksum
	}
	if crc, ok := snap.Checksum(); ok && verify {
		if err := checkCRC(crc, snap.Version(), counts); err != nil {
			return nil, fmt.Errorf("verify %s at version %d: %s does not match the log: %w", url, snap.Version(), delta.CRCKey(snap.Version()), err)
		}
	}
	return info, nil
}

// errCRCMismatch is a version checksum that disagrees with the file list.
var errCRCMismatch = errors.New("version checksum mismatch")

// checkCRC compares the .crc of version v with the counts read from its file list.
func checkCRC(crc delta.CRC, v int64, counts delta.Counts) error {
	var diffs []string
	if crc.NumFiles != counts.NumFiles {
		diffs = append(diffs, fmt.Sprintf("numFiles %d in the .crc, %d in the log", crc.NumFiles, counts.NumFiles))
	}
	if crc.TableSizeBytes != counts.SizeInBytes {
		diffs = append(diffs, fmt.Sprintf("tableSizeBytes %d in the .crc, %d in the log", crc.TableSizeBytes, counts.SizeInBytes))
	}
	if n, ok := crc.NumRecords(v); ok && (counts.NumRecords == nil || *counts.NumRecords != n) {
		log := "unknown"
		if counts.NumRecords != nil {
			log = fmt.Sprint(*counts.NumRecords)
		}
		diffs = append(diffs, fmt.Sprintf("numRecords %d in the .crc, %s in the log", n, log))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", errCRCMismatch, strings.Join(diffs, "; "))
	}
	return nil
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
	row("size", "%s", size(info.SizeInBytes))
	if info.NumRecords != nil {
		row("records", "%d", *info.NumRecords)
	} else {
		row("records", "unknown (a file has no numRecords in its stats)")
	}
	if info.CountsFrom == fromChecksum {
		row("counted from", "the version checksum (%s)", delta.CRCKey(info.Version))
	} else {
		row("counted from", "the file list")
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
