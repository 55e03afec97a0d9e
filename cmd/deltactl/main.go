// Command deltactl inspects and manages Delta Lake tables: create them, show a snapshot's
// protocol, metadata and size, list its live files, show its commit history, checkpoint and
// clean up its log, ingest rasters into a raster table and export them back.
//
// Exit status: 0 on success, 1 on failure (the message on stderr), 2 on a usage error.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
