package testservers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	rabbitPort = 5672
	rabbitNode = "rabbit@localhost"
	// rabbitBin is where Debian's rabbitmq-server puts its scripts.
	rabbitBin = "/usr/lib/rabbitmq/bin"

	// RabbitURL is the AMQP URL of the RabbitMQ server (its guest user, which the server's
	// configuration lets in from 127.0.0.1); RABBIT_SERVER_URL holds it in the tests.
	RabbitURL = "amqp://guest:guest@127.0.0.1:5672/"
	// NotifyTarget is the ID of MinIO's AMQP notification target; a bucket notification
	// configuration names it by the queue ARN NotifyARN.
	NotifyTarget = "DELTARASTER"
	NotifyARN    = "arn:minio:sqs::" + NotifyTarget + ":amqp"
	// NotifyExchange is the exchange MinIO publishes its events to: a durable headers exchange,
	// which routes by the header minio-bucket that MinIO sets on every event.
	NotifyExchange = "deltaraster-minio-events"
)

var rabbit = &Server{
	Name: "RabbitMQ", Scheme: "amqp", port: rabbitPort,
	env: []string{"RABBIT_SERVER_URL=" + RabbitURL},
	command: func(dir string) (*exec.Cmd, error) {
		bin := filepath.Join(rabbitBin, "rabbitmq-server")
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("rabbitmq-server is not installed (run `make servers`, which installs Debian's rabbitmq-server): %w", err)
		}
		conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", rabbitPort)
		if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
			return nil, err
		}
		// The port mapper first, answering before the node starts: a node that finds no epmd
		// listening yet when it registers exits (seen once at load 35).
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rabbitctl(ctx, dir, "epmd", "-daemon"); err != nil {
			return nil, fmt.Errorf("start epmd: %w", err)
		}
		for rabbitctl(ctx, dir, "epmd", "-names") != nil {
			select {
			case <-ctx.Done():
				return nil, errors.New("epmd did not answer within 20 s")
			case <-time.After(100 * time.Millisecond):
			}
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), rabbitEnv(dir)...)
		return cmd, nil
	},
	retry: true,
	ready: func(ctx context.Context) error {
		conn, err := amqp.DialConfig(RabbitURL, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			return err
		}
		return conn.Close()
	},
	halt: func(s *Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rabbitctl(ctx, s.dir, filepath.Join(rabbitBin, "rabbitmqctl"), "-n", rabbitNode, "stop")
		select {
		case <-s.exited:
		case <-ctx.Done():
		}
	},
	// epmd (the Erlang port mapper the node started) runs on in a session of its own; it
	// exits only when asked, once no node is registered.
	after: func(s *Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rabbitctl(ctx, s.dir, "epmd", "-kill")
	},
}

// rabbitEnv is the environment of RabbitMQ and its tools: everything private under dir.
func rabbitEnv(dir string) []string {
	return []string{
		"HOME=" + dir, // the Erlang cookie
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "data"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_NODENAME=" + rabbitNode,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", rabbitPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
	}
}

// rabbitctl runs a RabbitMQ or Erlang tool in the server's environment; its output goes to the
// server's log.
func rabbitctl(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), rabbitEnv(dir)...)
	if f, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	return cmd.Run()
}

// RabbitMQ returns the AMQP server (Debian's rabbitmq-server on 127.0.0.1:5672), starting it on
// first use. It is ready once it accepts an AMQP connection of RabbitURL.
func RabbitMQ(t testing.TB) *Server { t.Helper(); return rabbit.start(t) }

// RestartRabbitMQ stops the RabbitMQ server (rabbitmqctl stop: its clients see their
// connections closed) and starts it again on the same data: durable queues and their persistent
// messages are kept.
func RestartRabbitMQ(t testing.TB) {
	t.Helper()
	RabbitMQ(t)
	rabbit.stop()
	rabbit.cmd = nil
	if err := rabbit.run(); err != nil {
		rabbit.err = err
		t.Fatalf("restart RabbitMQ: %v", err)
	}
}

// RabbitDial opens a connection to the RabbitMQ server (starting it on first use), closed when
// the test ends.
func RabbitDial(t testing.TB) *amqp.Connection {
	t.Helper()
	conn := rabbitDial(t)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func rabbitDial(t testing.TB) *amqp.Connection {
	t.Helper()
	RabbitMQ(t)
	conn, err := amqp.Dial(RabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ: dial %s: %v", RabbitURL, err)
	}
	return conn
}

// NotifyQueue makes MinIO send the s3:ObjectCreated:* events of bucket to a new durable queue
// on RabbitMQ and returns the queue's name (rabbit://NAME subscribes to it). It starts MinIO and
// RabbitMQ when they are not running, declares NotifyExchange as MinIO does, binds the queue to
// it by the bucket's name, and sets the bucket's notification configuration.
func NotifyQueue(t testing.TB, bucket string) string {
	t.Helper()
	MinIO(t)
	conn := rabbitDial(t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("RabbitMQ: open a channel: %v", err)
	}
	defer ch.Close()
	queue := bucket + "-created"
	// The exchange's parameters are those of minioExtraEnv: MinIO declares it again with them
	// before each event, and a declaration that differs fails.
	if err := ch.ExchangeDeclare(NotifyExchange, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
		t.Fatalf("RabbitMQ: declare exchange %s: %v", NotifyExchange, err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("RabbitMQ: declare queue %s: %v", queue, err)
	}
	if err := ch.QueueBind(queue, "", NotifyExchange, false, amqp.Table{"x-match": "all", "minio-bucket": bucket}); err != nil {
		t.Fatalf("RabbitMQ: bind queue %s: %v", queue, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = S3Client().PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			QueueConfigurations: []s3types.QueueConfiguration{{
				QueueArn: aws.String(NotifyARN),
				Events:   []s3types.Event{"s3:ObjectCreated:*"},
			}},
		},
	})
	if err != nil {
		t.Fatalf("MinIO: notification configuration of bucket %s: %v", bucket, err)
	}
	return queue
}

// QueueState returns the number of messages ready in a queue (not counting those delivered and
// not yet acked) and the number of its consumers.
func QueueState(t testing.TB, queue string) (ready, consumers int) {
	t.Helper()
	conn := rabbitDial(t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("RabbitMQ: open a channel: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("RabbitMQ: queue %s: %v", queue, err)
	}
	return q.Messages, q.Consumers
}

// DrainQueue takes the messages ready in a queue, acks them, and returns their bodies.
func DrainQueue(t testing.TB, queue string) [][]byte {
	t.Helper()
	conn := rabbitDial(t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("RabbitMQ: open a channel: %v", err)
	}
	defer ch.Close()
	var out [][]byte
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatalf("RabbitMQ: get from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d.Body)
		if err := d.Ack(false); err != nil {
			t.Fatalf("RabbitMQ: ack: %v", err)
		}
	}
}
