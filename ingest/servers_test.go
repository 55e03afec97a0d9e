package ingest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/internal/testservers"
)

// TestSourceIdentityOnServers: on MinIO, fake-gcs-server and Azurite, a scene uploaded to a
// bucket is ingested first under a URL carrying its connection parameters, then under its bare
// URL (the environment pointing at the server): it is in the table once, under its identity,
// and neither the log nor the live files hold a connection parameter. Every spelling exports
// it pixel for pixel. On MinIO the environment's endpoint and region are removed during the
// first ingest, so the URL's parameters are the ones that reach the server (gocloud's S3
// opener reads the environment at each open; its Azure opener reads it once per process).
func TestSourceIdentityOnServers(t *testing.T) {
	for _, start := range []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite} {
		s := start(t)
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			bucket := s.Bucket(t)
			base := s.Scheme + "://" + bucket
			putObject(t, base, "scenes/k.tif", td("rgb.tif"))
			ep, err := url.Parse(s.Endpoint())
			if err != nil {
				t.Fatal(err)
			}
			id := base + "/scenes/k.tif"
			var params string
			var unset []string // what the URL's parameters stand in for
			switch s.Scheme {
			case "s3":
				params = "?endpoint=" + s.Endpoint() + "&use_path_style=true&region=us-east-1"
				unset = []string{"AWS_ENDPOINT_URL", "AWS_REGION"}
			case "gs":
				// GCS takes no endpoint in a URL (STORAGE_EMULATOR_HOST stays set).
				params = "?anonymous=true"
			case "azblob":
				params = "?protocol=http&domain=" + ep.Host + "&storage_account=" + testservers.AzuriteAccount
				unset = []string{"AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL", "AZURE_STORAGE_ACCOUNT"}
				id = "azblob://" + testservers.AzuriteAccount + "@" + bucket + "/scenes/k.tif"
			}
			dir := t.TempDir()
			table := openStore(t, filepath.Join(dir, "table"))
			o := quietOpts()
			o.TileSize = 128

			withEnv(t, unset, func() {
				sum := ingestOne(t, table, o, base+"/scenes/k.tif"+params)
				if len(sum.Sources) != 1 || sum.Sources[0].Status != StatusAdded || sum.Sources[0].URI != id {
					t.Fatalf("ingest with the URL's parameters: %+v", sum)
				}
			})
			sum := ingestOne(t, table, o, base+"/scenes/k.tif")
			if len(sum.Sources) != 1 || sum.Sources[0].Status != StatusUnchanged || sum.Committed || sum.Sources[0].URI != id {
				t.Fatalf("ingest of the bare URL: %+v", sum)
			}
			if n := tileSources(t, table); len(n) != 1 || n[id] == 0 {
				t.Errorf("tiles by source %v, want those of %s only", n, id)
			}
			for _, text := range []string{logText(t, table), liveText(t, table)} {
				for _, p := range []string{"127.0.0.1", ep.Host, "endpoint", "use_path_style", "region=", "anonymous",
					"protocol=", "domain=", "storage_account"} {
					if strings.Contains(strings.ToLower(text), p) {
						t.Errorf("the table holds %q:\n%s", p, text)
					}
				}
			}
			for i, sp := range []string{base + "/scenes/k.tif" + params, base + "/scenes/k.tif", id} {
				out := filepath.Join(dir, fmt.Sprintf("out%d.tif", i))
				if err := Export(ctx, table, ExportOptions{Source: sp, Out: out}); err != nil {
					t.Fatalf("export %s: %v", sp, err)
				}
				assertSameRaster(t, td("rgb.tif"), 0, out)
			}
		})
	}
}

// withEnv runs fn with the environment variables names unset, and sets them back.
func withEnv(t *testing.T, names []string, fn func()) {
	t.Helper()
	for _, k := range names {
		if v, ok := os.LookupEnv(k); ok {
			os.Unsetenv(k)
			defer os.Setenv(k, v)
		}
	}
	fn()
}
