// Package daemon is the logic of the ingest daemon (cmd/ingestd): work from a Source (a
// watched prefix), batches, one commit per batch, retries, dead letters and metrics.
//
// # Work
//
// A Source yields Work: an object to ingest at one version (see Source for its contract).
// Watch lists a prefix on any store every Options.Poll and yields the objects whose (identity,
// version) the table does not hold. Which pairs the table holds is an Index: 16-byte hashes
// built from the table's log once (the deltaraster.sources tags of the live files) and kept
// current by reading only the commits after its version, this daemon's and other writers'.
//
// # Batches
//
// Work is queued; a batch is taken when Options.BatchMaxSources sources are ready or the oldest
// has waited Options.BatchMaxWait (at once with Options.Once), and ingested in two stages:
// ingest.Prepare (plan, check, decode, write the data files) in the goroutine that called Run,
// then Prepared.Commit (one commit, with the replica's app transaction Options.Ingest.AppID,
// and the post-commit hook: .crc and checkpoints) in a goroutine of its own. The next batch
// is decoded while the previous one commits, so the cores keep decoding while a commit waits
// on the store or a checkpoint runs. Two batches are in flight at most (one being written, one
// committing); commits are made one at a time and in order; a batch's work is settled (acked)
// only after its commit. The next batch's plan is older than the commit before it: at its
// commit the commits made meanwhile are read, and when they touch none of its sources the plan
// holds (see ingest.Prepared). While the table does not exist a batch holds one source, and
// the next batch waits for the commit that creates the table, which takes the band layout
// from its first source.
//
// # Exactly once
//
// Exactly once comes from the table, not from the daemon: Ingest adds a source only when the
// table does not hold it at that version, and its commit conflicts with any concurrent commit
// adding the same source (read predicates), whatever the writers' app ids. The Index only saves
// work: a pair it holds is not listed again; a pair it lacks that the table holds is reported
// unchanged by Ingest and noted. A daemon killed at any moment leaves either its batch's
// commit or nothing (its written data files are orphans for vacuum); on restart the Index,
// built from the log, says what is left to do.
//
// # Failures
//
// When Prepare fails with an *ingest.SourceError, that source is taken out of the batch and the
// rest is ingested again at once. The failing source is tried again after
// Options.RetryBackoff, doubled each time, up to Options.MaxAttempts attempts; then one JSON
// line (DeadLetter: source, version, error, time, attempts, app id) is written as an object
// under the dead-letter prefix, and the (source, version) is not tried again: New reads the
// records under the prefix, so a restarted daemon (or another replica started later) skips the
// pairs they name, while a changed version of such a source is new work. Only a source's own
// failures count toward MaxAttempts. A source that changed or vanished while it was read is
// dropped from the batch, not counted as an attempt: the next listing sees what it is now. A
// batch that fails as a whole (the table unreachable, a store error while writing a data file
// or committing, a conflict Ingest could not resolve) is counted in batch_failures_total and
// keeps its sources queued, without counting against them; the next batch waits with the same
// doubling backoff (RetryBackoff, 2x, 4x, ...), so an outage is retried, never spun on; with
// Once, MaxAttempts such failures in a row end Run with an error.
//
// # Shutdown
//
// When Run's context is cancelled, no new batch starts; the batches in flight (one being
// written, one committing) run on for Options.ShutdownTimeout at most, then their context is
// cancelled: nothing of an abandoned batch is committed, and its work is Dropped.
//
// # Memory
//
// Per process: the Index (about 40 bytes per (source, version) pair in the table), the Watch's
// 16 bytes per listed key of its shard, the queue (the backlog), and 16 bytes per dead letter
// (read at start, and written since). GDAL's block cache is capped by Options.Ingest.CacheMaxBytes; checkpoints
// are written in the post-commit hook in the checkpoint package's bounded memory.
package daemon
