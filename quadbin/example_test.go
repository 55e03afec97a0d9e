package quadbin_test

import (
	"fmt"

	"github.com/deltaraster/deltaraster/quadbin"
)

// The cell of a point in Madrid at resolution 4, the tile it names and its bounds.
func Example() {
	cell := quadbin.FromLonLat(-3.7038, 40.4168, 4)
	x, y, z := quadbin.ToTile(cell)
	w, s, e, n := quadbin.Bounds(cell)
	fmt.Println(cell, quadbin.Resolution(cell))
	fmt.Println(x, y, z)
	fmt.Printf("%.4f %.4f %.4f %.4f\n", w, s, e, n)
	// Output:
	// 5207251884775047167 4
	// 7 6 4
	// -22.5000 21.9430 0.0000 40.9799
}
