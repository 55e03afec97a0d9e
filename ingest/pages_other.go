//go:build !unix

package ingest

// allocChunk allocates a page buffer chunk on the heap (see pages_unix.go).
func allocChunk(n int) []byte { return make([]byte, n) }

// freeChunk returns a chunk of allocChunk: the collector frees it.
func freeChunk([]byte) {}
