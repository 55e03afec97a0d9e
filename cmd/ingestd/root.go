package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	_ "gocloud.dev/pubsub/awssnssqs"    // awssqs://HOST/ACCOUNT/QUEUE subscriptions (SQS, SNS fan-out)
	_ "gocloud.dev/pubsub/azuresb"      // azuresb://TOPIC?subscription=S ($SERVICEBUS_CONNECTION_STRING)
	_ "gocloud.dev/pubsub/gcppubsub"    // gcppubsub://projects/P/subscriptions/S ($PUBSUB_EMULATOR_HOST)
	_ "gocloud.dev/pubsub/mempubsub"    // mem:// subscriptions (in-process)
	_ "gocloud.dev/pubsub/rabbitpubsub" // rabbit://QUEUE subscriptions on $RABBIT_SERVER_URL
	"golang.org/x/sync/errgroup"

	"github.com/deltaraster/deltaraster/checkpoint"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/ingest/daemon"
	_ "github.com/deltaraster/deltaraster/ingest/daemon/kafkapubsub" // kafka://GROUP?topic=T on $KAFKA_BROKERS
	"github.com/deltaraster/deltaraster/ingest/daemon/subcheck"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	envPrefix   = "DELTARASTER_"
)

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// run runs ingestd with args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetContext(ctx)
	err := cmd.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "ingestd:", err)
	// The run's own errors are failures (failureError, from RunE) unless it found a usage
	// error itself; anything else came out of cobra or the flags (an unknown flag, a bad value,
	// a variable of the environment that does not parse): usage.
	var ue *usageError
	var fe *failureError
	if errors.As(err, &fe) && !errors.As(err, &ue) {
		return exitFailure
	}
	return exitUsage
}

// failureError marks an error of the daemon's run (exit status 1).
type failureError struct{ err error }

func (e *failureError) Error() string { return e.err.Error() }
func (e *failureError) Unwrap() error { return e.err }

// envName is the environment variable of a flag: DELTARASTER_ and the flag's name in upper
// case with - as _.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagsFromEnv sets every flag not given on the command line from its environment variable.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageErrorf("invalid value %q of %s (--%s): %v", v, envName(f.Name), f.Name, serr)
			}
		}
	})
	return err
}

type config struct {
	table, watch, shard, deadLetter, appID  string
	subscribe, sourceQuery                  string
	idle                                    time.Duration
	poll, batchWait, retryBackoff, shutdown time.Duration
	once, keepEmpty                         bool
	batchMax, maxAttempts, tileSize         int
	levels                                  []int
	bands                                   []string
	cacheMax, targetFile, memoryLimit       byteSize
	maxPixels, checkpointInterval           int64
	logFormat, logLevel, metricsAddr        string
}

func newRootCmd() *cobra.Command {
	c := config{cacheMax: byteSize(ingest.DefaultCacheMaxBytes), targetFile: byteSize(ingest.DefaultTargetFileBytes)}
	cmd := &cobra.Command{
		Use:   "ingestd --table URL (--watch URL | --subscribe URL) [flags]",
		Short: "Ingest rasters arriving under a prefix into a raster table, exactly once",
		Long: `ingestd watches a prefix (--watch: a local directory, or a file://, s3://, gs://, azblob://
or mem:// URL) and ingests the rasters that arrive there into the raster table at --table, as
deltactl ingest would, in batches: one commit per batch of up to --batch-max-sources sources,
or fewer once the oldest has waited --batch-max-wait.

What is work: the prefix is listed every --poll. An object is work when the table does not hold
its source at its version: new objects, and objects whose version changed (the ETag, on GCS too;
size and modification time for local files) are ingested, and a changed one replaces its old
tiles. A local file is taken once two listings in a row saw the same size and modification time
(it may still be being written; --once takes what is there). Keys with a path element starting
with "." or "_" are skipped. Which (source, version) pairs the table holds is kept in memory as
16-byte hashes, built from the table's log at start and kept current by reading each new commit.

Or the work comes from a queue (--subscribe URL, a gocloud.dev/pubsub subscription) carrying
object-created notifications: S3 event records (AWS, MinIO), GCS Pub/Sub notifications, Azure
Event Grid BlobCreated events, or a bare URL per message. A message is acked only after the
commit that holds its objects (or once they are found in the table, or dead-lettered); nacked
when its batch is abandoned. Objects in the table itself or under --dead-letter, and keys with
a path element starting with "." or "_", are never work (a bucket-wide notification would
otherwise feed ingestd its own files). Each poll receives until no message came for --idle;
with --once the run ends there. --source-query gives the URL parameters to read notified
objects with. Drivers that retry an unreachable server inside each receive (Pub/Sub, Service
Bus) would make a server gone after the start look like an empty queue: after a minute without
a message, a poll checks the subscription again as at start, and a failure is logged and fails
/readyz until the server answers.
This build links six drivers: rabbit://, awssqs://, gcppubsub://, azuresb://, kafka:// and
mem:// (in-process, for tests).

RabbitMQ: --subscribe rabbit://QUEUE consumes the queue QUEUE, which must exist (bound to the
exchange the store's notifications are published to, such as MinIO's MINIO_NOTIFY_AMQP_*
target), on the server of the environment variable RABBIT_SERVER_URL, such as
amqp://user:password@rabbit.example.net:5672/ (as gocloud.dev's rabbitpubsub reads it). A
message is acked after the commit holding its objects and nacked (requeued, so delivered again,
to this replica or another) when its batch is abandoned; a replica killed with messages in
flight leaves them unacked, and RabbitMQ delivers them again when its connection closes. A
replica holds at most ?prefetch_count=N unacked messages (default 4 x --batch-max-sources; not
bounded with --once), so replicas on one queue share the work. When the broker closes the
connection (a restart), the next poll subscribes again.

Amazon SQS: --subscribe awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE?region=REGION consumes
the queue (its URL, less https://) that S3's event notifications go to, directly or through an
SNS topic (the SNS envelope is unwrapped; raw delivery works too). Credentials and region come
from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an
instance role; AWS_REGION or ?region=). Another SQS endpoint (a compatible server) is set with
AWS_ENDPOINT_URL_SQS (or ?endpoint=URL), which leaves AWS_ENDPOINT_URL to the S3 reads. A
message is deleted (acked) after the commit holding its objects; nacked (made visible again at
once) when its batch is abandoned; one not settled comes back after the queue's visibility
timeout, so set that longer than a batch takes (minutes, not the 30 s default).

Google Cloud Pub/Sub: --subscribe gcppubsub://projects/PROJECT/subscriptions/SUBSCRIPTION
consumes a subscription of the topic a bucket's notification configuration publishes to (GCS
notifications: attributes eventType OBJECT_FINALIZE, bucketId, objectId). Credentials are the
Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata server);
PUBSUB_EMULATOR_HOST=HOST:PORT names an emulator instead (no credentials). Opening reads the
subscription (GetSubscription), so a wrong address or name fails at start. A message is acked
after the commit holding its object and nacked (delivered again at once) when its batch is
abandoned; one not settled comes back after the subscription's ack deadline.

Azure Service Bus: --subscribe "azuresb://TOPIC?subscription=SUBSCRIPTION" consumes a
subscription of the Service Bus topic that an Event Grid subscription of the storage account
(Microsoft.Storage.BlobCreated, Event Grid or CloudEvents schema) delivers to. The namespace is
named by SERVICEBUS_CONNECTION_STRING (Endpoint=sb://NAMESPACE.servicebus.windows.net/;
SharedAccessKeyName=...;SharedAccessKey=...) or AZURE_SERVICEBUS_HOSTNAME (with Azure AD
credentials); opening peeks at the subscription, so a wrong namespace or name fails at start.
Messages are locked while held: completed (acked) after the commit holding their blob,
abandoned (nacked) when the batch is abandoned; one held longer than the subscription's lock
duration (60 s by default, at most 5 min) is delivered again, so set the lock duration above
the time of a batch (--batch-max-wait and the decode) or keep batches short.

Apache Kafka: --subscribe "kafka://GROUP?topic=TOPIC" consumes the topic as a member of the
consumer group GROUP (replicas of one group share the topic's partitions; ?topic= may be
repeated), from the brokers of the environment variable KAFKA_BROKERS (host:port, comma-
separated), such as the topic MinIO's Kafka notification target (MINIO_NOTIFY_KAFKA_*) writes
S3 event records to. A group without committed offsets starts at the oldest record
(?offset=latest: at the newest); ?session_timeout= (default 45s) is how long the group waits
for a replica that stopped answering before its partitions go to the others. Kafka keeps one offset per partition, not an ack per message:
ingestd commits, per partition, the offset of its oldest message not settled yet, so a replica
killed or rebalanced away leaves every message it had not committed to the partition's next
holder, which receives it again (with some settled after it, found in the table and acked).
A nacked message comes back to the same replica.

Exactly once: any number of ingestd, on one or many machines, may write one table, watching the
same prefix or others; the table's log decides, so no source is added twice or lost, across
restarts and kill -9. Each replica commits with its own app transaction id (--app-id; default
ingestd-HOST-HASH of the watch URL and shard). --shard i/n splits one prefix between n replicas
by a hash of the key, so they do not decode the same scenes.

Bad sources never block the stream: a source that fails (not a raster, no CRS, wrong band
layout, unreadable) is taken out of its batch, the rest commits, and it is tried again after
--retry-backoff (doubled each time) up to --max-attempts, then recorded as one JSON line
(source, version, error, time, attempts, appId) in an object under the dead-letter prefix
(--dead-letter; default _deltaraster/dead-letter/ in the table, which vacuum and readers
ignore). A dead-lettered source is not tried again at that version, also after a restart
(ingestd reads the dead letters at start); a changed version of it is. A batch that fails as a
whole (the table unreachable, a store error while writing or committing) is retried with the
same doubling backoff and never counts against its sources.

Batches overlap: the next batch is decoded and written while the previous one commits (and
checkpoints); two batches are in flight at most, commits go one at a time and in order.

Shutdown: on SIGTERM or SIGINT ingestd stops taking work, lets the batches in flight finish
within --shutdown-timeout or abandons them (nothing committed; their files are orphans for
deltactl vacuum --full), and exits 0.

HTTP on --metrics-addr: /metrics (Prometheus: deltaraster_ingestd_* and the Go and process
collectors), /healthz (the process serves), /readyz (the table's log can be listed and the
last listing of the prefix, or poll of the subscription, succeeded). Logs go to stderr with log/slog, text or JSON
(--log-format). Memory: --cache-max caps GDAL's block cache, --memory-limit sets Go's soft
limit. Checkpoints are written after the commits at the table's checkpoint interval
(--checkpoint-interval overrides it), in bounded memory.

Every flag can also be set by an environment variable: DELTARASTER_ and the flag's name in
capitals with _ for -, such as DELTARASTER_TABLE, DELTARASTER_WATCH, DELTARASTER_POLL,
DELTARASTER_BATCH_MAX_SOURCES. A flag given on the command line wins.

Sizes take a suffix: KiB, MiB, GiB (or K, M, G) are powers of 1024, KB, MB, GB powers of
1000; a plain number is bytes. Durations are Go durations: 500ms, 10s, 2m.`,
		Example: `  # Watch a local directory, ingest into a local table, until SIGTERM
  ingestd --table /data/tiles --watch /data/incoming

  # The same, configured by the environment (as a systemd unit or a container would)
  DELTARASTER_TABLE=s3://bucket/tables/tiles DELTARASTER_WATCH=s3://bucket/scenes/ ingestd

  # Ingest what is in a bucket prefix now, then exit (cron); JSON logs
  ingestd --table s3://bucket/tables/tiles --watch s3://bucket/scenes/ --once --log-format json

  # Two replicas splitting one prefix, each with its own shard
  ingestd --table gs://b/tiles --watch gs://b/scenes --shard 0/2 --metrics-addr :9464
  ingestd --table gs://b/tiles --watch gs://b/scenes --shard 1/2 --metrics-addr :9465

  # Two replicas on one RabbitMQ queue fed by MinIO's bucket notifications
  export RABBIT_SERVER_URL=amqp://ingest:secret@127.0.0.1:5672/
  ingestd --table s3://b/tiles --subscribe rabbit://scenes-created --app-id ingestd-a
  ingestd --table s3://b/tiles --subscribe rabbit://scenes-created --app-id ingestd-b --metrics-addr :9465

  # An SQS queue fed by S3's event notifications (directly or through SNS)
  ingestd --table s3://b/tiles --subscribe "awssqs://sqs.eu-west-1.amazonaws.com/123456789012/scenes?region=eu-west-1"

  # A Pub/Sub subscription of a bucket's GCS notifications
  ingestd --table gs://b/tiles --subscribe gcppubsub://projects/my-project/subscriptions/scenes

  # A Service Bus subscription fed by Event Grid's BlobCreated events
  export SERVICEBUS_CONNECTION_STRING='Endpoint=sb://my-ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=...'
  ingestd --table azblob://acct@c/tiles --subscribe "azuresb://blob-events?subscription=ingestd"

  # Two replicas of one Kafka consumer group on the topic of MinIO's notifications
  export KAFKA_BROKERS=kafka-1.example.net:9092,kafka-2.example.net:9092
  ingestd --table s3://b/tiles --subscribe "kafka://ingestd?topic=scenes-created" --app-id ingestd-a
  ingestd --table s3://b/tiles --subscribe "kafka://ingestd?topic=scenes-created" --app-id ingestd-b --metrics-addr :9465

  # Small batches committed quickly, bands named, GDAL cache and Go heap capped
  ingestd --table ./tiles --watch ./in --batch-max-sources 4 --batch-max-wait 5s \
      --bands red,green,blue --cache-max 128MiB --memory-limit 1GiB

  # Scrape the metrics
  curl -s http://127.0.0.1:9464/metrics | grep deltaraster_ingestd_`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return flagsFromEnv(cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.run(cmd); err != nil {
				return &failureError{err}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{err} })
	f := cmd.Flags()
	f.StringVar(&c.table, "table", "", "URL of the raster table (created by the first commit if it does not exist)")
	f.StringVar(&c.watch, "watch", "", "prefix to watch: a local directory or a file://, s3://, gs://, azblob:// or mem:// URL")
	f.StringVar(&c.subscribe, "subscribe", "", "instead of --watch: a gocloud.dev/pubsub subscription URL of object-created notifications: rabbit://QUEUE (server from RABBIT_SERVER_URL), awssqs://HOST/ACCOUNT/QUEUE?region=R, gcppubsub://projects/P/subscriptions/S, azuresb://TOPIC?subscription=S, kafka://GROUP?topic=T (brokers from KAFKA_BROKERS), or mem://")
	f.DurationVar(&c.idle, "idle", time.Second, "with --subscribe: a poll ends once no message came for this long (with --once, the run ends)")
	f.StringVar(&c.sourceQuery, "source-query", "", "with --subscribe: URL parameters to read the notified objects with, such as endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1")
	f.DurationVar(&c.poll, "poll", daemon.DefaultPoll, "time between two listings of the prefix (or two polls of the subscription)")
	f.BoolVar(&c.once, "once", false, "ingest what is there now, then exit")
	f.StringVar(&c.shard, "shard", "", "i/n: take only the keys whose hash modulo n is i (0 <= i < n)")
	f.IntVar(&c.batchMax, "batch-max-sources", daemon.DefaultBatchMaxSources, "most sources in one batch (one commit)")
	f.DurationVar(&c.batchWait, "batch-max-wait", daemon.DefaultBatchMaxWait, "a batch is ingested once its oldest source has waited this long")
	f.IntVar(&c.maxAttempts, "max-attempts", daemon.DefaultMaxAttempts, "attempts of a failing source before it is dead-lettered")
	f.DurationVar(&c.retryBackoff, "retry-backoff", daemon.DefaultRetryBackoff, "wait before a failed source's second attempt, doubled before each next")
	f.StringVar(&c.deadLetter, "dead-letter", "", "URL of the dead-letter prefix (default: "+daemon.DefaultDeadLetterPrefix+" in the table)")
	f.StringVar(&c.appID, "app-id", "", "app transaction id of this replica's commits (default: ingestd-HOST-HASH of the watch URL and shard)")
	f.DurationVar(&c.shutdown, "shutdown-timeout", daemon.DefaultShutdownTimeout, "on SIGTERM/SIGINT, how long the batches in flight may run on before they are abandoned")
	f.IntVar(&c.tileSize, "tile-size", ingest.DefaultTileSize, fmt.Sprintf("tile width and height in pixels (%d to %d)", ingest.MinTileSize, ingest.MaxTileSize))
	f.IntSliceVar(&c.levels, "levels", nil, "levels to ingest, comma-separated: 0 is full resolution, k the k-th overview (default: all)")
	f.BoolVar(&c.keepEmpty, "keep-empty", false, "keep tiles whose pixels are all nodata")
	f.StringSliceVar(&c.bands, "bands", nil, "band column names when the first commit creates the table (default b1,b2,...)")
	f.Var(&c.cacheMax, "cache-max", "cap of GDAL's block cache")
	f.Var(&c.targetFile, "target-file-size", "data files roll when their tile bytes reach this size")
	f.Int64Var(&c.maxPixels, "max-pixels", 0, "refuse sources with more pixels than this (0: no limit)")
	f.Int64Var(&c.checkpointInterval, "checkpoint-interval", 0, "checkpoint after commits at multiples of this version (0: the table's delta.checkpointInterval, default 100)")
	f.Var(&c.memoryLimit, "memory-limit", "Go's soft memory limit (runtime/debug.SetMemoryLimit; 0: none)")
	f.StringVar(&c.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.StringVar(&c.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	f.StringVar(&c.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of the HTTP server for /metrics, /healthz and /readyz (empty: none)")
	return cmd
}

func parseShard(s string) (daemon.Shard, error) {
	if s == "" {
		return daemon.Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return daemon.Shard{}, usageErrorf("invalid argument %q for --shard: want i/n with 0 <= i < n, such as 0/2", s)
	}
	return daemon.Shard{I: i, N: n}, nil
}

// exclude are the prefixes whose notified objects are never work: the table and the dead-letter
// prefix, written by ingestd itself.
func exclude(table, deadLetter string) []string {
	if deadLetter == "" {
		return []string{table}
	}
	return []string{table, deadLetter}
}

// noAckDeadline says the queue of the subscription URL never delivers an unacked message again by
// itself while its consumer lives: RabbitMQ (until the channel closes) and Kafka (until the
// partition moves to another member of the group).
func noAckDeadline(subURL string) bool {
	return strings.HasPrefix(subURL, "rabbit:") || strings.HasPrefix(subURL, "kafka:")
}

// subscriptionURL is the --subscribe URL as opened: a rabbit:// URL without prefetch_count gets
// one of prefetch (unless once), so that a replica holds a bounded number of unacked messages
// and replicas on one queue share the work (RabbitMQ's default is no bound: the first consumer
// would take the whole queue).
func subscriptionURL(raw string, prefetch int, once bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", usageErrorf("invalid --subscribe URL %q: %v", raw, err)
	}
	if u.Scheme != "rabbit" || once {
		return raw, nil
	}
	q := u.Query()
	if q.Get("prefetch_count") != "" {
		return raw, nil
	}
	q.Set("prefetch_count", strconv.Itoa(prefetch))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageErrorf("invalid argument %q for --log-level: want debug, info, warn or error", c.logLevel)
	}
	o := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, usageErrorf("invalid argument %q for --log-format: want text or json", c.logFormat)
}

func (c *config) run(cmd *cobra.Command) error {
	if c.table == "" || (c.watch == "") == (c.subscribe == "") {
		return usageErrorf("--table and one of --watch and --subscribe are required (or %s and %s or %s)", envName("table"),
			envName("watch"), envName("subscribe"))
	}
	if c.idle <= 0 {
		return usageErrorf("--idle must be more than 0")
	}
	if c.tileSize < ingest.MinTileSize || c.tileSize > ingest.MaxTileSize {
		return usageErrorf("invalid argument %d for --tile-size: want %d to %d", c.tileSize, ingest.MinTileSize, ingest.MaxTileSize)
	}
	if c.batchMax < 1 || c.maxAttempts < 1 || c.poll <= 0 || c.batchWait <= 0 || c.retryBackoff <= 0 || c.shutdown <= 0 {
		return usageErrorf("--batch-max-sources and --max-attempts must be at least 1, and --poll, --batch-max-wait, --retry-backoff and --shutdown-timeout more than 0")
	}
	if c.cacheMax <= 0 || c.targetFile <= 0 || c.maxPixels < 0 || c.checkpointInterval < 0 {
		return usageErrorf("--cache-max and --target-file-size must be more than 0 bytes, --max-pixels and --checkpoint-interval 0 or more")
	}
	shard, err := parseShard(c.shard)
	if err != nil {
		return err
	}
	log, err := c.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if c.memoryLimit > 0 {
		debug.SetMemoryLimit(int64(c.memoryLimit))
	}
	appID := c.appID
	if appID == "" {
		if c.watch != "" {
			appID = daemon.DefaultAppID("watch " + c.watch + " shard " + c.shard)
		} else {
			appID = daemon.DefaultAppID("subscribe " + c.subscribe)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := daemon.NewMetrics(reg)
	var src daemon.Source
	if c.watch != "" {
		watch, err := daemon.OpenWatch(ctx, c.watch, daemon.WatchOptions{Shard: shard, Unsettled: c.once})
		if err != nil {
			return err
		}
		defer watch.Close()
		src = watch
	} else {
		if c.shard != "" {
			return usageErrorf("--shard splits a watched prefix; with --subscribe the queue spreads the work")
		}
		// A poll of a running daemon takes a few batches' worth of messages, so that batches
		// fall due on time while messages stream in; --once drains the queue until --idle.
		maxMessages := 4 * c.batchMax
		if c.once {
			maxMessages = math.MaxInt32
		}
		subURL, err := subscriptionURL(c.subscribe, maxMessages, c.once)
		if err != nil {
			return err
		}
		sub, err := daemon.OpenSubscription(ctx, subURL, daemon.SubscriptionOptions{Idle: c.idle, MaxMessages: maxMessages,
			SourceQuery: c.sourceQuery, Logger: log, NoAckDeadline: noAckDeadline(subURL), Check: subcheck.Probe,
			Exclude: exclude(c.table, c.deadLetter)})
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			sub.Close(sctx)
		}()
		src = sub
	}
	d, err := daemon.New(ctx, src, daemon.Options{
		Table: c.table, Poll: c.poll, Once: c.once,
		BatchMaxSources: c.batchMax, BatchMaxWait: c.batchWait, MaxAttempts: c.maxAttempts,
		RetryBackoff: c.retryBackoff, DeadLetter: c.deadLetter, ShutdownTimeout: c.shutdown,
		Ingest: ingest.Options{
			TileSize: c.tileSize, Levels: c.levels, KeepEmpty: c.keepEmpty, CacheMaxBytes: int64(c.cacheMax),
			TargetFileBytes: int64(c.targetFile), MaxPixels: c.maxPixels, Bands: c.bands, AppID: appID, Logger: log,
		},
		Checkpoint: checkpoint.HookOptions{Interval: c.checkpointInterval},
		Metrics:    metrics, Logger: log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	log.Info("ingestd: started", "table", c.table, "source", src.String(), "appId", appID, "shard", c.shard, "once", c.once)

	g, gctx := errgroup.WithContext(ctx)
	runCtx, stopRun := context.WithCancel(gctx)
	defer stopRun()
	var srv *http.Server
	if c.metricsAddr != "" {
		ln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w", c.metricsAddr, err)
		}
		log.Info("ingestd: serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
		srv = &http.Server{Handler: handler(reg, d), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer func() {
			if srv != nil {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}
		}()
		return d.Run(runCtx)
	})
	err = g.Wait()
	if ctx.Err() != nil && err == nil {
		log.Info("ingestd: stopped by signal")
	}
	return err
}

func handler(reg *prometheus.Registry, d *daemon.Daemon) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}
