package delta_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

func TestMain(m *testing.M) {
	code := testservers.Main(m)
	testutil.Cleanup()
	os.Exit(code)
}

type goldenVersion struct {
	Version          int64    `json:"version"`
	NumFiles         int64    `json:"numFiles"`
	SizeInBytes      int64    `json:"sizeInBytes"`
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures"`
	WriterFeatures   []string `json:"writerFeatures"`
	MetadataID       string   `json:"metadataId"`
	PartitionColumns []string `json:"partitionColumns"`
	Refused          []string `json:"refused"`
}

type goldenTable struct {
	Table      string          `json:"table"`
	Archive    string          `json:"archive"`
	Dir        string          `json:"dir"`
	Latest     int64           `json:"latest"`
	Refused    []string        `json:"refused"`
	Versions   []goldenVersion `json:"versions"`
	Derivation string          `json:"derivation"`
}

func loadGolden(t *testing.T) []goldenTable {
	t.Helper()
	b, err := os.ReadFile("testdata/conformance_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Tables []goldenTable `json:"tables"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.Tables
}

// tableDir returns where a golden table lives, unpacking its archive when it has one.
func tableDir(t *testing.T, g goldenTable) string {
	root := testutil.ConformanceDir(t)
	if g.Archive != "" {
		return filepath.Join(testutil.Unpack(t, filepath.Join(root, g.Archive)), g.Dir)
	}
	return filepath.Join(root, filepath.FromSlash(g.Table))
}

type snapStats struct {
	files, size int64
}

func statsOf(t *testing.T, snap *delta.Snapshot) snapStats {
	t.Helper()
	var st snapStats
	for a, err := range snap.Files(context.Background()) {
		if err != nil {
			t.Fatalf("files at version %d: %v", snap.Version(), err)
		}
		st.files++
		st.size += a.Size
	}
	return st
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// TestConformanceTables reads every table of ../shared/conformance at every version the golden
// file lists and checks version, file count, size, protocol and metadata id, or that the table
// is refused naming each missing feature.
func TestConformanceTables(t *testing.T) {
	ctx := context.Background()
	tables := loadGolden(t)
	read, refused, travelled := 0, 0, 0
	for _, g := range tables {
		t.Run(g.Table, func(t *testing.T) {
			dir := tableDir(t, g)
			st, err := delta.OpenStore(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			check := func(t *testing.T, want goldenVersion, opts ...delta.SnapshotOption) {
				snap, err := delta.Open(ctx, st, opts...)
				if len(want.Refused) > 0 {
					if !errors.Is(err, delta.ErrUnsupportedFeature) {
						t.Fatalf("version %d: want refusal naming %v, got %v", want.Version, want.Refused, err)
					}
					for _, f := range want.Refused {
						if !strings.Contains(err.Error(), f) {
							t.Errorf("version %d: refusal %q does not name %q", want.Version, err, f)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("version %d: %v", want.Version, err)
				}
				if snap.Version() != want.Version {
					t.Fatalf("version: got %d want %d", snap.Version(), want.Version)
				}
				p, m := snap.Protocol(), snap.Metadata()
				if p.MinReaderVersion != want.MinReaderVersion || p.MinWriterVersion != want.MinWriterVersion ||
					!slices.Equal(sorted(p.ReaderFeatures), want.ReaderFeatures) || !slices.Equal(sorted(p.WriterFeatures), want.WriterFeatures) {
					t.Errorf("version %d: protocol %+v, want %+v", want.Version, p, want)
				}
				if m.ID != want.MetadataID {
					t.Errorf("version %d: metadata id %s, want %s", want.Version, m.ID, want.MetadataID)
				}
				if !slices.Equal(m.PartitionColumns, want.PartitionColumns) {
					t.Errorf("version %d: partition columns %v, want %v", want.Version, m.PartitionColumns, want.PartitionColumns)
				}
				got := statsOf(t, snap)
				if got.files != want.NumFiles || got.size != want.SizeInBytes {
					t.Errorf("version %d: %d files, %d bytes; want %d files, %d bytes", want.Version, got.files, got.size, want.NumFiles, want.SizeInBytes)
				}
			}
			latest := g.Versions[len(g.Versions)-1]
			if latest.Version != g.Latest {
				t.Fatalf("golden file: last listed version %d, latest %d", latest.Version, g.Latest)
			}
			check(t, latest)
			if len(latest.Refused) > 0 {
				refused++
			} else {
				read++
			}
			for _, v := range g.Versions {
				check(t, v, delta.AtVersion(v.Version))
			}
			if len(g.Versions) > 1 {
				travelled++
			}
		})
	}
	t.Logf("%d tables read, %d refused, %d with time travel over several versions", read, refused, travelled)
	if read < 30 || travelled < 5 {
		t.Errorf("want at least 30 tables read and 5 time-travelled, got %d and %d", read, travelled)
	}
}
