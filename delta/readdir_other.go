//go:build !linux

package delta

import "os"

// readDirConsistent lists a directory. Elsewhere than Linux it is os.ReadDir, which reads in
// several calls: a listing concurrent with creates and unlinks in the directory may miss names.
func readDirConsistent(dir string) ([]dirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(entries))
	for i, e := range entries {
		out[i] = dirEntry{name: e.Name(), mode: e.Type()}
	}
	return out, nil
}
