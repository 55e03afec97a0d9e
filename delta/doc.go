// Package delta implements the Delta Lake transaction log: actions, log file names, the storage
// seam, log segments, snapshots, replay, table features and optimistic transactions.
//
// It imports nothing else of this module; checkpoint, ingest and maintenance build on it.
//
// # Tables and storage
//
// A table is a URL: a plain path or file://, mem://, s3://, gs://, azblob://. Every byte goes
// through a [Store], whose contract is: atomic visibility of a completed put, mutual exclusion of
// put-if-absent (exactly one writer of a key wins), and listings that are lexically ordered and
// consistent with completed writes.
//
// # Reading
//
// A [Snapshot] at version v is a log segment (the newest complete checkpoint at or before v, plus
// the commits after it), the protocol and metadata, and the live files. Live files are a stream:
// the commits after the checkpoint are reconciled newest first and only the keys they touch are
// held in memory (as 128-bit hashes); the checkpoint is read in fixed-size Arrow record batches
// and filtered by those keys. Memory is O(tail + batch), never O(table).
//
// _last_checkpoint is a hint: when it is missing, corrupt or stale the log is listed instead.
//
// # Errors
//
// Sentinels are checked with errors.Is: [ErrNotFound], [ErrExist], [ErrConflict],
// [ErrUnsupportedFeature], [ErrVersionNotFound], [ErrNotATable]. Errors about a log file carry a
// [*CorruptError] naming the file and version.
//
// # Concurrency
//
// Snapshots are immutable and safe for concurrent use. A [Txn] belongs to one goroutine. Many
// writers, in one process or many, may commit to one table at once: commits are published with
// put-if-absent and conflicts are resolved as in Spark's WriteSerializable isolation.
//
// # Engine-level API
//
// Beside snapshots and transactions, delta exports what an engine built on it needs to read the
// log and the data files itself, as delta-kernel-rs exposes its log segment and scan metadata:
//
//   - [CommitsAfter] follows the log from a version read earlier, commit by commit (conflict
//     checks, keeping an index current); [ReadCommitActions] reads one commit by its version.
//   - [Snapshot.FileActionBatches] streams the live file actions with the checkpoint's part as
//     Arrow record batches and a selection vector ([CheckpointBatch]), for engines that copy
//     columns rather than decode rows (the checkpoint writer does).
//   - [Snapshot.Segment] is the [LogSegment] a snapshot is read from; [SidecarsOf] names the
//     sidecar files a V2 checkpoint references.
//   - [NewReaderAt] reads a data file through the [Store] with ranged reads pinned to one version
//     of the object, as Parquet readers need.
//   - [ParseInterval] and the Metadata accessors ([Metadata.DeletedFileRetention],
//     [Metadata.LogRetention], [Metadata.SetTransactionRetention],
//     [Metadata.CheckpointInterval]) read the table properties with Delta's defaults.
//
// # Examples
//
// Runnable examples (example_test.go, run by go test): [Open] reads a snapshot and streams its
// live files; [Begin] commits a file with an app transaction and reads its version back. The
// engine-level API has its own: [CommitsAfter], [ReadCommitActions],
// [Snapshot.FileActionBatches], [Snapshot.Segment], [NewReaderAt] and
// [Metadata.DeletedFileRetention].
package delta
