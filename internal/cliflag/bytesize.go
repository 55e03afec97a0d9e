// Package cliflag holds the flag types the two commands share.
package cliflag

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// ByteSize is a size flag (a pflag.Value): a number of bytes, with an optional suffix (KiB, MiB, GiB, TiB or
// K, M, G, T: powers of 1024; KB, MB, GB, TB: powers of 1000; B: bytes), case-insensitive.
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first, so that "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseByteSize reads a size as ByteSize.Set does.
func ParseByteSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(n) || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes, or a number with a suffix such as 64MiB or 1GB", s)
	}
	v := n * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(v), nil
}

func (b *ByteSize) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

func (b ByteSize) Type() string { return "size" }

// String is the size in the largest binary unit that divides it (64MiB), else to a tenth of
// the largest unit it reaches (1.5MiB, 889.4KiB), else in bytes.
func (b ByteSize) String() string {
	n := int64(b)
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		if m := int64(1) << (10 * (len(units) - i)); n >= m && n%m == 0 {
			return strconv.FormatInt(n/m, 10) + u
		}
	}
	for i, u := range units {
		if m := int64(1) << (10 * (len(units) - i)); n >= m {
			return strconv.FormatFloat(float64(n)/float64(m), 'f', 1, 64) + u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// NoDefault keeps --help from printing a default for the named flags of fs: for flags whose
// zero value means "unset" (a size of 0B would read as a size of zero).
func NoDefault(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil {
			f.DefValue = ""
		}
	}
}
