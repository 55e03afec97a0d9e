// Package kafkapubsub is a gocloud.dev/pubsub driver for subscriptions on Apache Kafka topics,
// kafka://GROUP?topic=TOPIC, built on franz-go: ingestd's --subscribe kafka://.
//
// Importing the package registers the kafka scheme with pubsub.DefaultURLMux. The URL names the
// consumer group (its host) and one or more topics (?topic=, repeated); the brokers come from
// the environment variable KAFKA_BROKERS (host:port, comma-separated), the URL form of
// gocloud.dev's own kafkapubsub (a module on sarama that the module proxy this project builds
// from does not serve). ?offset=earliest (the default) or latest says where a group without
// committed offsets starts; ?session_timeout=DURATION (default 45s) how long the group waits for a
// member that stopped answering (killed, cut off) before its partitions go to the others.
//
// Kafka has no per-message acknowledgement: a group commits one offset per partition, "every
// record before this one is done". The driver commits, per partition, the offset of the oldest
// message delivered and not acked yet (or one past the newest delivered when none is pending),
// so acks in any order never commit past a message still in flight: after a crash, a rebalance or
// a restart, every message not acked is delivered again (with some acked ones after it: at least
// once, as the daemon's exactly-once commits expect). A nack puts the message back to be received
// again by this subscription; when its partition moves to another consumer of the group, that
// consumer receives it from the committed offset instead.
package kafkapubsub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gocloud.dev/gcerrors"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/batcher"
	"gocloud.dev/pubsub/driver"
)

// Scheme is the URL scheme the package registers.
const Scheme = "kafka"

// BrokersEnv names the environment variable holding the brokers when URLOpener.Brokers is empty.
const BrokersEnv = "KAFKA_BROKERS"

func init() { pubsub.DefaultURLMux().RegisterSubscription(Scheme, new(URLOpener)) }

// URLOpener opens kafka://GROUP?topic=TOPIC[&topic=...][&offset=earliest|latest]
// [&session_timeout=DURATION] subscriptions.
type URLOpener struct {
	// Brokers are the seed brokers (host:port); empty: $KAFKA_BROKERS.
	Brokers []string
	// Options are added to the franz-go client's (TLS, SASL, timeouts).
	Options []kgo.Opt
}

// OpenSubscriptionURL opens the subscription of u.
func (o *URLOpener) OpenSubscriptionURL(ctx context.Context, u *url.URL) (*pubsub.Subscription, error) {
	group := u.Host
	if group == "" {
		return nil, fmt.Errorf("%s: no consumer group: write kafka://GROUP?topic=TOPIC", u.Redacted())
	}
	q := u.Query()
	topics := q["topic"]
	if len(topics) == 0 {
		return nil, fmt.Errorf("%s: no topic: write kafka://GROUP?topic=TOPIC", u.Redacted())
	}
	reset := kgo.NewOffset().AtStart()
	switch q.Get("offset") {
	case "", "earliest":
	case "latest":
		reset = kgo.NewOffset().AtEnd()
	default:
		return nil, fmt.Errorf("%s: offset=%q: want earliest or latest", u.Redacted(), q.Get("offset"))
	}
	opts := []kgo.Opt{kgo.ConsumeResetOffset(reset)}
	if v := q.Get("session_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: session_timeout=%q: want a duration such as 10s", u.Redacted(), v)
		}
		opts = append(opts, kgo.SessionTimeout(d))
	}
	for k := range q {
		if k != "topic" && k != "offset" && k != "session_timeout" {
			return nil, fmt.Errorf("%s: unknown parameter %q (kafka:// takes topic, offset and session_timeout)", u.Redacted(), k)
		}
	}
	brokers := o.Brokers
	if len(brokers) == 0 {
		for _, b := range strings.Split(os.Getenv(BrokersEnv), ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%s: no Kafka brokers: set %s=host:port[,host:port...]", u.Redacted(), BrokersEnv)
	}
	return OpenSubscription(ctx, brokers, group, topics, append(opts, o.Options...)...)
}

// OpenSubscription consumes topics as a member of the consumer group. It checks first that the
// brokers answer and that every topic exists, so a wrong address or a misspelt topic is an error
// here rather than a subscription that never receives anything.
func OpenSubscription(ctx context.Context, brokers []string, group string, topics []string, opts ...kgo.Opt) (*pubsub.Subscription, error) {
	s := &subscription{group: group, parts: map[topicPartition]*partition{}, owned: map[topicPartition]bool{}}
	all := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("kafka://%s: %w", group, err)
	}
	if err := checkTopics(ctx, cl, brokers, topics); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka://%s: %w", group, err)
	}
	s.cl = cl
	// One ReceiveBatch at a time (pollMu makes sure of it too): the records of a poll are
	// registered before the next poll, so the commit point never passes a record polled and
	// not registered yet.
	return pubsub.NewSubscription(s, &batcher.Options{MaxHandlers: 1, MaxBatchSize: 1000}, nil), nil
}

// checkTopics asks the brokers for the topics' metadata.
func checkTopics(ctx context.Context, cl *kgo.Client, brokers, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("brokers %s do not answer (%w): check %s", strings.Join(brokers, ","), err, BrokersEnv)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("topic %q does not exist on brokers %s", name, strings.Join(brokers, ","))
			}
			return fmt.Errorf("topic %q: %w", name, err)
		}
	}
	return nil
}

type topicPartition struct {
	topic string
	part  int32
}

// partition is what the subscription delivered of one partition while it held it.
type partition struct {
	gen       uint64                // which holding: acks of an earlier one are ignored
	pending   map[int64]*kgo.Record // delivered, not acked
	next      int64                 // one past the newest offset delivered
	epoch     int32                 // leader epoch of the newest record delivered
	committed int64                 // offset last committed (-1: none by us)
}

// commitPoint is the offset to commit: the oldest pending one, or next.
func (p *partition) commitPoint() int64 {
	c := p.next
	for o := range p.pending {
		c = min(c, o)
	}
	return c
}

type ackID struct {
	tp     topicPartition
	offset int64
	gen    uint64
}

type subscription struct {
	cl    *kgo.Client
	group string

	mu    sync.Mutex
	owned map[topicPartition]bool // assigned to this member and not revoked since
	parts map[topicPartition]*partition
	redo  []ackID // nacked, delivered again before polling
	gen   uint64

	pollMu    sync.Mutex // polls one at a time, each registering its records before the next
	commitMu  sync.Mutex // commits one at a time, so a later one never goes below an earlier one
	closeOnce sync.Once
}

func (s *subscription) ReceiveBatch(ctx context.Context, max int) ([]*driver.Message, error) {
	if msgs := s.redelivered(max); len(msgs) > 0 {
		return msgs, nil
	}
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	fs := s.cl.PollRecords(pctx, max)
	cancel()
	if fs.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	s.mu.Lock()
	var msgs []*driver.Message
	fs.EachRecord(func(r *kgo.Record) {
		if m := s.deliver(r); m != nil {
			msgs = append(msgs, m)
		}
	})
	s.mu.Unlock()
	if len(msgs) > 0 {
		return msgs, nil // a partition's error comes back at the next poll
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue // the second's wait ended
		}
		return nil, fmt.Errorf("kafka://%s: topic %s partition %d: %w", s.group, fe.Topic, fe.Partition, fe.Err)
	}
	return nil, nil
}

// deliver registers r as pending and makes its message; s.mu is held. A record of a partition
// revoked since the poll returned it is left out (nil): the partition's next holder receives it
// from the committed offset, and registering it here would let this member commit past records
// it held before the revocation and never settled.
func (s *subscription) deliver(r *kgo.Record) *driver.Message {
	tp := topicPartition{r.Topic, r.Partition}
	if !s.owned[tp] {
		return nil
	}
	p := s.parts[tp]
	if p == nil {
		s.gen++
		p = &partition{gen: s.gen, pending: map[int64]*kgo.Record{}, committed: -1}
		s.parts[tp] = p
	}
	p.pending[r.Offset] = r
	if r.Offset >= p.next {
		p.next, p.epoch = r.Offset+1, r.LeaderEpoch
	}
	return message(r, ackID{tp, r.Offset, p.gen})
}

func message(r *kgo.Record, id ackID) *driver.Message {
	md := map[string]string{}
	for _, h := range r.Headers {
		md[h.Key] = string(h.Value)
	}
	return &driver.Message{
		LoggableID: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset),
		Body:       r.Value,
		Metadata:   md,
		AckID:      id,
		AsFunc: func(i any) bool {
			p, ok := i.(**kgo.Record)
			if ok {
				*p = r
			}
			return ok
		},
	}
}

// redelivered takes up to max nacked messages whose partition is still held.
func (s *subscription) redelivered(max int) []*driver.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var msgs []*driver.Message
	for len(s.redo) > 0 && len(msgs) < max {
		id := s.redo[0]
		s.redo = s.redo[1:]
		if p := s.parts[id.tp]; p != nil && p.gen == id.gen && p.pending[id.offset] != nil {
			msgs = append(msgs, message(p.pending[id.offset], id))
		}
	}
	return msgs
}

func (s *subscription) SendAcks(ctx context.Context, ids []driver.AckID) error {
	s.mu.Lock()
	for _, a := range ids {
		id := a.(ackID)
		if p := s.parts[id.tp]; p != nil && p.gen == id.gen {
			delete(p.pending, id.offset)
		}
	}
	s.mu.Unlock()
	return s.commit(ctx, nil)
}

func (s *subscription) CanNack() bool { return true }

func (s *subscription) SendNacks(ctx context.Context, ids []driver.AckID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range ids {
		s.redo = append(s.redo, a.(ackID))
	}
	return nil
}

// commit commits the commit point of every partition held (or of only when not nil) that moved
// past the offset last committed. A commit that fails because the group rebalanced is not an
// error: the partition's messages not committed are delivered again to whoever holds it now.
func (s *subscription) commit(ctx context.Context, only map[string][]int32) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	points := map[topicPartition]int64{}
	for tp, p := range s.parts {
		if only != nil && !slices.Contains(only[tp.topic], tp.part) {
			continue
		}
		if c := p.commitPoint(); c > p.committed && c > 0 {
			if offsets[tp.topic] == nil {
				offsets[tp.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[tp.topic][tp.part] = kgo.EpochOffset{Epoch: p.epoch, Offset: c}
			points[tp] = c
		}
	}
	s.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	var failed error
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				tp := topicPartition{t.Topic, rp.Partition}
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					if failed == nil {
						failed = fmt.Errorf("topic %s partition %d: %w", t.Topic, rp.Partition, err)
					}
					continue
				}
				if p := s.parts[tp]; p != nil && points[tp] > p.committed {
					p.committed = points[tp]
				}
			}
		}
	})
	if failed == nil || rebalanced(failed) {
		return nil
	}
	return fmt.Errorf("kafka://%s: commit offsets: %w", s.group, failed)
}

// rebalanced reports whether a commit failed because the group's membership moved on.
func rebalanced(err error) bool {
	for _, e := range []error{kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID,
		kerr.FencedInstanceID, kerr.StaleMemberEpoch, kerr.UnknownTopicOrPartition} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// assigned records the partitions given to this member (before their fetches begin).
func (s *subscription) assigned(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			s.owned[topicPartition{t, p}] = true
		}
	}
}

// revoked commits what is done of the partitions leaving this member, then forgets them: their
// pending messages go to the partitions' next holder from the committed offset.
func (s *subscription) revoked(ctx context.Context, _ *kgo.Client, tps map[string][]int32) {
	s.commit(ctx, tps)
	s.forget(tps)
}

// lost forgets the partitions: a commit would fail, their next holder starts from the committed
// offset.
func (s *subscription) lost(_ context.Context, _ *kgo.Client, tps map[string][]int32) { s.forget(tps) }

func (s *subscription) forget(tps map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			delete(s.parts, topicPartition{t, p})
			delete(s.owned, topicPartition{t, p})
		}
	}
}

func (s *subscription) IsRetryable(err error) bool {
	if errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return kerr.IsRetriable(err) || errors.As(err, &ne)
}

func (s *subscription) As(i any) bool {
	p, ok := i.(**kgo.Client)
	if ok {
		*p = s.cl
	}
	return ok
}

func (s *subscription) ErrorAs(err error, i any) bool { return errors.As(err, i) }

func (s *subscription) ErrorCode(err error) gcerrors.ErrorCode {
	switch {
	case errors.Is(err, context.Canceled):
		return gcerrors.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return gcerrors.DeadlineExceeded
	case errors.Is(err, kgo.ErrClientClosed):
		return gcerrors.FailedPrecondition
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return gcerrors.NotFound
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed):
		return gcerrors.PermissionDenied
	}
	return gcerrors.Unknown
}

// Close commits what is done and leaves the group: messages still pending are delivered again
// to the group's other members, or to the next subscription.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.commit(ctx, nil)
		s.cl.Close()
	})
	return nil
}
