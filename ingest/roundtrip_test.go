package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		tileSize int
		levels   int
	}{
		{"rgb.tif", 0, 1},
		{"u16.tif", 0, 1},
		{"u16.tif", 128, 1},
		{"f32nan.tif", 0, 1},
		{"cog.tif", 128, 3},
		{"rotated.tif", 0, 1},
		{"polar.tif", 0, 1},
	} {
		t.Run(fmt.Sprintf("%s/%d", c.name, c.tileSize), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, filepath.Join(dir, "table"))
			o := quietOpts()
			o.TileSize = c.tileSize
			sum, err := Ingest(ctx, s, []string{td(c.name)}, o)
			if err != nil {
				t.Fatal(err)
			}
			if !sum.Committed || sum.Tiles == 0 || len(sum.Files) == 0 {
				t.Fatalf("summary %+v", sum)
			}
			for level := 0; level < c.levels; level++ {
				out := filepath.Join(dir, fmt.Sprintf("out%d.tif", level))
				if err := Export(ctx, s, ExportOptions{Source: td(c.name), Out: out, Level: level}); err != nil {
					t.Fatal(err)
				}
				assertSameRaster(t, td(c.name), level, out)
			}
		})
	}
}
