package ingest

import (
	"math"

	"github.com/deltaraster/deltaraster/quadbin"
)

// quadbinResolutionFor returns the QUADBIN resolution used for a tile whose longitude span is
// span degrees: the finest zoom whose cells (360/2^z degrees wide) are at least as wide as the
// tile, so a cell is about one tile. Tiles wider than the world get 0; tiny ones 26.
func quadbinResolutionFor(span float64) int {
	if !(span > 0) {
		return quadbin.MaxResolution
	}
	z := int(math.Floor(math.Log2(360 / span)))
	return max(0, min(quadbin.MaxResolution, z))
}
