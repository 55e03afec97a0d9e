package main

import "github.com/deltaraster/deltaraster/internal/cliflag"

// byteSize is a size flag, read as deltactl's sizes are (cliflag.ByteSize).
type byteSize = cliflag.ByteSize
