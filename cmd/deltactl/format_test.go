package main

import "testing"

func TestSizeAndCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1: "1 byte", 512: "512 bytes", 1023: "1023 bytes", 1024: "1 KiB",
		102663: "100.3 KiB", 64 << 20: "64 MiB", 3 << 30: "3 GiB", 1 << 62: "4 EiB", 1075: "1 KiB", 1536: "1.5 KiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 files", 1: "1 file", 2: "2 files"} {
		if got := count(n, "file"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
