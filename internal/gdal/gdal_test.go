package gdal

import (
	"strings"
	"testing"
)

func TestCacheMax(t *testing.T) {
	SetCacheMax(3 << 20)
	if got := CacheMax(); got != 3<<20 {
		t.Fatalf("CacheMax = %d, want %d", got, 3<<20)
	}
	SetCacheMax(64 << 20)
	if got := CacheMax(); got != 64<<20 {
		t.Fatalf("CacheMax = %d, want %d", got, 64<<20)
	}
	if CacheUsed() < 0 {
		t.Fatal("negative cache use")
	}
}

func TestWKT2(t *testing.T) {
	w, err := WKT2("+proj=laea +lat_0=45 +lon_0=5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w, "PROJCRS[") || strings.Contains(w, "\n") {
		t.Fatalf("not one-line WKT2: %q", w)
	}
	if _, err := WKT2("not a crs"); err == nil {
		t.Fatal("want an error for garbage")
	}
}
