// Package subcheck checks, when a subscription is opened, that the server of the drivers that
// connect lazily answers and that the subscription exists: set daemon.SubscriptionOptions.Check
// to Probe. It is a package of its own so that importing ingest/daemon does not link the Azure
// Service Bus and Google Pub/Sub clients; ingestd, which links those drivers, links it.
package subcheck

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	raw "cloud.google.com/go/pubsub/apiv1"
	pb "cloud.google.com/go/pubsub/apiv1/pubsubpb"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"gocloud.dev/pubsub"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Timeout bounds the request that checks a subscription answers.
var Timeout = 30 * time.Second

// Probe checks, for the drivers that connect lazily, that the subscription's server answers and
// the subscription exists, so a wrong address or name fails the open instead of looking like an
// empty queue: these drivers retry what they call transient failures inside Receive until its
// context ends, which a poll takes for idleness (and --once exited 0 having done nothing).
//   - Azure Service Bus: one peek (no lock is taken, nothing is received).
//   - Google Cloud Pub/Sub: GetSubscription. A subscriber without the viewer's permission gets
//     PermissionDenied, which still says the server answered: accepted.
//
// The other linked drivers dial at open (rabbit://, kafka://) or fail their first receive with
// an error they do not retry (awssqs://).
func Probe(ctx context.Context, rawURL string, sub *pubsub.Subscription) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	late := func(what, check string) error {
		return fmt.Errorf("the %s did not answer within %v (%s)", what, Timeout, check)
	}
	var sb *azservicebus.Receiver
	if sub.As(&sb) {
		const check = "check SERVICEBUS_CONNECTION_STRING or AZURE_SERVICEBUS_HOSTNAME, the topic and ?subscription="
		if _, err := sb.PeekMessages(ctx, 1, nil); err != nil {
			if ctx.Err() != nil {
				return late("Service Bus subscription", check)
			}
			return fmt.Errorf("the Service Bus subscription refused a peek (%s): %w", check, err)
		}
		return nil
	}
	var ps *raw.SubscriberClient
	if sub.As(&ps) {
		const check = "check PUBSUB_EMULATOR_HOST or the Google credentials"
		name := gcpSubscriptionPath(rawURL)
		_, err := ps.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: name})
		switch status.Code(err) {
		case codes.OK, codes.PermissionDenied:
			return nil
		case codes.NotFound:
			return fmt.Errorf("the Pub/Sub subscription %s does not exist", name)
		}
		if ctx.Err() != nil {
			return late("Pub/Sub subscription "+name, check)
		}
		return fmt.Errorf("the Pub/Sub subscription %s cannot be read (%s): %w", name, check, err)
	}
	return nil
}

// gcpSubscriptionPath is the subscription a gcppubsub:// URL names, as gocloud's driver reads
// it: gcppubsub://projects/P/subscriptions/S, or the short gcppubsub://P/S.
func gcpSubscriptionPath(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	p := path.Join(u.Host, u.Path)
	if strings.HasPrefix(p, "projects/") {
		return p
	}
	return "projects/" + u.Host + "/subscriptions/" + strings.TrimPrefix(u.Path, "/")
}
