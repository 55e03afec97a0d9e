package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/pubsub"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
)

// SubscriptionOptions configure a Subscription.
type SubscriptionOptions struct {
	// Idle ends a Poll: it returns once no message came for this long (default 200 ms).
	Idle time.Duration
	// MaxMessages bounds the messages one Poll receives (default 1000).
	MaxMessages int
	// SourceQuery is appended to the object URLs of notifications (s3://, gs://, azblob://) as
	// their query: the connection parameters to read them with, such as
	// "endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1" (they stay out of
	// the table). Empty: the environment's settings.
	SourceQuery string
	// Logger receives the messages dropped as not notifications (default slog.Default()).
	Logger *slog.Logger
	// NoAckDeadline says the queue has no ack deadline: it delivers a message again only once
	// it is nacked or the consumer's connection ends (RabbitMQ). A message whose object could
	// not be stat'ed is then nacked at the next Poll rather than left to expire, which it never
	// would (and RabbitMQ closes a channel whose message stays unacked past its consumer
	// timeout, 30 minutes by default).
	NoAckDeadline bool
	// Check, when set, is called once the subscription is open, with its URL; an error fails
	// OpenSubscription. subcheck.Probe checks that lazily connecting drivers' servers answer
	// (a driver that retries inside Receive otherwise makes a dead server look like an empty
	// queue).
	Check func(ctx context.Context, rawURL string, sub *pubsub.Subscription) error
	// Recheck is how long a subscription may go without a message before a Poll that receives
	// none runs Check again (default 1 minute): a server that goes away after the start would
	// otherwise look like an empty queue for ever. A failed check is that Poll's error, so the
	// daemon logs it and /readyz fails, until a check passes or a message comes.
	Recheck time.Duration
	// Exclude are prefixes (any spelling of a source URI, as SourceID takes) whose objects are
	// never work: the table's own root and the dead-letter prefix, whose objects the daemon
	// writes itself. A notification configured on a whole bucket that holds the table would
	// otherwise feed the daemon its own data files, and each dead letter written for one of them
	// would be notified in turn, without end.
	Exclude []string
}

// Subscription is a Source on a gocloud.dev/pubsub subscription carrying object-created
// notifications (see parseNotification: S3 event records of AWS and MinIO, GCS Pub/Sub
// notifications, Azure Event Grid BlobCreated events, or a bare URL or path per message).
//
// Each object of a message is stat'ed for its version (as Ingest reads it). A message is acked
// once every object it names is settled: in the table at that version (committed, or found
// there), or dead-lettered; it is nacked for redelivery when one of them is dropped (abandoned
// at shutdown, changed while read), left to come back after the subscription's ack deadline
// when one could not be stat'ed (the store failing; nacked at the next Poll when the queue has
// no ack deadline, see SubscriptionOptions.NoAckDeadline), and acked at once when it names no
// object to ingest (a removal, a test event, objects already in the table or gone, objects of
// the table itself or hidden, see SubscriptionOptions.Exclude) or is no notification at all
// (logged: redelivering it would never help). Two messages naming one object at one version
// are one Work, and both are acked with it. Close nacks the messages
// still waiting.
//
// A Subscription is for one goroutine.
type Subscription struct {
	sub     *pubsub.Subscription
	url     string
	o       SubscriptionOptions
	stores  map[string]delta.Store // bucket URL -> store, to stat objects
	waiting map[pairKey][]*pubsub.Message
	open    map[*pubsub.Message]*msgState
	later   []*pubsub.Message // nacked at the next Poll (NoAckDeadline)
	exclude []string          // identities of excluded prefixes, each ending in /
	heard   time.Time         // when a message came or Check passed last
}

type msgState struct {
	left   int  // objects not settled yet
	nack   bool // an object was dropped: nack rather than ack
	expire bool // an object could not be stat'ed: neither, so it comes back after the ack deadline
}

// OpenSubscription opens the subscription at rawURL (any gocloud.dev/pubsub URL whose driver
// the program links; mem:// always).
func OpenSubscription(ctx context.Context, rawURL string, o SubscriptionOptions) (*Subscription, error) {
	if o.Idle <= 0 {
		o.Idle = 200 * time.Millisecond
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 1000
	}
	if o.Recheck <= 0 {
		o.Recheck = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var exclude []string
	for _, e := range o.Exclude {
		id, err := prefixID(e)
		if err != nil {
			return nil, fmt.Errorf("subscribe: excluded prefix %q: %w", e, err)
		}
		exclude = append(exclude, id)
	}
	sub, err := o.open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return &Subscription{sub: sub, url: rawURL, o: o, stores: map[string]delta.Store{},
		waiting: map[pairKey][]*pubsub.Message{}, open: map[*pubsub.Message]*msgState{}, exclude: exclude,
		heard: time.Now()}, nil
}

// open opens the subscription at rawURL and runs Check, if any, on it (shut down again when
// the check fails); at start and when a failed subscription is opened again.
func (o SubscriptionOptions) open(ctx context.Context, rawURL string) (*pubsub.Subscription, error) {
	sub, err := pubsub.OpenSubscription(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if o.Check == nil {
		return sub, nil
	}
	if err := o.Check(ctx, rawURL, sub); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub.Shutdown(sctx)
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	return sub, nil
}

// prefixID is the identity of a prefix (a directory, a bucket, a path in one), ending in "/":
// the identity of an object in it, less the object's name.
func prefixID(prefix string) (string, error) {
	inside := filepath.Join(prefix, "x")
	if strings.Contains(prefix, "://") || strings.HasPrefix(prefix, "file:") {
		u, err := url.Parse(prefix)
		if err != nil {
			return "", err
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/x"
		u.RawPath = ""
		inside = u.String()
	}
	id, err := ingest.SourceID(inside)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(id, "x"), nil
}

// skip reports whether the object of a source identity is never work: under an excluded
// prefix, or (an object in a bucket) with a key element starting with "." or "_", as a
// watched prefix skips them (hidden files, copy tools' temporary files, a table's _delta_log).
func (s *Subscription) skip(id string) bool {
	for _, e := range s.exclude {
		if strings.HasPrefix(id, e) {
			return true
		}
	}
	if _, rest, ok := strings.Cut(id, "://"); ok {
		if _, key, ok := strings.Cut(rest, "/"); ok {
			return hidden(key)
		}
	}
	return false
}

// String is the subscription URL as given.
func (s *Subscription) String() string { return s.url }

// Poll receives messages until none comes for Idle, or MaxMessages came, and returns the work
// they name. A failed or cancelled Poll nacks the messages it received and returns the error.
func (s *Subscription) Poll(ctx context.Context, known func(id, version string) bool) ([]Work, error) {
	for _, m := range s.later {
		m.Nack()
	}
	s.later = s.later[:0]
	var out []Work
	fail := func(err error) ([]Work, error) {
		for _, w := range out {
			s.Dropped(w)
		}
		return nil, err
	}
	if s.sub == nil {
		sub, err := s.o.open(ctx, s.url)
		if err != nil {
			return nil, fmt.Errorf("subscribe again: %w", err)
		}
		s.o.Logger.Info("ingestd: subscribed again", "subscription", s.url)
		s.sub = sub
		s.heard = time.Now()
	}
	received := false
	for range s.o.MaxMessages {
		rctx, cancel := context.WithTimeout(ctx, s.o.Idle)
		m, err := s.sub.Receive(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				break // idle
			}
			if ctx.Err() == nil {
				s.drop()
			}
			return fail(fmt.Errorf("subscribe %s: %w", s.url, err))
		}
		received = true
		uris, err := parseNotification(m.Body, m.Metadata, s.o.SourceQuery)
		if err != nil {
			s.o.Logger.Warn("ingestd: message dropped (acked)", "subscription", s.url, "id", m.LoggableID, "err", err)
			m.Ack()
			continue
		}
		st := &msgState{}
		s.open[m] = st
		for _, uri := range uris {
			id, err := ingest.SourceID(uri)
			if err != nil {
				s.o.Logger.Warn("ingestd: object of a message is no source (skipped)", "uri", uri, "err", err)
				continue
			}
			if s.skip(id) {
				s.o.Logger.Debug("ingestd: object of a message skipped (the table's, a dead letter, or hidden)", "uri", uri)
				continue
			}
			version, err := s.version(ctx, uri)
			if errors.Is(err, delta.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
				continue // gone: nothing to ingest
			}
			if err != nil {
				if ctx.Err() != nil {
					st.nack = true
					s.release(m)
					return fail(ctx.Err())
				}
				s.o.Logger.Warn("ingestd: could not stat the object of a message; it comes back later (ack deadline, or nacked at the next poll)", "uri", uri, "err", err)
				st.expire = true
				continue
			}
			k := keyOf(id, version)
			if ms, ok := s.waiting[k]; ok {
				s.waiting[k] = append(ms, m)
				st.left++
				continue
			}
			if known(id, version) {
				continue
			}
			s.waiting[k] = []*pubsub.Message{m}
			st.left++
			out = append(out, Work{URI: uri, ID: id, Version: version, Key: uri})
		}
		if st.left == 0 {
			s.release(m)
		}
	}
	if received {
		s.heard = time.Now()
	} else if err := s.recheck(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// recheck runs Check on the open subscription when nothing was heard from it for Recheck.
func (s *Subscription) recheck(ctx context.Context) error {
	if s.o.Check == nil || time.Since(s.heard) < s.o.Recheck {
		return nil
	}
	if err := s.o.Check(ctx, s.url, s.sub); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("subscribe %s: no message in the last %v, and %w", s.url, time.Since(s.heard).Round(time.Second), err)
	}
	s.heard = time.Now()
	return nil
}

// drop lets go of a subscription that failed for good (Receive reports only errors the driver
// cannot retry, such as RabbitMQ's connection lost when the broker restarts): the next Poll
// opens it again (rabbitpubsub dials again once its connection is closed). The messages taken
// from it and not settled are acked or nacked through it when they settle, to no effect once
// its connection is gone; the queue delivers them again on the new one, where they join their
// work still waiting.
func (s *Subscription) drop() {
	old := s.sub
	s.sub = nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		old.Shutdown(ctx)
	}()
}

// release acks a message whose objects are all settled, or nacks it when one was dropped, or
// leaves it to come back after the subscription's ack deadline when one could not be stat'ed
// (a nack would have it back at once, again and again while the store fails).
func (s *Subscription) release(m *pubsub.Message) {
	st := s.open[m]
	delete(s.open, m)
	switch {
	case st != nil && st.expire && s.o.NoAckDeadline && m.Nackable():
		s.later = append(s.later, m)
	case st != nil && st.expire:
	case st != nil && st.nack && m.Nackable():
		m.Nack()
	default:
		m.Ack()
	}
}

func (s *Subscription) finish(w Work, nack bool) {
	k := keyOf(w.ID, w.Version)
	for _, m := range s.waiting[k] {
		st := s.open[m]
		if st == nil {
			continue
		}
		st.nack = st.nack || nack
		if st.left--; st.left <= 0 {
			s.release(m)
		}
	}
	delete(s.waiting, k)
}

// Settled acks the messages of w whose objects are all settled.
func (s *Subscription) Settled(w Work) { s.finish(w, false) }

// Dropped nacks the messages of w (once their other objects are settled).
func (s *Subscription) Dropped(w Work) { s.finish(w, true) }

// Close nacks the messages still waiting and shuts the subscription down.
func (s *Subscription) Close(ctx context.Context) error {
	for m := range s.open {
		if m.Nackable() {
			m.Nack()
		}
	}
	for _, m := range s.later {
		m.Nack()
	}
	s.later = nil
	clear(s.open)
	clear(s.waiting)
	for _, st := range s.stores {
		st.Close()
	}
	if s.sub == nil {
		return nil
	}
	return s.sub.Shutdown(ctx)
}

// version stats a source for the version Ingest will read: a local file by os.Stat, an object
// through a store on its bucket (kept open for the next messages, at most 64).
func (s *Subscription) version(ctx context.Context, uri string) (string, error) {
	if !strings.Contains(uri, "://") || strings.HasPrefix(uri, "file:") {
		p := uri
		if u, err := url.Parse(uri); err == nil && u.Scheme == "file" {
			p = u.Path
		}
		fi, err := os.Stat(filepath.Clean(p))
		if err != nil {
			return "", err
		}
		return ingest.ObjectVersion(delta.ObjectInfo{Size: fi.Size(), ModTime: fi.ModTime()}, true), nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if u.User != nil && q.Get("storage_account") == "" {
		q.Set("storage_account", u.User.Username())
	}
	scheme := u.Scheme
	if scheme == "s3a" || scheme == "s3n" {
		scheme = "s3"
	}
	bucket := (&url.URL{Scheme: scheme, Host: u.Host, RawQuery: q.Encode()}).String()
	st, ok := s.stores[bucket]
	if !ok {
		if len(s.stores) >= 64 {
			for k, st := range s.stores {
				st.Close()
				delete(s.stores, k)
			}
		}
		if st, err = delta.OpenStore(ctx, bucket); err != nil {
			return "", err
		}
		s.stores[bucket] = st
	}
	info, err := st.Stat(ctx, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		return "", err
	}
	return ingest.ObjectVersion(info, false), nil
}
