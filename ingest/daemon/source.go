package daemon

import "context"

// Source is where a Daemon's work comes from: a watched prefix (Watch), or any other feed of
// objects to ingest.
//
// Contract: Poll returns the work available now, leaving out what known reports as known (held
// by the table at that version, queued, or given up in this process); a failed or cancelled
// Poll returns an error, never a short result that looks complete. Every Work that Poll
// returned is later passed to exactly one of Settled (the table holds the source at that
// version, committed by this daemon or by another writer, or it was dead-lettered: an
// at-least-once feed acks it here) and Dropped (not done: abandoned at shutdown, or the source
// changed or vanished while it was read: the source offers it again if it is still there; an
// at-least-once feed nacks it), or to none when the process ends first. The Daemon calls these
// from one goroutine; String names the source in logs; the Daemon does not close it.
type Source interface {
	Poll(ctx context.Context, known func(id, version string) bool) ([]Work, error)
	Settled(w Work)
	Dropped(w Work)
	String() string
}
