package gdal

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// dr_tune_malloc fixes glibc's allocation thresholds at the values its dynamic adjustment
// climbs to on a 64-bit machine (DEFAULT_MMAP_THRESHOLD_MAX, and twice that for trimming).
// It returns 0 where malloc is not glibc's.
static int dr_tune_malloc(void) {
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	return 1;
#else
	return 0;
#endif
}

// dr_trim gives the free memory of every malloc arena back to the system.
static void dr_trim(void) {
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
*/
import "C"

import (
	"os"
	"strings"
	"sync"
)

// GDAL's block cache allocates a block with malloc each time it reads one and frees it on
// eviction or when its dataset closes. Under glibc's defaults, blocks of 128 KiB and more
// (a 256x256 UInt16 band block is exactly that) go through a sliding threshold: the first
// ones are mmap'd, and a free at the top of an arena larger than twice the block is trimmed
// (madvise) at once, so the next block faults its pages in again. Decoding a 512 MB scene that
// way took 52,000 page faults, about 0.4 CPU seconds on a virtual machine where a fault costs
// 8 microseconds; with the thresholds fixed, 27,000 (bench/RESULTS.md). What the arenas keep
// in between is given back by ReleaseMemory, when the process goes idle.

var tuneOnce sync.Once

// TuneMalloc fixes glibc's mmap and trim thresholds (32 and 64 MiB, the ceilings of its own
// adjustment) for the process, once. It does nothing when the process was started with the
// thresholds set (GLIBC_TUNABLES naming either, MALLOC_MMAP_THRESHOLD_ or
// MALLOC_TRIM_THRESHOLD_), or when malloc is not glibc's. It reports whether this call set
// them (only the first call can).
func TuneMalloc() bool {
	set := false
	tuneOnce.Do(func() {
		if userMallocSettings(os.Getenv) {
			return
		}
		set = C.dr_tune_malloc() == 1
	})
	return set
}

// userMallocSettings reports whether the environment sets glibc's malloc thresholds.
func userMallocSettings(getenv func(string) string) bool {
	t := getenv("GLIBC_TUNABLES")
	if strings.Contains(t, "glibc.malloc.mmap_threshold") || strings.Contains(t, "glibc.malloc.trim_threshold") {
		return true
	}
	return getenv("MALLOC_MMAP_THRESHOLD_") != "" || getenv("MALLOC_TRIM_THRESHOLD_") != ""
}

// ReleaseMemory gives the memory that malloc holds free (GDAL's blocks of rasters now closed,
// among others) back to the system: call it when the process goes idle.
func ReleaseMemory() {
	C.dr_trim()
}
