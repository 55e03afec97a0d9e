package main

import (
	"strings"
	"testing"
)

// TestSubscriptionURL: a rabbit:// URL gets a prefetch bound unless it has one or the run is
// --once; other URLs are left as they are.
func TestSubscriptionURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		once bool
		want string
	}{
		{"rabbit://scenes", false, "rabbit://scenes?prefetch_count=64"},
		{"rabbit://scenes?prefetch_count=5", false, "rabbit://scenes?prefetch_count=5"},
		{"rabbit://scenes", true, "rabbit://scenes"},
		{"mem://topic", false, "mem://topic"},
	} {
		got, err := subscriptionURL(tc.in, 64, tc.once)
		if err != nil || got != tc.want {
			t.Errorf("subscriptionURL(%q, 64, %v) = %q, %v; want %q", tc.in, tc.once, got, err, tc.want)
		}
	}
}

// TestHelpRabbit: --help tells how to reach RabbitMQ.
func TestHelpRabbit(t *testing.T) {
	code, out, _ := ingestd(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"rabbit://QUEUE", "RABBIT_SERVER_URL", "prefetch_count", "nacked"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestHelpQueues: --help tells which drivers are linked and how to reach SQS and Pub/Sub.
func TestHelpQueues(t *testing.T) {
	code, out, _ := ingestd(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"links five drivers: rabbit://, awssqs://, gcppubsub://, kafka:// and mem://", "awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE",
		"AWS_ENDPOINT_URL_SQS", "AWS_REGION", "SNS", "visibility", "azuresb:// is not linked", "kafka://GROUP?topic=TOPIC", "KAFKA_BROKERS",
		"gcppubsub://projects/PROJECT/subscriptions/SUBSCRIPTION", "PUBSUB_EMULATOR_HOST", "OBJECT_FINALIZE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
