package gdal

import (
	"strings"
)

// lineError is an error whose message is one line; it unwraps to the original.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

// OneLine makes err's message one line: GDAL reports a failed read as several errors (libtiff's
// "TIFFFillTile: Read error ...", then "TIFFReadEncodedTile() failed.", then GDAL's "PATH,
// band 1: IReadBlock failed ..."), which godal joins with newlines. They become one line
// joined by "; ", each once, with "gdal: " said once, and any of paths (the raster's, which
// the caller names already) left out. err is unchanged when it is one line already; the result
// wraps err.
func OneLine(err error, paths ...string) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	var parts []string
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		line = strings.TrimSpace(line)
		if i > 0 {
			// Only the first line keeps what wraps it; the others are GDAL's own.
			line = strings.TrimPrefix(line, "gdal: ")
		}
		for _, p := range paths {
			if p == "" {
				continue
			}
			for _, sep := range []string{": ", ", "} {
				line = strings.ReplaceAll(line, p+sep, "")
			}
		}
		line = strings.TrimSuffix(line, ".")
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		parts = append(parts, line)
	}
	return &lineError{msg: strings.Join(parts, "; "), err: err}
}
