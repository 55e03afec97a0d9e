package maintenance_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/maintenance"
)

// exampleTable ingests three 256x256 scenes into a table in a temporary directory, one commit
// and one data file each; remove removes it all.
func exampleTable(ctx context.Context) (st delta.Store, remove func()) {
	dir, err := os.MkdirTemp("", "maintenance-example-")
	if err != nil {
		log.Fatal(err)
	}
	st, err = delta.OpenStore(ctx, filepath.Join(dir, "tiles"))
	if err != nil {
		log.Fatal(err)
	}
	godal.RegisterAll()
	sr, err := godal.NewSpatialRefFromEPSG(32631)
	if err != nil {
		log.Fatal(err)
	}
	defer sr.Close()
	px := make([]byte, 256*256)
	for i := range px {
		px[i] = byte(i)
	}
	for i := range 3 {
		scene := filepath.Join(dir, fmt.Sprintf("scene-%d.tif", i))
		ds, err := godal.Create(godal.GTiff, scene, 1, godal.Byte, 256, 256)
		if err != nil {
			log.Fatal(err)
		}
		if err := ds.SetGeoTransform([6]float64{450000 + float64(i)*2560, 10, 0, 5420000, 0, -10}); err != nil {
			log.Fatal(err)
		}
		if err := ds.SetSpatialRef(sr); err != nil {
			log.Fatal(err)
		}
		if err := ds.Bands()[0].Write(0, 0, px, 256, 256); err != nil {
			log.Fatal(err)
		}
		if err := ds.Close(); err != nil {
			log.Fatal(err)
		}
		if _, err := ingest.Ingest(ctx, st, []string{scene}, ingest.Options{}); err != nil {
			log.Fatal(err)
		}
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }
}

// Optimize merges small data files into files of a target size (here the default, 256 MiB),
// optionally in quadbin order, and commits with dataChange=false: readers see the same rows.
func ExampleOptimize() {
	ctx := context.Background()
	st, remove := exampleTable(ctx)
	defer remove()

	m, err := maintenance.Optimize(ctx, st, maintenance.OptimizeOptions{ClusterBy: "quadbin"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files removed, %d added, in %d commit (version %v)\n", m.FilesRemoved, m.FilesAdded, len(m.Versions), m.Versions)
	// Output:
	// 3 files removed, 1 added, in 1 commit (version [3])
}

// Vacuum deletes the data files no version within the retention needs. The files optimize
// merged away are kept for the table's retention (a week by default) so that readers of older
// versions keep working; a shorter one needs ForceRetention, except in a dry run.
func ExampleVacuum() {
	ctx := context.Background()
	st, remove := exampleTable(ctx)
	defer remove()
	if _, err := maintenance.Optimize(ctx, st, maintenance.OptimizeOptions{}); err != nil {
		log.Fatal(err)
	}

	m, err := maintenance.Vacuum(ctx, st, maintenance.VacuumOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("retention %v: %d deleted, %d live files\n", m.Retention, m.Deleted, m.LiveFiles)

	none := time.Duration(0)
	m, err = maintenance.Vacuum(ctx, st, maintenance.VacuumOptions{Retention: &none, DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("dry run, retention %v: would delete %d\n", m.Retention, m.Candidates)

	m, err = maintenance.Vacuum(ctx, st, maintenance.VacuumOptions{Retention: &none, ForceRetention: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("retention %v: %d deleted, %d live files\n", m.Retention, m.Deleted, m.LiveFiles)
	// Output:
	// retention 168h0m0s: 0 deleted, 1 live files
	// dry run, retention 0s: would delete 3
	// retention 0s: 3 deleted, 1 live files
}
