package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// exampleRaster writes a 512x512 one-band GeoTIFF in EPSG:32631 (UTM 31N, near Paris) whose
// pixel (x, y) is (x+y) mod 256.
func exampleRaster(path string) {
	godal.RegisterAll()
	ds, err := godal.Create(godal.GTiff, path, 1, godal.Byte, 512, 512)
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	if err := ds.SetGeoTransform([6]float64{450000, 10, 0, 5420000, 0, -10}); err != nil {
		log.Fatal(err)
	}
	sr, err := godal.NewSpatialRefFromEPSG(32631)
	if err != nil {
		log.Fatal(err)
	}
	defer sr.Close()
	if err := ds.SetSpatialRef(sr); err != nil {
		log.Fatal(err)
	}
	px := make([]byte, 512*512)
	for i := range px {
		px[i] = byte(i%512 + i/512)
	}
	if err := ds.Bands()[0].Write(0, 0, px, 512, 512); err != nil {
		log.Fatal(err)
	}
}

// exampleDir makes a temporary directory holding scene.tif; remove removes it.
func exampleDir() (dir string, remove func()) {
	dir, err := os.MkdirTemp("", "ingest-example-")
	if err != nil {
		log.Fatal(err)
	}
	exampleRaster(filepath.Join(dir, "scene.tif"))
	return dir, func() { os.RemoveAll(dir) }
}

// Ingest cuts rasters into tiles (one Parquet row each) and commits them in one commit,
// creating the table when there is none. It is exactly once: an unchanged source adds nothing;
// a changed one replaces its tiles.
func ExampleIngest() {
	ctx := context.Background()
	dir, remove := exampleDir()
	defer remove()
	st, err := delta.OpenStore(ctx, filepath.Join(dir, "tiles")) // or s3://bucket/tiles, ...
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	scene := filepath.Join(dir, "scene.tif") // or s3://bucket/scene.tif, gs://, azblob://

	sum, err := ingest.Ingest(ctx, st, []string{scene}, ingest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("version %d: %d tiles in %d file, table created: %v\n", sum.Version, sum.Tiles, len(sum.Files), sum.TableCreated)
	for _, s := range sum.Sources {
		fmt.Println(filepath.Base(s.URI), s.Status, s.Tiles, "tiles")
	}

	sum, err = ingest.Ingest(ctx, st, []string{scene}, ingest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("again:", sum.Sources[0].Status, "committed:", sum.Committed)
	// Output:
	// version 0: 4 tiles in 1 file, table created: true
	// scene.tif added 4 tiles
	// again: unchanged committed: false
}

// Export writes the tiles of one source back to a GeoTIFF (or a COG), pixel for pixel.
func ExampleExport() {
	ctx := context.Background()
	dir, remove := exampleDir()
	defer remove()
	st, err := delta.OpenStore(ctx, filepath.Join(dir, "tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	scene := filepath.Join(dir, "scene.tif")
	if _, err := ingest.Ingest(ctx, st, []string{scene}, ingest.Options{}); err != nil {
		log.Fatal(err)
	}

	out := filepath.Join(dir, "out.tif")
	if err := ingest.Export(ctx, st, ingest.ExportOptions{Source: scene, Out: out, Format: "COG"}); err != nil {
		log.Fatal(err)
	}
	read := func(path string) []byte {
		ds, err := godal.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		defer ds.Close()
		px := make([]byte, 512*512)
		if err := ds.Bands()[0].Read(0, 0, px, 512, 512); err != nil {
			log.Fatal(err)
		}
		return px
	}
	fmt.Println("same pixels:", slices.Equal(read(scene), read(out)))

	// A level or source the table does not hold says so.
	err = ingest.Export(ctx, st, ingest.ExportOptions{Source: scene, Out: out, Level: 2})
	fmt.Println(errors.Is(err, ingest.ErrLevelNotFound))
	// Output:
	// same pixels: true
	// true
}
