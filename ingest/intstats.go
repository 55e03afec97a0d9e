package ingest

/*
#cgo CFLAGS: -O3
#include <stdint.h>

// Integer band statistics in C: GCC vectorizes these loops (SSE2, or AVX2 where the processor
// has it, chosen at load time through target_clones); Go's compiler does not, and the loop
// was 7% of a large ingest's CPU. Integer arithmetic only, so the result is exact and the
// same whichever version runs.

// target_clones needs GCC's ifunc support: x86-64 with glibc. Elsewhere one version, which
// GCC still vectorizes for the target's baseline.
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__)
#define DR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DR_CLONES
#endif

typedef struct {
	int64_t sum, n;
	int64_t min, max; // meaningful when n > 0
} dr_istats;

// Rows are summed in ACC (wide enough for MaxTileSize pixels of T), then into int64. With
// nodata, a row's sum is that of every pixel less nd times the nodata pixels, and a nodata
// pixel counts as TMAX for the minimum and TMIN for the maximum, through a mask m of all
// ones: no branch, so that loop vectorizes too.
#define DR_INTSTATS(NAME, T, ACC, TMIN, TMAX)                                          \
DR_CLONES                                                                              \
static void NAME(const T *p, int ts, int w, int h, int hasnd, T nd, dr_istats *out) {  \
	T mn = TMAX, mx = TMIN;                                                        \
	int64_t sum = 0, n = 0;                                                        \
	for (int y = 0; y < h; y++) {                                                  \
		const T *line = p + (int64_t)y * ts;                                   \
		ACC s = 0;                                                             \
		if (!hasnd) {                                                          \
			for (int x = 0; x < w; x++) {                                  \
				T v = line[x];                                         \
				s += v;                                                \
				mn = v < mn ? v : mn;                                  \
				mx = v > mx ? v : mx;                                  \
			}                                                              \
			n += w;                                                        \
		} else {                                                               \
			ACC c = 0;                                                     \
			for (int x = 0; x < w; x++) {                                  \
				T v = line[x];                                         \
				T m = -(T)(v == nd);                                   \
				T keep = v & ~m;                                       \
				T lo = keep | ((T)TMAX & m), hi = keep | ((T)TMIN & m); \
				c += m & 1;                                            \
				s += v;                                                \
				mn = lo < mn ? lo : mn;                                \
				mx = hi > mx ? hi : mx;                                \
			}                                                              \
			s -= c * (ACC)nd;                                              \
			n += w - c;                                                    \
		}                                                                      \
		sum += s;                                                              \
	}                                                                              \
	out->sum = sum;                                                                \
	out->n = n;                                                                    \
	out->min = mn;                                                                 \
	out->max = mx;                                                                 \
}

DR_INTSTATS(dr_stats_u8, uint8_t, int32_t, 0, UINT8_MAX)
DR_INTSTATS(dr_stats_u16, uint16_t, int32_t, 0, UINT16_MAX)
DR_INTSTATS(dr_stats_i16, int16_t, int32_t, INT16_MIN, INT16_MAX)
DR_INTSTATS(dr_stats_u32, uint32_t, int64_t, 0, UINT32_MAX)
DR_INTSTATS(dr_stats_i32, int32_t, int64_t, INT32_MIN, INT32_MAX)
*/
import "C"

import (
	"math"
	"unsafe"
)

// integer is the integer pixel types: their statistics need no float conversion per pixel.
type integer interface {
	~uint8 | ~uint16 | ~int16 | ~uint32 | ~int32
}

// intRange is the range of T as float64.
func intRange[T integer]() (lo, hi float64) {
	var z T
	switch any(z).(type) {
	case uint8:
		return 0, math.MaxUint8
	case uint16:
		return 0, math.MaxUint16
	case int16:
		return math.MinInt16, math.MaxInt16
	case uint32:
		return 0, math.MaxUint32
	default:
		return math.MinInt32, math.MaxInt32
	}
}

// intStats are the statistics of the w x h pixels at the top left of a tile of stride ts
// (w <= ts <= MaxTileSize). Pixels equal to the nodata value are not valid; a nodata value
// that T cannot hold matches no pixel. Sums are exact.
func intStats[T integer](out []T, ts, w, h int, hasND bool, noData float64) bandStats {
	if h > 0 && (w > ts || (h-1)*ts+w > len(out) || ts > MaxTileSize) {
		panic("intStats: window outside the tile")
	}
	var nd T
	if hasND {
		if lo, hi := intRange[T](); noData == math.Trunc(noData) && noData >= lo && noData <= hi {
			nd = T(noData)
		} else {
			hasND = false
		}
	}
	var s C.dr_istats
	if w > 0 && h > 0 {
		p, cts, cw, ch, has := unsafe.Pointer(unsafe.SliceData(out)), C.int(ts), C.int(w), C.int(h), C.int(0)
		if hasND {
			has = 1
		}
		switch v := any(nd).(type) {
		case uint8:
			C.dr_stats_u8((*C.uint8_t)(p), cts, cw, ch, has, C.uint8_t(v), &s)
		case uint16:
			C.dr_stats_u16((*C.uint16_t)(p), cts, cw, ch, has, C.uint16_t(v), &s)
		case int16:
			C.dr_stats_i16((*C.int16_t)(p), cts, cw, ch, has, C.int16_t(v), &s)
		case uint32:
			C.dr_stats_u32((*C.uint32_t)(p), cts, cw, ch, has, C.uint32_t(v), &s)
		case int32:
			C.dr_stats_i32((*C.int32_t)(p), cts, cw, ch, has, C.int32_t(v), &s)
		default:
			panic("intStats: a named pixel type") // pixel types are the predeclared ones
		}
	}
	if s.n == 0 {
		return bandStats{Min: nan, Max: nan, Mean: nan}
	}
	return bandStats{Min: float64(s.min), Max: float64(s.max), Mean: float64(s.sum) / float64(s.n), Valid: int64(s.n)}
}
