// Package maintenance keeps Delta tables healthy: Optimize merges small files into files of a
// target size (optionally clustered by a column such as quadbin), and Vacuum deletes the data
// files that no version within the retention needs.
//
// Both are a Plan and an Execute: PlanOptimize and PlanVacuum read the table and decide, and
// write nothing; Execute does the work and returns metrics. DryRun options stop after the
// plan, a clock (Now) is injected, and every call takes a context that is checked between
// batches.
//
// # Optimize
//
// The plan packs, per partition, the live files smaller than the target size
// (OptimizeOptions.TargetSize, else the table's delta.targetFileSize, else 256 MiB) and
// without a deletion vector into bins of at most the target size, greedily, in size order or,
// with ClusterBy, in order of each file's minimum of the cluster column (from its stats). A
// bin of one file is dropped: rewriting it alone would not shrink anything.
//
// Execute streams each bin's rows into new files a batch at a time: files up to
// WholeFileBytes are fetched whole, larger ones by ranges; output row groups are cut by bytes.
// With ClusterBy, each input is cut into its sorted runs (tile files from ingest are sorted by
// (level, quadbin), so a file is one run per level; a file with many runs is sorted in chunks
// of SortBytes into temporary files) and the runs are k-way merged, MaxFanIn at a time. The
// files written keep the Parquet schema and key-value metadata of the bin's first file, the
// GeoParquet "geo" metadata (bbox and geometry types the union of the merged files'), Delta
// stats recomputed from the rows (numRecords, and min, max and nullCount of every column that
// is not binary or repeated, as ingest writes them) and the merged tags: deltaraster.sources
// is the union of the merged files' lists. A file whose schema differs from its bin's first
// file is left in place.
//
// Commits remove the merged files and add the new ones, all with dataChange=false, once at the
// end or every CommitEveryBins bins or CommitEveryBytes input bytes. Appends by other writers
// never conflict. A commit that removes a file of a planned bin drops that bin (its new files
// are deleted) and the others go on; a change of the protocol or metadata stops the optimize
// with ErrTableChanged.
//
// # Vacuum
//
// A file is needed when it is live in the latest version or was removed after the threshold
// (now - retention), with its deletion vector file; every version committed within the
// retention, and the one current at its start, reads only such files. The retention is the
// table's delta.deletedFileRetentionDuration (default one week); a shorter one is refused
// with ErrRetentionTooShort unless VacuumOptions.ForceRetention, or a dry run (which deletes
// nothing, so may show what a shorter retention would delete).
//
// Full mode lists the whole table and deletes every object not needed, modified before the
// threshold, and not under a path segment starting with _ or . (so never _delta_log,
// temporary or hidden files): orphans of writers that failed, and change data files
// (_change_data/, which no snapshot references: Delta's VACUUM deletes them by age too); files
// written by writers still running (younger than the retention) stay. Lite mode lists only the log: it
// deletes the files of removes older than the threshold, from the snapshot's tombstones and
// from the commits since the last completed vacuum, that are not needed. Paths from the log
// that leave the table root are refused by the log reader, and the plan fails.
//
// The plan is complete before anything is deleted: a listing that fails or is cancelled
// fails the plan. Execute writes a VACUUM START commit, deletes with at most Parallelism
// deletes in flight, then writes VACUUM END (status COMPLETED or FAILED).
//
// Memory: the needed set is 16 bytes per needed file (128-bit hashes of the keys in a sorted
// slice; about 16 MB for a million files, 2.25 times that while it grows); the files to delete
// are held in memory up to SpillEntries and in a temporary file beyond (lite mode also keeps a
// 16-byte hash of each to drop duplicates); the log is read as the delta package reads it (the
// tail and one checkpoint batch at a time). Optimize's plan holds the add actions, without
// stats, of the files it will merge.
//
// # Errors
//
// Sentinels: ErrRetentionTooShort, ErrTableChanged, ErrBadOption. Conflicts that exhaust the
// retries surface as delta.ErrConflict.
//
// # Examples
//
// Runnable examples (example_test.go, run by go test): [Optimize] merges three files into
// one; [Vacuum] keeps the merged-away files for the table's retention, lists them in a dry run
// with none, and deletes them with ForceRetention.
package maintenance
