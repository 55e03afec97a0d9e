package delta_test

import (
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/delta/deltatest"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// The conformance suite against the real servers, each subtest on a bucket of its own: once
// with the table at the bucket's root and once under a prefix (gocloud's PrefixedBucket).
// Put-if-absent races 8 writers on 200 keys. Azurite joins once its aborted-write panic (in
// gocloud's azureblob writer) is fixed in our store.
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
					}, deltatest.WithRaceRounds(200), deltatest.WithRaceWriters(8))
				})
			}
		})
	}
}
