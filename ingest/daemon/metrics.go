package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a source, the values of the result label of sources_total.
const (
	ResultAdded      = "added"
	ResultUnchanged  = "unchanged"
	ResultReplaced   = "replaced"
	ResultFailed     = "failed"      // one failed attempt
	ResultDeadLetter = "dead_letter" // written to the dead-letter location after the last attempt
)

// Metrics are the daemon's Prometheus metrics, all named deltaraster_ingestd_*.
type Metrics struct {
	Sources           *prometheus.CounterVec
	Tiles             prometheus.Counter
	BytesWritten      prometheus.Counter
	Commits           prometheus.Counter
	CommitConflicts   prometheus.Counter
	BatchFailures     prometheus.Counter
	CommitSeconds     prometheus.Histogram
	BatchSeconds      prometheus.Histogram
	Backlog           prometheus.Gauge
	LastVersion       prometheus.Gauge
	CheckpointSeconds prometheus.Histogram
}

// NewMetrics makes the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "deltaraster", "ingestd"
	buckets := prometheus.ExponentialBuckets(0.01, 2, 16) // 10 ms to about 5.5 min
	m := &Metrics{
		Sources: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sources_total",
			Help: "Sources by result: added, unchanged, replaced (committed or found in the table), failed (one failed attempt), dead_letter (given up)."},
			[]string{"result"}),
		Tiles: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tiles_total",
			Help: "Tiles of ingested sources committed."}),
		BytesWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bytes_written_total",
			Help: "Bytes of data files committed."}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "commits_total",
			Help: "Commits made to the table."}),
		CommitConflicts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "commit_conflicts_total",
			Help: "Commit writes that lost the race for their version to another writer (then checked and retried)."}),
		BatchFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "batch_failures_total",
			Help: "Batches that failed as a whole (the table unreachable, a store error while writing or committing): retried with backoff, never counted against a source."}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "commit_seconds",
			Help: "Duration of each conditional write of a commit file, won or lost.", Buckets: buckets}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_seconds",
			Help: "Duration of a batch: every Ingest call of it, retries without failing sources included.", Buckets: buckets}),
		Backlog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "backlog",
			Help: "Sources seen and not yet committed (queued, in the batch in flight, or waiting to be retried)."}),
		LastVersion: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_version",
			Help: "The latest table version this daemon has read (its own commits and others')."}),
		CheckpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "checkpoint_seconds",
			Help: "Duration of the post-commit work of commits at a checkpoint interval (.crc and checkpoint).", Buckets: buckets}),
	}
	m.LastVersion.Set(-1)
	for _, r := range []string{ResultAdded, ResultUnchanged, ResultReplaced, ResultFailed, ResultDeadLetter} {
		m.Sources.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Sources, m.Tiles, m.BytesWritten, m.Commits, m.CommitConflicts, m.BatchFailures, m.CommitSeconds,
			m.BatchSeconds, m.Backlog, m.LastVersion, m.CheckpointSeconds)
	}
	return m
}
