package main

import (
	"strings"
	"testing"
	"time"
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
	for _, want := range []string{"links six drivers: rabbit://, awssqs://, gcppubsub://, azuresb://, kafka:// and\nmem://", "awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE",
		"AWS_ENDPOINT_URL_SQS", "AWS_REGION", "SNS", "visibility", "azuresb://TOPIC?subscription=SUBSCRIPTION", "SERVICEBUS_CONNECTION_STRING", "lock duration", "kafka://GROUP?topic=TOPIC", "KAFKA_BROKERS",
		"gcppubsub://projects/PROJECT/subscriptions/SUBSCRIPTION", "PUBSUB_EMULATOR_HOST", "OBJECT_FINALIZE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestSubscribeServiceBusUnset: azuresb:// without a namespace in the environment fails at once,
// naming the variables to set (the driver is linked; no Service Bus emulator can run here, so
// the probe of an unreachable namespace is tested in ingest/daemon, TestProbeServiceBus).
func TestSubscribeServiceBusUnset(t *testing.T) {
	t.Setenv("SERVICEBUS_CONNECTION_STRING", "")
	t.Setenv("AZURE_SERVICEBUS_HOSTNAME", "")
	code, _, stderr := ingestd(t, "--table", t.TempDir(), "--subscribe", "azuresb://blob-events?subscription=ingestd",
		"--once", "--metrics-addr", "")
	if code != exitFailure || !strings.Contains(stderr, "SERVICEBUS_CONNECTION_STRING") || !strings.Contains(stderr, "AZURE_SERVICEBUS_HOSTNAME") {
		t.Errorf("exit %d, stderr %q; want %d and the variables to set", code, stderr, exitFailure)
	}
}

// TestSubscribePubSubUnreachable: gcppubsub:// with PUBSUB_EMULATOR_HOST on a closed port fails
// at start, naming the subscription and what to check, instead of idling and exiting 0 with
// --once (gocloud's driver retries an unavailable server inside each receive). A child process:
// the driver dials once per process.
func TestSubscribePubSubUnreachable(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
	p := start(t, "--table", t.TempDir(), "--subscribe", "gcppubsub://projects/p/subscriptions/scenes",
		"--once", "--idle", "1s", "--metrics-addr", "")
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("still running after 90 s; log:\n%s", p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != exitFailure ||
		!strings.Contains(p.log(), "the Pub/Sub subscription projects/p/subscriptions/scenes did not answer within 30s (check PUBSUB_EMULATOR_HOST") {
		t.Errorf("exit %d; want %d and the subscription named; log:\n%s", code, exitFailure, p.log())
	}
}
