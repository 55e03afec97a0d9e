// Command ingestd is the ingest daemon: it watches a prefix of a store for new and changed
// rasters and ingests them into a raster table, batch by batch, one commit per batch, exactly
// once across restarts, kill -9 and replicas. The logic is in package ingest/daemon; this
// command is flags, logs, signals and the HTTP endpoints.
//
// Exit status: 0 on success (and after SIGTERM or SIGINT), 1 on failure, 2 on a usage error.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
