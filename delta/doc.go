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
// # Examples
//
// Runnable examples (example_test.go, run by go test): [Open] reads a snapshot and streams its
// live files; [Begin] commits a file with an app transaction and reads its version back.
package delta
