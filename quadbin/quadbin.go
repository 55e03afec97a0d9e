// Package quadbin computes QUADBIN cells: CARTO's hierarchical index of Web Mercator tiles,
// resolutions 0 to 26, each cell one int64-sized number.
//
// A cell packs a tile x, y at zoom z into 64 bits: bit 62 set (the header), mode 1 in bits
// 59-62, z in bits 52-56, x and y interleaved in Morton order (y in the odd bits) from bit 51
// down, two bits per level, and every unused low bit set to one. Cells sort in quadtree order
// within a resolution, which is why raster tables sort and cluster their rows by them.
//
// The functions follow CARTO's reference implementation (quadbin-py) and its published values:
// a point is clipped to latitude +-89 and longitude +-180 before it is located, as CARTO's
// libraries do. Nothing here panics: resolutions out of range are clamped to 0..26.
package quadbin

import "math"

// MaxResolution is the finest QUADBIN resolution.
const MaxResolution = 26

const (
	header = 0x4000000000000000
	mode   = 1 << 59
	footer = 0xFFFFFFFFFFFFF // the 52 bits below the resolution
	maxLat = 89.0            // latitude is clipped here, as CARTO's libraries do
)

var (
	masks  = [6]uint64{0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF}
	shifts = [5]uint64{1, 2, 4, 8, 16}
)

func clampResolution(z int) int { return max(0, min(MaxResolution, z)) }

// FromTile returns the cell of Web Mercator tile x, y at zoom z (x and y count from the
// top-left, below 2^z). z is clamped to 0..26, and x and y keep only their low z bits.
func FromTile(x, y uint32, z int) uint64 {
	z = clampResolution(z)
	lim := uint64(1)<<z - 1
	xx := (uint64(x) & lim) << (32 - z)
	yy := (uint64(y) & lim) << (32 - z)
	for i := 4; i >= 0; i-- {
		xx = (xx | (xx << shifts[i])) & masks[i]
		yy = (yy | (yy << shifts[i])) & masks[i]
	}
	return header | mode | uint64(z)<<52 | (xx|yy<<1)>>12 | footer>>(2*z)
}

// ToTile returns the Web Mercator tile x, y at zoom z of a cell; it is the inverse of
// FromTile. On a number that is not a cell (see Valid) the result is meaningless.
func ToTile(cell uint64) (x, y uint32, z int) {
	z = Resolution(cell)
	q := (cell & footer) << 12
	xx, yy := q&masks[0], (q>>1)&masks[0]
	for i := 0; i < 5; i++ {
		xx = (xx | (xx >> shifts[i])) & masks[i+1]
		yy = (yy | (yy >> shifts[i])) & masks[i+1]
	}
	return uint32(xx >> (32 - z)), uint32(yy >> (32 - z)), z
}

// Resolution returns the resolution (zoom) of a cell.
func Resolution(cell uint64) int { return int(cell >> 52 & 31) }

// Valid reports whether n is a QUADBIN cell: header bit set, mode 1, resolution at most 26 and
// every bit below the resolution's x, y digits set. It is stricter than quadbin-py's
// is_valid_cell, which checks only some of the unused bits.
func Valid(n uint64) bool {
	z := Resolution(n)
	unused := uint64(footer) >> (2 * min(z, MaxResolution))
	return n&header == header && n>>59&7 == 1 && n>>63 == 0 && z <= MaxResolution && n&unused == unused
}

// FromLonLat returns the cell at resolution z (clamped to 0..26) that holds the point lon, lat
// in degrees (WGS84). Latitude is clipped to +-89 and longitude to +-180, as CARTO's libraries
// do; a point on a cell edge belongs to the cell east or south of it.
func FromLonLat(lon, lat float64, z int) uint64 {
	z = clampResolution(z)
	lon = max(-180, min(180, lon))
	lat = max(-maxLat, min(maxLat, lat))
	z2 := float64(uint64(1) << z)
	sinLat := math.Sin(lat * math.Pi / 180)
	x := z2 * (lon/360 + 0.5)
	y := z2 * (0.5 - 0.25*math.Log((1+sinLat)/(1-sinLat))/math.Pi)
	y = max(0, min(z2-1, y))
	x = math.Mod(x, z2)
	if x < 0 {
		x += z2
	}
	return FromTile(uint32(math.Floor(x)), uint32(math.Floor(y)), z)
}

// Bounds returns the longitude and latitude bounds of a cell in degrees.
func Bounds(cell uint64) (west, south, east, north float64) {
	x, y, z := ToTile(cell)
	n := float64(uint64(1) << z)
	lon := func(x float64) float64 { return 360*x/n - 180 }
	lat := func(y float64) float64 { return 360 * (math.Atan(math.Exp(-(2*y/n-1)*math.Pi))/math.Pi - 0.25) }
	return lon(float64(x)), lat(float64(y) + 1), lon(float64(x) + 1), lat(float64(y))
}
