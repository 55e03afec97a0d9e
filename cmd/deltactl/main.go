// Command deltactl inspects and manages Delta Lake tables: create them, show a snapshot's
// protocol, metadata and size, list its live files, and show its commit history.
//
// Exit status: 0 on success, 1 on failure (the message on stderr), 2 on a usage error.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
