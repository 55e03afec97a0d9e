package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/ingest"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// TestSubscribeKafka runs ingestd --subscribe kafka://... on a Kafka topic of 2 partitions
// carrying one scene path a message. A replica whose batch holds three scenes (a batch that
// waits an hour) is killed with SIGKILL: it committed nothing and no offset, so after the
// group's session timeout two new replicas of the group (different app ids) receive those
// scenes again along with the rest; a text file among them is dead-lettered. Every scene is
// in the table exactly once, and after SIGTERM the group has nothing left to deliver: every
// message's offset was committed.
func TestSubscribeKafka(t *testing.T) {
	brokers := testservers.Kafka(t, map[string]int32{"scenes": 2})
	t.Setenv("KAFKA_BROKERS", brokers)
	table := filepath.Join(t.TempDir(), "tiles")
	scenes := distinctScenes(t, 7)
	// The table made beforehand (while there is no table, a batch holds one source).
	st, err := delta.OpenStore(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := ingest.Ingest(context.Background(), st, scenes[6:], ingest.Options{AppID: "seed"}); err != nil {
		t.Fatal(err)
	}
	ids := []string{scenes[6]}
	bad := filepath.Join(t.TempDir(), "notes.tif")
	if err := os.WriteFile(bad, []byte("not a raster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := "kafka://ingestd?topic=scenes&session_timeout=6s"
	args := func(app string, more ...string) []string {
		return append([]string{"--table", table, "--subscribe", sub, "--app-id", app, "--metrics-addr", "",
			"--max-attempts", "1", "--retry-backoff", "10ms", "--idle", "200ms"}, more...)
	}

	held := start(t, args("held", "--batch-max-sources", "100", "--batch-max-wait", "1h")...)
	testservers.Produce(t, brokers, "scenes", scenes[:3]...)
	ids = append(ids, scenes[:3]...)
	waitFor(t, 60*time.Second, func() bool { return strings.Contains(held.log(), "ingestd: new work") }, held.log)
	time.Sleep(time.Second) // a message acked (committed) too early would have been by now
	held.cmd.Process.Signal(syscall.SIGKILL)
	<-held.done
	if f, _ := holdings(t, table); len(f) != 1 {
		t.Fatalf("the held replica committed: the table holds %v", f)
	}

	// The new replicas start once the group has given up on the dead one (session_timeout):
	// starting at once, their join would wait for it up to the rebalance timeout (60 s).
	time.Sleep(7 * time.Second)
	testservers.Produce(t, brokers, "scenes", append(scenes[3:6], bad)...)
	ids = append(ids, scenes[3:6]...)
	a := start(t, args("a", "--batch-max-wait", "2s")...)
	b := start(t, args("b", "--batch-max-wait", "2s")...)
	logs := func() string { return "replica a:\n" + a.log() + "\nreplica b:\n" + b.log() }
	// Every scene in the table, the text file dead-lettered, and every message settled: the
	// group's committed offsets at the end of both partitions.
	waitFor(t, 120*time.Second, func() bool {
		f, _ := holdings(t, table)
		return len(f) >= len(ids) && strings.Contains(a.log()+b.log(), "dead-lettered") &&
			testservers.KafkaLag(t, brokers, "ingestd", "scenes") == 0
	}, func() string {
		return fmt.Sprintf("group lag %d; %s", testservers.KafkaLag(t, brokers, "ingestd", "scenes"), logs())
	})
	for _, p := range []*proc{a, b} {
		if code := p.stop(t, syscall.SIGTERM); code != exitOK {
			t.Errorf("exit %d after SIGTERM; %s", code, logs())
		}
	}
	checkExactlyOnce(t, table, ids)

	if lag := testservers.KafkaLag(t, brokers, "ingestd", "scenes"); lag != 0 {
		t.Errorf("after SIGTERM the group has %d records not committed", lag)
	}
	// Nothing left for the group: a new member receives no message.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pubsub.OpenSubscription(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	rctx, rcancel := context.WithTimeout(ctx, 8*time.Second)
	defer rcancel()
	if m, err := s.Receive(rctx); err == nil {
		t.Errorf("after both replicas stopped, the group still delivers %q: its offset was not committed; %s", m.Body, logs())
	}
}
