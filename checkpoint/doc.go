// Package checkpoint writes Delta checkpoints whose memory does not grow with the table, the
// version's .crc file, and _last_checkpoint; it also runs the protocol's metadata cleanup.
//
// [Write] folds the previous checkpoint and the commits after it. The tail is reconciled in
// memory (the keys of its files, as 128-bit hashes); the previous checkpoint is read in record
// batches of [Options.BatchRows] rows and written to Parquet row groups cut at
// [Options.RowGroupBytes]. Rows of the previous checkpoint are copied as Arrow columns when its
// add and remove columns have exactly the types being written (always so for a checkpoint this
// package wrote under the same table settings); otherwise they are decoded and built again row
// by row. Either way tombstones past delta.deletedFileRetentionDuration and app transactions
// past delta.setTransactionRetentionDuration are dropped.
//
// Classic single-file checkpoints are written by default; tables with the v2Checkpoint feature
// get V2 checkpoints (Parquet sidecars written in parallel, then a UUID-named top-level file).
// Files are published before _last_checkpoint, so a crash at any point leaves a table every
// reader opens. [PostCommit] is the transaction hook that keeps .crc files incremental and
// checkpoints every delta.checkpointInterval versions; [CleanupMetadata] removes log files
// older than delta.logRetentionDuration that no retained version needs.
//
// # Version checksums
//
// A .crc holds the fields of the protocol's Version Checksum File and one field more,
// "deltaraster": {"version": V, "numRecords": N}, the rows of the live files at V (their stats'
// numRecords less the rows their deletion vectors remove), which `deltactl info` shows without
// reading the file list ([delta.CRC], [delta.Snapshot.Counts]). Other engines ignore it, as the
// protocol requires of unknown fields, and do not carry it into the .crc files they write. It
// is written only while every add and remove folded has numRecords in its stats, and only for
// the version V of its own file: readers ignore one stamped with another version.
//
// # Examples
//
// Runnable example (example_test.go, run by go test): [Write] checkpoints a table of three
// commits and reads it back.
package checkpoint
