package ingest

import "testing"

// Values from CARTO's quadbin-py tests (tests/unit/test_main.py: point_to_cell, tile_to_cell,
// cell_to_children and the point cases of geometry_to_cells at resolutions 0, 10, 17) and its
// README.
func TestQuadbinKnownValues(t *testing.T) {
	for _, c := range []struct {
		lon, lat float64
		z        int
		want     uint64
	}{
		{33.75, -11.178401873711776, 4, 5209574053332910079},
		{-3.71219873428345, 40.413365349070865, 0, 5192650370358181887},
		{-3.71219873428345, 40.413365349070865, 10, 5234261499580514303},
		{-3.71219873428345, 40.413365349070865, 17, 5265786693163941887},
		{-3.7038, 40.4168, 10, 5234261499580514303},
	} {
		if got := Quadbin(c.lon, c.lat, c.z); got != c.want {
			t.Errorf("Quadbin(%v, %v, %d) = %d, want %d", c.lon, c.lat, c.z, got, c.want)
		}
	}
	if got := QuadbinFromTile(9, 8, 4); got != 5209574053332910079 {
		t.Errorf("QuadbinFromTile(9, 8, 4) = %d", got)
	}
	if x, y, z := QuadbinToTile(5209574053332910079); x != 9 || y != 8 || z != 4 {
		t.Errorf("QuadbinToTile = %d %d %d", x, y, z)
	}
	if r := QuadbinResolution(5209574053332910079); r != 4 {
		t.Errorf("resolution %d", r)
	}
	// Children of the resolution-0 cell, in quadbin-py's order.
	for i, want := range []uint64{5193776270265024511, 5196028070078709759, 5194902170171867135, 5197153969985552383} {
		x, y := uint32(i/2), uint32(i%2)
		if got := QuadbinFromTile(x, y, 1); got != want {
			t.Errorf("child %d,%d = %d, want %d", x, y, got, want)
		}
	}
}

func TestQuadbinRoundTrip(t *testing.T) {
	for z := 0; z <= QuadbinMaxResolution; z++ {
		n := uint32(1) << z
		for _, xy := range [][2]uint32{{0, 0}, {n - 1, n - 1}, {n / 3, n / 2}} {
			c := QuadbinFromTile(xy[0], xy[1], z)
			if x, y, zz := QuadbinToTile(c); x != xy[0] || y != xy[1] || zz != z {
				t.Fatalf("z=%d %v -> %d -> %d %d %d", z, xy, c, x, y, zz)
			}
		}
	}
	if z := quadbinResolutionFor(360); z != 0 {
		t.Errorf("span 360: %d", z)
	}
	if z := quadbinResolutionFor(1); z != 8 {
		t.Errorf("span 1: %d", z)
	}
	if z := quadbinResolutionFor(0); z != QuadbinMaxResolution {
		t.Errorf("span 0: %d", z)
	}
}
