package ingest

/*
#cgo pkg-config: gdal
#include <gdal.h>
*/
import "C"

import (
	"unsafe"

	"github.com/airbusgeo/godal"
)

// bandHandle is the GDALRasterBandH of a godal band: godal v0.0.18 keeps it as the only field
// of Band and does not export it (TestBandHandle checks the layout).
func bandHandle(b godal.Band) C.GDALRasterBandH {
	return *(*C.GDALRasterBandH)(unsafe.Pointer(&b))
}

// dropBlocks releases the blocks of the bands that GDAL's block cache holds (the bands are
// read-only here: nothing is written back).
func dropBlocks(bands []godal.Band) {
	for _, b := range bands {
		C.GDALFlushRasterCache(bandHandle(b))
	}
}

// bandNumber is GDALGetBandNumber through bandHandle (for tests: it checks the handle).
func bandNumber(b godal.Band) int { return int(C.GDALGetBandNumber(bandHandle(b))) }
