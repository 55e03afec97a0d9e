package testservers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The fixed loopback ports: private to the namespace, so they never clash.
const (
	minioPort     = 9000
	minioConsole  = 9001
	gcsPort       = 4443
	azuritePort   = 10000
	minioUser     = "deltaraster"
	minioPassword = "deltaraster-secret"
	// AzuriteAccount and AzuriteKey are Azurite's published development account.
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	minio = &Server{
		Name: "MinIO", Scheme: "s3", port: minioPort,
		env: []string{
			"AWS_ACCESS_KEY_ID=" + minioUser,
			"AWS_SECRET_ACCESS_KEY=" + minioPassword,
			"AWS_REGION=us-east-1",
			fmt.Sprintf("AWS_ENDPOINT_URL=http://127.0.0.1:%d", minioPort),
			"AWS_EC2_METADATA_DISABLED=true",
		},
		command: func(dir string) (*exec.Cmd, error) {
			bin, err := program("bin/minio")
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(bin, "server", dir+"/data",
				"--address", fmt.Sprintf("127.0.0.1:%d", minioPort),
				"--console-address", fmt.Sprintf("127.0.0.1:%d", minioConsole), "--quiet")
			cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
				"MINIO_BROWSER=off", "MINIO_UPDATE=off")
			cmd.Env = append(cmd.Env, minioExtraEnv...)
			return cmd, nil
		},
		ready: func(ctx context.Context) error {
			return answers(ctx, fmt.Sprintf("http://127.0.0.1:%d/minio/health/live", minioPort), http.StatusOK)
		},
		create: func(ctx context.Context, bucket string) error {
			_, err := S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
			return err
		},
	}

	gcs = &Server{
		Name: "fake-gcs-server", Scheme: "gs", port: gcsPort,
		env: []string{fmt.Sprintf("STORAGE_EMULATOR_HOST=127.0.0.1:%d", gcsPort)},
		command: func(dir string) (*exec.Cmd, error) {
			bin, err := program("bin/fake-gcs-server")
			if err != nil {
				return nil, err
			}
			hostPort := fmt.Sprintf("127.0.0.1:%d", gcsPort)
			return exec.Command(bin, "-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(gcsPort),
				"-backend", "filesystem", "-filesystem-root", dir+"/data",
				"-public-host", hostPort, "-external-url", "http://"+hostPort, "-log-level", "warn"), nil
		},
		ready: func(ctx context.Context) error {
			return answers(ctx, fmt.Sprintf("http://127.0.0.1:%d/storage/v1/b", gcsPort), http.StatusOK)
		},
		create: func(ctx context.Context, bucket string) error {
			body := strings.NewReader(fmt.Sprintf(`{"name":%q}`, bucket))
			req, err := http.NewRequestWithContext(ctx, http.MethodPost,
				fmt.Sprintf("http://127.0.0.1:%d/storage/v1/b?project=deltaraster", gcsPort), body)
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("POST /storage/v1/b: %s", resp.Status)
			}
			return nil
		},
	}

	azurite = &Server{
		Name: "Azurite", Scheme: "azblob", port: azuritePort,
		env: []string{
			"AZURE_STORAGE_ACCOUNT=" + AzuriteAccount,
			"AZURE_STORAGE_KEY=" + AzuriteKey,
			fmt.Sprintf("AZURE_STORAGE_DOMAIN=127.0.0.1:%d", azuritePort),
			"AZURE_STORAGE_PROTOCOL=http",
		},
		command: func(dir string) (*exec.Cmd, error) {
			bin, err := program("azurite/node_modules/.bin/azurite-blob")
			if err != nil {
				return nil, err
			}
			return exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(azuritePort),
				"--location", dir+"/data", "--disableTelemetry", "--skipApiVersionCheck", "--silent"), nil
		},
		ready: func(ctx context.Context) error {
			// Any answer will do: an unsigned request is refused (403) once it listens.
			return answers(ctx, fmt.Sprintf("http://127.0.0.1:%d/%s?comp=list", azuritePort, AzuriteAccount),
				http.StatusOK, http.StatusForbidden, http.StatusBadRequest)
		},
		create: func(ctx context.Context, bucket string) error {
			c, err := AzureClient()
			if err != nil {
				return err
			}
			_, err = c.CreateContainer(ctx, bucket, nil)
			return err
		},
	}

	servers = []*Server{minio, gcs, azurite, rabbit, fauxqs}

	// minioExtraEnv is added to MinIO's environment when it starts (bucket notification targets):
	// the AMQP target NotifyTarget, publishing to NotifyExchange on RabbitMQ. MinIO does not reach
	// the target when it starts: it dials on the first event to send (and again after a
	// failure), so RabbitMQ may start later, and a MinIO whose buckets notify nothing never
	// dials it.
	minioExtraEnv = []string{
		"MINIO_NOTIFY_AMQP_ENABLE_" + NotifyTarget + "=on",
		"MINIO_NOTIFY_AMQP_URL_" + NotifyTarget + "=" + strings.TrimSuffix(RabbitURL, "/"),
		"MINIO_NOTIFY_AMQP_EXCHANGE_" + NotifyTarget + "=" + NotifyExchange,
		"MINIO_NOTIFY_AMQP_EXCHANGE_TYPE_" + NotifyTarget + "=headers",
		"MINIO_NOTIFY_AMQP_ROUTING_KEY_" + NotifyTarget + "=minio",
		"MINIO_NOTIFY_AMQP_DELIVERY_MODE_" + NotifyTarget + "=2",
		"MINIO_NOTIFY_AMQP_DURABLE_" + NotifyTarget + "=on",
		"MINIO_NOTIFY_AMQP_PUBLISHING_CONFIRMS_" + NotifyTarget + "=on",
	}
)

// MinIO returns the S3 server, starting it on first use.
func MinIO(t testing.TB) *Server { t.Helper(); return minio.start(t) }

// GCS returns the GCS server (fake-gcs-server), starting it on first use.
func GCS(t testing.TB) *Server { t.Helper(); return gcs.start(t) }

// Azurite returns the Azure blob server, starting it on first use.
func Azurite(t testing.TB) *Server { t.Helper(); return azurite.start(t) }

// All returns every object-store server, started.
func All(t testing.TB) []*Server {
	t.Helper()
	return []*Server{MinIO(t), GCS(t), Azurite(t)}
}

// S3Client is an S3 client for MinIO, for tests that arrange objects directly.
func S3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fmt.Sprintf("http://127.0.0.1:%d", minioPort)),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(minioUser, minioPassword, ""),
	})
}

// AzureClient is a blob service client for Azurite.
func AzureClient() (*azblob.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		return nil, err
	}
	return azblob.NewClientWithSharedKeyCredential(
		fmt.Sprintf("http://127.0.0.1:%d/%s/", azuritePort, AzuriteAccount), cred, nil)
}
