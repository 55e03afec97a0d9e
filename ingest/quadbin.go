package ingest

import "math"

// QUADBIN (CARTO's hierarchical index of Web Mercator tiles, resolutions 0 to 26) encodes a
// tile x, y at zoom z in 64 bits: bit 62 set (header), mode 1 in bits 59-62, z in bits 52-56,
// x and y interleaved (Morton order, y in the odd bits) below, and the unused low bits set to
// one. The functions here follow CARTO's reference implementation (quadbin-py) and are tested
// against its published values.

// QuadbinMaxResolution is the finest QUADBIN resolution.
const QuadbinMaxResolution = 26

const (
	quadbinHeader = 0x4000000000000000
	quadbinMode   = 1 << 59
	quadbinFooter = 0xFFFFFFFFFFFFF
	quadbinMaxLat = 89.0 // latitude is clipped here, as CARTO's libraries do
)

var (
	quadbinB = [6]uint64{
		0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F,
		0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF,
	}
	quadbinS = [5]uint64{1, 2, 4, 8, 16}
)

// QuadbinFromTile returns the QUADBIN cell of Web Mercator tile x, y at zoom z (0 <= z <= 26,
// x and y below 2^z).
func QuadbinFromTile(x, y uint32, z int) uint64 {
	xx := uint64(x) << (32 - z)
	yy := uint64(y) << (32 - z)
	for i := 4; i >= 0; i-- {
		xx = (xx | (xx << quadbinS[i])) & quadbinB[i]
		yy = (yy | (yy << quadbinS[i])) & quadbinB[i]
	}
	return quadbinHeader | quadbinMode | uint64(z)<<52 | (xx|yy<<1)>>12 | quadbinFooter>>(2*z)
}

// QuadbinToTile is the inverse of QuadbinFromTile.
func QuadbinToTile(cell uint64) (x, y uint32, z int) {
	z = int(cell >> 52 & 31)
	q := (cell & quadbinFooter) << 12
	xx, yy := q&quadbinB[0], (q>>1)&quadbinB[0]
	for i := 0; i < 5; i++ {
		xx = (xx | (xx >> quadbinS[i])) & quadbinB[i+1]
		yy = (yy | (yy >> quadbinS[i])) & quadbinB[i+1]
	}
	return uint32(xx >> (32 - z)), uint32(yy >> (32 - z)), z
}

// QuadbinResolution returns the resolution (zoom) of a cell.
func QuadbinResolution(cell uint64) int { return int(cell >> 52 & 31) }

// Quadbin returns the cell at resolution z (clamped to 0..26) holding the point lon, lat
// (degrees; latitude clipped to +-89, longitude wrapped).
func Quadbin(lon, lat float64, z int) uint64 {
	z = max(0, min(QuadbinMaxResolution, z))
	lon = max(-180, min(180, lon))
	lat = max(-quadbinMaxLat, min(quadbinMaxLat, lat))
	z2 := float64(uint64(1) << z)
	sinLat := math.Sin(lat * math.Pi / 180)
	x := z2 * (lon/360 + 0.5)
	y := z2 * (0.5 - 0.25*math.Log((1+sinLat)/(1-sinLat))/math.Pi)
	y = max(0, min(z2-1, y))
	x = math.Mod(x, z2)
	if x < 0 {
		x += z2
	}
	return QuadbinFromTile(uint32(math.Floor(x)), uint32(math.Floor(y)), z)
}

// quadbinResolutionFor returns the resolution used for a tile whose longitude span is span
// degrees: the finest zoom whose cells (360/2^z degrees wide) are at least as wide as the tile,
// so a cell is about one tile. Tiles wider than the world get 0; tiny ones 26.
func quadbinResolutionFor(span float64) int {
	if !(span > 0) {
		return QuadbinMaxResolution
	}
	z := int(math.Floor(math.Log2(360 / span)))
	return max(0, min(QuadbinMaxResolution, z))
}
