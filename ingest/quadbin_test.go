package ingest

import (
	"testing"

	"github.com/deltaraster/deltaraster/quadbin"
)

func TestQuadbinResolutionFor(t *testing.T) {
	for _, c := range []struct {
		span float64
		want int
	}{
		{720, 0}, {360, 0}, {180, 1}, {1, 8}, {0.7, 9}, {1e-9, quadbin.MaxResolution}, {0, quadbin.MaxResolution},
	} {
		if z := quadbinResolutionFor(c.span); z != c.want {
			t.Errorf("span %g: %d, want %d", c.span, z, c.want)
		}
	}
}
