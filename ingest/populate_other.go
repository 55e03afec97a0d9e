//go:build unix && !linux

package ingest

// mapPopulate is Linux's MAP_POPULATE; elsewhere chunks fault in as they are written.
const mapPopulate = 0
