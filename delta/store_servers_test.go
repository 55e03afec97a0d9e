package delta_test

import (
	"testing"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/delta/deltatest"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// The conformance suite against the real servers, each subtest on a bucket of its own: once
// with the table at the bucket's root and once under a prefix (gocloud's PrefixedBucket).
// Put-if-absent races 8 writers on 200 keys (40 under -short). MinIO, fake-gcs-server and
// Azurite (whose aborted streamed writes go through Bucket.Upload, clear of gocloud's azureblob
// writer panic).
func TestStoreServers(t *testing.T) {
	for _, srv := range []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite} {
		s := srv(t)
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"", "tables/t1"} {
				name := "root"
				if path != "" {
					name = "prefixed"
				}
				t.Run(name, func(t *testing.T) {
					deltatest.RunStoreTests(t, func(t *testing.T) delta.Store {
						return openStore(t, s.URL(t, path))
					}, deltatest.WithRaceRounds(serverRaceRounds()), deltatest.WithRaceWriters(8))
				})
			}
		})
	}
}

// serverRaceRounds is 200 rounds of the put-if-absent race, 40 with -short (the race-detector
// run of make test, where each request costs several times more).
func serverRaceRounds() int {
	if testing.Short() {
		return 40
	}
	return 200
}

// appendsPerWriter is 50 blind appends a writer, 10 with -short.
func appendsPerWriter() int {
	if testing.Short() {
		return 10
	}
	return 50
}

// TestTxnServers: on each server, 8 goroutines commit 50 blind appends each (400 contiguous
// versions, none lost) and 8 transactions removing one file race (one wins, the others
// conflict). The appends run as our writers do, with the post-commit hook (a .crc for every
// commit, a checkpoint every 10): without them every Begin reads the log back to version 0,
// one GET a commit.
func TestTxnServers(t *testing.T) {
	for _, srv := range []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite} {
		s := srv(t)
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("BlindAppends", func(t *testing.T) {
				txWritersGoroutines(t, s.URL(t, "table"), appendsPerWriter(), delta.TxnOptions{PostCommit: checkpoint.PostCommit(checkpoint.HookOptions{})})
			})
			t.Run("RemoveSameFile", func(t *testing.T) { txConflictRemoveSameFile(t, s.URL(t, "table")) })
		})
	}
}
