//go:build unix

package ingest

import "syscall"

// allocChunk maps n bytes of anonymous memory: page buffers live outside the Go heap, so the
// row group they hold does not raise the garbage collector's target (on the heap, a row
// group's pages would let the heap's garbage grow by as much again before a collection).
func allocChunk(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

// freeChunk returns a chunk of allocChunk.
func freeChunk(b []byte) {
	if syscall.Munmap(b) != nil {
		return // a heap chunk (the mapping failed): the collector frees it
	}
}
