package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a size flag: bytes, with an optional suffix (KiB, MiB, GiB, TiB or K, M, G, T:
// powers of 1024; KB, MB, GB, TB: powers of 1000; B: bytes), case-insensitive; deltactl's
// sizes read the same way.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

func (b *byteSize) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(n) || n < 0 || n*mult >= math.MaxInt64 || n*mult != math.Trunc(n*mult) {
		return fmt.Errorf("size %q: want bytes, or a number with a suffix such as 64MiB or 1GB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b byteSize) Type() string { return "size" }

func (b byteSize) String() string {
	n := int64(b)
	for i, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if m := int64(1) << (10 * (4 - i)); n >= m && n%m == 0 {
			return strconv.FormatInt(n/m, 10) + u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
