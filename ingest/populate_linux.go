package ingest

import "syscall"

// mapPopulate maps page buffer chunks populated (see allocChunk).
const mapPopulate = syscall.MAP_POPULATE
