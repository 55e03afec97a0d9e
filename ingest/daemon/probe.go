package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"gocloud.dev/pubsub"
)

// probeTimeout bounds the request that checks a subscription answers when it is opened (a
// variable for the tests).
var probeTimeout = 30 * time.Second

// probe checks, for the drivers that connect lazily, that the subscription's server answers and
// the subscription exists, so a wrong address or name fails the open instead of looking like an
// empty queue: the drivers retry what they call transient failures inside Receive until its
// context ends, which a poll takes for idleness (and --once would exit 0 having done nothing).
// Azure Service Bus: one peek (no lock is taken, nothing is received). The other linked drivers
// dial (rabbit://, kafka://) or fail their first receive with an error they do not retry.
func probe(ctx context.Context, sub *pubsub.Subscription) error {
	var r *azservicebus.Receiver
	if !sub.As(&r) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	const check = "check SERVICEBUS_CONNECTION_STRING or AZURE_SERVICEBUS_HOSTNAME, the topic and ?subscription="
	if _, err := r.PeekMessages(ctx, 1, nil); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("the Service Bus subscription did not answer within %v (%s)", probeTimeout, check)
		}
		return fmt.Errorf("the Service Bus subscription refused a peek (%s): %w", check, err)
	}
	return nil
}
