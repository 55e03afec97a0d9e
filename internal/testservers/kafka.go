package testservers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka starts a Kafka cluster for one test, with the topics given (name -> partitions), and
// returns its brokers as KAFKA_BROKERS takes them; the cluster stops when the test ends.
//
// The cluster is franz-go's kfake, an in-process implementation of Kafka's wire protocol
// (produce, fetch, consumer groups and offset commits, metadata) listening on 127.0.0.1 in the
// test's network namespace. It is a fake, and the only Kafka that can run here: Apache Kafka and
// Redpanda are downloads from their own sites (neither Debian nor npm packages a broker), and
// the module proxy is the only registry of Go code reachable.
func Kafka(t testing.TB, topics map[string]int32) string {
	t.Helper()
	if unavailable != nil {
		t.Fatalf("cannot start Kafka (kfake): %v", unavailable)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	for name, parts := range topics {
		opts = append(opts, kfake.SeedTopics(parts, name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("cannot start Kafka (kfake): %v", err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// Produce writes one record a value to topic, spreading them over its partitions in turn.
func Produce(t testing.TB, brokers, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// KafkaLag is how many records of topic the consumer group has not committed: the sum over the
// topic's partitions of the end offset less the group's committed offset (or the whole partition
// where the group has committed none).
func KafkaLag(t testing.TB, brokers, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p.Partition, -1 // the end
		lt.Partitions = append(lt.Partitions, lp)
		ot.Partitions = append(ot.Partitions, p.Partition)
	}
	lo.Topics = append(lo.Topics, lt)
	of.Topics = append(of.Topics, ot)
	lresp, err := lo.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	oresp, err := of.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("offsets of group %s: %v", group, err)
	}
	committed := map[int32]int64{}
	for _, ot := range oresp.Topics {
		for _, p := range ot.Partitions {
			committed[p.Partition] = max(p.Offset, 0) // -1: none
		}
	}
	var lag int64
	for _, lt := range lresp.Topics {
		for _, p := range lt.Partitions {
			lag += p.Offset - committed[p.Partition]
		}
	}
	return lag
}
