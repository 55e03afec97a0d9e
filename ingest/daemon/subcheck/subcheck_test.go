package subcheck_test

import (
	"context"
	"strings"
	"testing"
	"time"

	_ "gocloud.dev/pubsub/azuresb"

	"github.com/deltaraster/deltaraster/ingest/daemon"
	"github.com/deltaraster/deltaraster/ingest/daemon/subcheck"
)

// TestProbeServiceBus: an azuresb:// subscription whose namespace does not answer fails to open
// within the probe's time limit, saying what to check, instead of opening and looking like an
// empty queue (azservicebus connects lazily and retries; no Service Bus emulator can run here,
// so only the failing side is tested).
func TestProbeServiceBus(t *testing.T) {
	defer func(d time.Duration) { subcheck.Timeout = d }(subcheck.Timeout)
	subcheck.Timeout = 3 * time.Second
	t.Setenv("SERVICEBUS_CONNECTION_STRING", "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0")
	start := time.Now()
	sub, err := daemon.OpenSubscription(context.Background(), "azuresb://scenes?subscription=ingestd",
		daemon.SubscriptionOptions{Check: subcheck.Probe})
	if err == nil {
		sub.Close(context.Background())
		t.Fatal("opened a Service Bus subscription on a closed port")
	}
	for _, want := range []string{"azuresb://scenes?subscription=ingestd", "did not answer within 3s", "SERVICEBUS_CONNECTION_STRING"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the open took %v", d)
	}
}
