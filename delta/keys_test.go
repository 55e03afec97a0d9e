package delta

import "testing"

// FuzzPlainRelative: the allocation-free fast path never accepts a path the full check refuses.
func FuzzPlainRelative(f *testing.F) {
	for _, p := range []string{"a/b.parquet", "part=1/x.parquet", "../x", "/etc/x", "s3://b/x", "a/../../x",
		"a%2F..%2F..%2Fx", ".", "./", "a/./b", "a\\b", "C:x", "x..y/z", "a/.hidden", "", "%2e%2e/x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if plainRelative(p) && checkPathFull(p) != nil {
			t.Fatalf("plainRelative(%q) but full check: %v", p, checkPathFull(p))
		}
	})
}

func TestPlainRelative(t *testing.T) {
	for p, want := range map[string]bool{
		"tile_zoom=3/part-00001-abc.snappy.parquet": true,
		"x..y/z.parquet": true,
		"../x":           false,
		"a/.b":           false,
		"a%20b":          false,
		"s3://bucket/x":  false,
		"/etc/x":         false,
		"":               false,
	} {
		if got := plainRelative(p); got != want {
			t.Errorf("plainRelative(%q) = %v, want %v", p, got, want)
		}
	}
}
