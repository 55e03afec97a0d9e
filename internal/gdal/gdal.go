// Package gdal is the small cgo shim deltaraster needs beside godal: the process-wide GDAL
// block cache limit, which must be set through GDALSetCacheMax64 before the cache is first used
// (godal's per-call GDAL_CACHEMAX config option is read only when the cache is created, and
// ignored afterwards), and WKT2 export of a coordinate reference system, which godal does not
// offer (it exports WKT1).
//
// Everything here is safe for concurrent use: GDAL guards the cache settings with its own mutex.
package gdal

/*
#cgo pkg-config: gdal
#include <stdlib.h>
#include <gdal.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <ogr_srs_api.h>

// dr_wkt2 converts any CRS definition GDAL accepts (WKT1, WKT2, PROJ string, EPSG:n) to
// WKT2_2019. It returns NULL and sets *err (to be freed with free) on failure.
static char *dr_wkt2(const char *def, char **err) {
	*err = NULL;
	CPLErrorReset();
	OGRSpatialReferenceH sr = OSRNewSpatialReference(NULL);
	if (OSRSetFromUserInput(sr, def) != OGRERR_NONE) {
		const char *msg = CPLGetLastErrorMsg();
		*err = CPLStrdup(msg && *msg ? msg : "not a coordinate reference system");
		OSRDestroySpatialReference(sr);
		return NULL;
	}
	char *out = NULL;
	const char *const opts[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
	if (OSRExportToWktEx(sr, &out, opts) != OGRERR_NONE || out == NULL) {
		const char *msg = CPLGetLastErrorMsg();
		*err = CPLStrdup(msg && *msg ? msg : "cannot export as WKT2");
		CPLFree(out);
		OSRDestroySpatialReference(sr);
		return NULL;
	}
	OSRDestroySpatialReference(sr);
	return out;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// SetCacheMax sets the process-wide GDAL block cache limit in bytes. Call it before the first
// raster read of the process so the cache never grows past it; a later call lowers (flushing)
// or raises the limit.
func SetCacheMax(bytes int64) {
	C.GDALSetCacheMax64(C.GIntBig(bytes))
}

// CacheMax returns the current GDAL block cache limit in bytes.
func CacheMax() int64 { return int64(C.GDALGetCacheMax64()) }

// CacheUsed returns the bytes the GDAL block cache holds now.
func CacheUsed() int64 { return int64(C.GDALGetCacheUsed64()) }

// WKT2 returns the WKT2 (2019) form, on one line, of a CRS definition GDAL accepts (WKT1,
// WKT2, a PROJ string or EPSG:n).
func WKT2(def string) (string, error) {
	cdef := C.CString(def)
	defer C.free(unsafe.Pointer(cdef))
	var cerr *C.char
	out := C.dr_wkt2(cdef, &cerr)
	if out == nil {
		msg := "cannot convert CRS to WKT2"
		if cerr != nil {
			msg = "convert CRS to WKT2: " + C.GoString(cerr)
			C.CPLFree(unsafe.Pointer(cerr))
		}
		return "", errors.New(msg)
	}
	defer C.CPLFree(unsafe.Pointer(out))
	return C.GoString(out), nil
}
