package quadbin

import (
	"fmt"
	"math"
	"strconv"
	"testing"
)

// The published values below come from CARTO: quadbin-py's unit tests (tests/unit/test_main.py:
// point_to_cell, tile_to_cell, cell_to_tile, get_resolution, cell_to_bounding_box,
// is_valid_cell, index_to_string, cell_to_children, k_ring and the point cases of
// geometry_to_cells) and the Analytics Toolbox reference (QUADBIN_FROMLONGLAT, QUADBIN_BBOX).

func TestFromLonLatPublished(t *testing.T) {
	for _, c := range []struct {
		lon, lat float64
		z        int
		want     uint64
	}{
		{33.75, -11.178401873711776, 4, 5209574053332910079},
		{-3.7038, 40.4168, 4, 5207251884775047167},
		{-3.71219873428345, 40.413365349070865, 0, 5192650370358181887},
		{-3.71219873428345, 40.413365349070865, 10, 5234261499580514303},
		{-3.71219873428345, 40.413365349070865, 17, 5265786693163941887},
		{-3.7144088745117, 40.40965661286395, 17, 5265786693153193983},
		{-3.7144088745117, 40.40965661286395, 26, 5306319089799501962},
		{-3.7038, 40.4168, 10, 5234261499580514303},
	} {
		t.Run(fmt.Sprintf("%v,%v@%d", c.lon, c.lat, c.z), func(t *testing.T) {
			got := FromLonLat(c.lon, c.lat, c.z)
			if got != c.want {
				t.Fatalf("FromLonLat = %d, want %d", got, c.want)
			}
			if !Valid(got) || Resolution(got) != c.z {
				t.Fatalf("cell %d: valid %v, resolution %d", got, Valid(got), Resolution(got))
			}
		})
	}
}

// TestFromLonLatOnEdge: quadbin-py publishes 5306319089810037072 for the Madrid point of
// TestFromLonLatPublished at resolution 26, tile (32862428, 25305120). The point lies 4e-9 of
// a tile north of that tile's top edge: quadbin-py's own point_to_tile formula, run in CPython
// here, gives y = 25305119.999999996, so tile row 25305119, as FromLonLat does. The published
// cell is the one just south, sharing the edge the point sits on.
func TestFromLonLatOnEdge(t *testing.T) {
	const published = 5306319089810037072
	got := FromLonLat(-3.71219873428345, 40.413365349070865, 26)
	x, y, z := ToTile(got)
	px, py, pz := ToTile(published)
	if x != px || y+1 != py || z != pz {
		t.Fatalf("cell %d = tile %d %d %d; want the tile just north of the published %d %d %d", got, x, y, z, px, py, pz)
	}
	_, south, _, _ := Bounds(got)
	if d := math.Abs(south - 40.413365349070865); d > 1e-9 {
		t.Fatalf("point %g degrees from the shared edge, want on it", d)
	}
}

func TestTilePublished(t *testing.T) {
	const cell = 5209574053332910079
	if got := FromTile(9, 8, 4); got != cell {
		t.Errorf("FromTile(9, 8, 4) = %d, want %d", got, uint64(cell))
	}
	if x, y, z := ToTile(cell); x != 9 || y != 8 || z != 4 {
		t.Errorf("ToTile = %d %d %d, want 9 8 4", x, y, z)
	}
	if r := Resolution(cell); r != 4 {
		t.Errorf("Resolution = %d, want 4", r)
	}
	if s := strconv.FormatUint(cell, 16); s != "484c1fffffffffff" {
		t.Errorf("hex %s", s)
	}
	// Children, x-major as quadbin-py lists them.
	children := []struct {
		parent uint64
		z      int
		want   []uint64
	}{
		{5192650370358181887, 1, []uint64{5193776270265024511, 5196028070078709759, 5194902170171867135, 5197153969985552383}},
		{cell, 5, []uint64{5214064458820747263, 5214073254913769471, 5214068856867258367, 5214077652960280575}},
	}
	for _, c := range children {
		px, py, pz := ToTile(c.parent)
		d := c.z - pz
		i := 0
		for x := px << d; x <= px<<d|(1<<d-1); x++ {
			for y := py << d; y <= py<<d|(1<<d-1); y++ {
				if got := FromTile(x, y, c.z); got != c.want[i] {
					t.Errorf("child %d of %d = %d, want %d", i, c.parent, got, c.want[i])
				}
				i++
			}
		}
	}
	// The 1-ring of (9, 8, 4), row by row.
	ring := []uint64{
		5208043533147045887, 5208061125333090303, 5208113901891223551,
		5209556461146865663, 5209574053332910079, 5209626829891043327,
		5209591645518954495, 5209609237704998911, 5209662014263132159,
	}
	for i, want := range ring {
		x, y := uint32(8+i%3), uint32(7+i/3)
		if got := FromTile(x, y, 4); got != want {
			t.Errorf("FromTile(%d, %d, 4) = %d, want %d", x, y, got, want)
		}
	}
}

func TestBoundsPublished(t *testing.T) {
	for _, c := range []struct {
		cell uint64
		want [4]float64
	}{
		{5209574053332910079, [4]float64{22.5, -21.943045533438166, 45, 0}},
		{5207251884775047167, [4]float64{-22.5, 21.943045533438188, 0, 40.97989806962013}},
	} {
		w, s, e, n := Bounds(c.cell)
		got := [4]float64{w, s, e, n}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("Bounds(%d) = %v, want %v", c.cell, got, c.want)
				break
			}
		}
	}
}

func TestValid(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want bool
	}{
		{0, false},
		{5209574053332910078, false}, // an unused bit clear
		{6362495557939757055, false}, // mode 0: an index, not a cell
		{5209574053332910079, true},
		{5306319089810037072, true}, // resolution 26: no unused bits
		{FromTile(0, 0, 0) | 27<<52, false},
		{1<<63 | 5209574053332910079, false},
	} {
		if got := Valid(c.n); got != c.want {
			t.Errorf("Valid(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// TestRoundTrip: every resolution, tiles at the corners and inside, back to the same tile; the
// cell's bounds hold the point it was made from; out-of-range input is clamped, never a panic.
func TestRoundTrip(t *testing.T) {
	for z := 0; z <= MaxResolution; z++ {
		n := uint32(1) << z
		for _, xy := range [][2]uint32{{0, 0}, {n - 1, n - 1}, {n / 3, n / 2}, {n - 1, 0}} {
			c := FromTile(xy[0], xy[1], z)
			if !Valid(c) {
				t.Fatalf("z=%d %v: %d not valid", z, xy, c)
			}
			if x, y, zz := ToTile(c); x != xy[0] || y != xy[1] || zz != z {
				t.Fatalf("z=%d %v -> %d -> %d %d %d", z, xy, c, x, y, zz)
			}
		}
		lon, lat := 12.345, -54.321
		w, s, e, nn := Bounds(FromLonLat(lon, lat, z))
		if lon < w || lon > e || lat < s || lat > nn {
			t.Fatalf("z=%d: (%v, %v) outside its cell %v %v %v %v", z, lon, lat, w, s, e, nn)
		}
	}
	if got, want := FromLonLat(0, 0, 40), FromLonLat(0, 0, MaxResolution); got != want {
		t.Errorf("resolution 40: %d, want the resolution-26 cell %d", got, want)
	}
	if got, want := FromLonLat(0, 0, -3), FromLonLat(0, 0, 0); got != want {
		t.Errorf("resolution -3: %d, want %d", got, want)
	}
	if got, want := FromTile(5, 5, 64), FromTile(5, 5, MaxResolution); got != want {
		t.Errorf("FromTile z=64: %d, want %d", got, want)
	}
	if got, want := FromLonLat(10, 90, 3), FromLonLat(10, 89, 3); got != want {
		t.Errorf("latitude 90 not clipped to 89: %d, want %d", got, want)
	}
}

func FuzzToTile(f *testing.F) {
	f.Add(uint64(5209574053332910079))
	f.Add(uint64(0))
	f.Fuzz(func(t *testing.T, n uint64) {
		x, y, z := ToTile(n)
		_, _, _, _ = Bounds(n)
		if Valid(n) && FromTile(x, y, z) != n {
			t.Fatalf("valid cell %d does not round-trip: %d %d %d", n, x, y, z)
		}
	})
}
