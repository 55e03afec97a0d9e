package main

import (
	"strconv"
	"strings"
)

// size writes a number of bytes once, in the largest binary unit it reaches, to a tenth:
// 512 bytes, 1 byte, 100.3 KiB, 2 GiB.
func size(n int64) string {
	if n < 1024 && n > -1024 {
		return count(n, "byte")
	}
	f, unit := float64(n)/1024, 0
	for ; (f >= 1024 || f <= -1024) && unit < 5; unit++ {
		f /= 1024
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + string("KMGTPE"[unit]) + "iB"
}

// count writes n and its noun as English does: 1 file, 2 files, 0 files.
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
