package kafkapubsub_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/deltaraster/deltaraster/ingest/daemon/kafkapubsub"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

func TestMain(m *testing.M) { os.Exit(testservers.Main(m)) }

// open subscribes to topic in group on brokers through the URL, as ingestd does.
func open(t *testing.T, brokers, group, topic string) *pubsub.Subscription {
	t.Helper()
	t.Setenv(kafkapubsub.BrokersEnv, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := pubsub.OpenSubscription(ctx, "kafka://"+group+"?topic="+topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Shutdown(context.Background()) })
	return sub
}

// receive takes messages until none came for idle.
func receive(t *testing.T, sub *pubsub.Subscription, idle time.Duration) []*pubsub.Message {
	t.Helper()
	var msgs []*pubsub.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), idle)
		m, err := sub.Receive(ctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return msgs
			}
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
}

func bodies(msgs []*pubsub.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	sort.Strings(out)
	return out
}

func values(n int, from int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("m%02d", i))
	}
	return out
}

func shutdown(t *testing.T, sub *pubsub.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAcksOutOfOrder: acks in any order never commit past a message not acked: a subscription
// that acked messages 0-2 and 5-9 of a partition but not 3 and 4 leaves the group's offset at 3,
// so the next subscription of the group receives 3 and 4 again (and 5-9: at least once); once
// everything is acked, the next one receives nothing.
func TestAcksOutOfOrder(t *testing.T) {
	brokers := testservers.Kafka(t, map[string]int32{"scenes": 1})
	testservers.Produce(t, brokers, "scenes", values(10, 0)...)
	sub := open(t, brokers, "g", "scenes")
	msgs := receive(t, sub, 2*time.Second)
	if got := bodies(msgs); strings.Join(got, ",") != strings.Join(values(10, 0), ",") {
		t.Fatalf("received %v, want m00-m09", got)
	}
	for _, m := range msgs {
		if b := string(m.Body); b != "m03" && b != "m04" {
			m.Ack()
		}
	}
	shutdown(t, sub)

	sub = open(t, brokers, "g", "scenes")
	msgs = receive(t, sub, 2*time.Second)
	if got, want := bodies(msgs), values(7, 3); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after acking all but m03 and m04, the group's next subscription received %v, want %v", got, want)
	}
	for _, m := range msgs {
		m.Ack()
	}
	shutdown(t, sub)

	sub = open(t, brokers, "g", "scenes")
	if msgs := receive(t, sub, 2*time.Second); len(msgs) != 0 {
		t.Fatalf("after acking everything, the group's next subscription received %v", bodies(msgs))
	}
	shutdown(t, sub)
}

// TestNackRedelivers: a nacked message comes back to the same subscription, and a message
// neither acked nor nacked when the subscription shuts down comes to the next one.
func TestNackRedelivers(t *testing.T) {
	brokers := testservers.Kafka(t, map[string]int32{"scenes": 1})
	testservers.Produce(t, brokers, "scenes", "a", "b")
	sub := open(t, brokers, "g", "scenes")
	msgs := receive(t, sub, 2*time.Second)
	if len(msgs) != 2 || !msgs[0].Nackable() {
		t.Fatalf("received %v (nackable %v), want a and b, nackable", bodies(msgs), len(msgs) > 0 && msgs[0].Nackable())
	}
	var a *pubsub.Message
	for _, m := range msgs {
		if string(m.Body) == "a" {
			m.Nack()
		} else {
			a = m // b: held
		}
	}
	again := receive(t, sub, 2*time.Second)
	if got := bodies(again); len(got) != 1 || got[0] != "a" {
		t.Fatalf("after nacking a, received %v, want a", got)
	}
	again[0].Ack()
	shutdown(t, sub) // b was neither acked nor nacked
	_ = a

	sub = open(t, brokers, "g", "scenes")
	if got := bodies(receive(t, sub, 2*time.Second)); strings.Join(got, ",") != "b" {
		t.Fatalf("the next subscription received %v, want b (held, never acked)", got)
	}
}

// TestGroupShares: two subscriptions of one group on a topic of 4 partitions, acking what they
// receive, receive every message between them; the group then holds no message.
func TestGroupShares(t *testing.T) {
	brokers := testservers.Kafka(t, map[string]int32{"scenes": 4})
	want := values(40, 0)
	testservers.Produce(t, brokers, "scenes", want[:20]...)
	subs := []*pubsub.Subscription{open(t, brokers, "g", "scenes"), open(t, brokers, "g", "scenes")}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := sub.Receive(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(m.Body)]++
				mu.Unlock()
				m.Ack()
			}
		}()
	}
	time.Sleep(time.Second)
	testservers.Produce(t, brokers, "scenes", want[20:]...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, sub := range subs {
		shutdown(t, sub)
	}
	for _, v := range want {
		if seen[v] == 0 {
			t.Errorf("%s was never received", v)
		}
	}
	sub := open(t, brokers, "g", "scenes")
	if msgs := receive(t, sub, 2*time.Second); len(msgs) != 0 {
		t.Fatalf("after both acked everything, the group's next subscription received %v", bodies(msgs))
	}
}

// TestOpenErrors: a URL or an environment that cannot work says what to set or fix, when the
// subscription is opened.
func TestOpenErrors(t *testing.T) {
	brokers := testservers.Kafka(t, map[string]int32{"scenes": 1})
	for _, tc := range []struct {
		env, url, want string
	}{
		{"", "kafka://g?topic=scenes", "no Kafka brokers: set KAFKA_BROKERS=host:port"},
		{brokers, "kafka://?topic=scenes", "no consumer group: write kafka://GROUP?topic=TOPIC"},
		{brokers, "kafka://g", "no topic: write kafka://GROUP?topic=TOPIC"},
		{brokers, "kafka://g?topic=scenes&offset=first", `offset="first": want earliest or latest`},
		{brokers, "kafka://g?topic=scenes&prefetch=3", `unknown parameter "prefetch"`},
		{brokers, "kafka://g?topic=scenes&session_timeout=soon", `session_timeout="soon": want a duration such as 10s`},
		{brokers, "kafka://g?topic=scenez", `topic "scenez" does not exist on brokers ` + brokers},
		{"127.0.0.1:1", "kafka://g?topic=scenes", "brokers 127.0.0.1:1 do not answer"},
	} {
		t.Setenv(kafkapubsub.BrokersEnv, tc.env)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		start := time.Now()
		sub, err := pubsub.OpenSubscription(ctx, tc.url)
		cancel()
		if err == nil {
			sub.Shutdown(context.Background())
			t.Errorf("%s with KAFKA_BROKERS=%q: opened, want an error saying %q", tc.url, tc.env, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with KAFKA_BROKERS=%q: %v; want it to say %q", tc.url, tc.env, err, tc.want)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s: the error took %v", tc.url, d)
		}
	}
}
