package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/googleapis/gax-go/v2"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/s3blob"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// Defaults of the StoreOptions.
const (
	// DefaultRequestTimeout bounds each call to a store on a service.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultMaxAttempts is how many times a request is tried, in all, when it fails in a way
	// worth retrying (a 5xx answer, throttling, a refused connection).
	DefaultMaxAttempts = 5
	// maxBackoff caps the wait between two attempts.
	maxBackoff = 5 * time.Second
)

// StoreOption sets an option of OpenStore and CreateBucket.
type StoreOption func(*storeOptions)

type storeOptions struct {
	timeout     time.Duration
	maxAttempts int
}

func newStoreOptions(opts []StoreOption) storeOptions {
	o := storeOptions{timeout: DefaultRequestTimeout, maxAttempts: DefaultMaxAttempts}
	for _, f := range opts {
		f(&o)
	}
	o.maxAttempts = max(o.maxAttempts, 1)
	return o
}

// WithRequestTimeout bounds every call to a store on a service (s3, gs, azblob), its retries
// included: a call that gets no answer for d fails with an error matching ErrUnreachable. A
// streamed read or write fails when one of its Read, Write or Close calls takes longer than d.
// d <= 0 means no limit. The default is DefaultRequestTimeout.
func WithRequestTimeout(d time.Duration) StoreOption {
	return func(o *storeOptions) { o.timeout = d }
}

// WithMaxAttempts sets how many times a request is tried, in all, when it fails with a 5xx
// answer, throttling (S3 503 SlowDown, 429) or a refused connection, with jittered backoff
// between tries (default DefaultMaxAttempts). Conditional writes (PutIfAbsent,
// CreateIfAbsent) are retried only when the service refused them unseen (throttling, no
// connection): a retried put-if-absent that had landed would lose to itself.
func WithMaxAttempts(n int) StoreOption {
	return func(o *storeOptions) { o.maxAttempts = n }
}

// conn is a connection to one bucket of a service: the buckets a store uses and what its
// error messages say.
type conn struct {
	scheme   string
	bucket   string // the bucket or container name
	endpoint string // the service's base URL, for messages
	net      *netWatch
	// b retries every failed request worth retrying; cond retries only those the service
	// refused unseen, and serves conditional writes.
	b, cond *blob.Bucket
	create  func(ctx context.Context) error // creates the bucket; nil error if it exists
	closers []func() error                  // what to close after b and cond
	// putFile, when set, uploads a local file to a key of the bucket (the whole key, the
	// store's prefix included) in one request without buffering it (see UploadFile).
	putFile func(ctx context.Context, key string, body io.ReadSeeker, size int64) error
}

func (c *conn) close() error {
	errs := []error{c.b.Close(), c.cond.Close()}
	for _, f := range c.closers {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// dial opens a connection to the bucket of u, a s3://, gs:// or azblob:// URL, with clients of
// our own: their retries and transports are set here, and nothing is printed.
func dial(ctx context.Context, rawURL string, u *url.URL, o storeOptions) (*conn, error) {
	nw := &netWatch{base: newTransport()}
	var c *conn
	var err error
	switch u.Scheme {
	case "s3":
		c, err = dialS3(ctx, rawURL, u, o, nw)
	case "gs":
		c, err = dialGCS(ctx, rawURL, u, o, nw)
	case "azblob":
		c, err = dialAzure(ctx, rawURL, u, o, nw)
	default:
		return nil, fmt.Errorf("open store %q: unsupported scheme %q", rawURL, u.Scheme)
	}
	if err != nil {
		var se *StoreError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("open store %q: %w", rawURL, err)
	}
	c.scheme, c.bucket, c.net = u.Scheme, u.Host, nw
	return c, nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}

// netWatch is the transport of a store's clients. It remembers the last failed request, so
// that a call that ran out of time while the SDK waited to retry can say why ("connection
// refused", "503 Service Unavailable") rather than only that it timed out.
type netWatch struct {
	base http.RoundTripper
	last atomic.Pointer[netFailure]
}

// netFailure is a request that got no answer (err) or a 5xx or 429 one (status).
type netFailure struct {
	endpoint string
	err      error
	status   string
}

func (t *netWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == nil {
			t.last.Store(&netFailure{endpoint: req.URL.Scheme + "://" + req.URL.Host, err: err})
		}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		t.last.Store(&netFailure{endpoint: req.URL.Scheme + "://" + req.URL.Host, status: resp.Status})
	default:
		t.last.Store(nil)
	}
	return resp, err
}

// ---- S3

// s3Params are the query parameters of s3:// URLs that s3blob reads itself; the others go to
// gocloud's aws.V2ConfigFromURLParams (region, endpoint, profile, anonymous, ...).
var s3Params = []string{"use_path_style", "s3ForcePathStyle", "disable_https", "accelerate", "ssetype", "kmskeyid", "awssdk"}

func dialS3(ctx context.Context, rawURL string, u *url.URL, o storeOptions, nw *netWatch) (*conn, error) {
	q := u.Query()
	var clientOpts []func(*s3.Options)
	var bopts s3blob.Options
	for _, k := range s3Params {
		v := q.Get(k)
		q.Del(k)
		if v == "" {
			continue
		}
		switch k {
		case "use_path_style", "s3ForcePathStyle", "disable_https", "accelerate":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid value for %q: %w", k, err)
			}
			clientOpts = append(clientOpts, func(so *s3.Options) {
				switch k {
				case "disable_https":
					so.EndpointOptions.DisableHTTPS = b
				case "accelerate":
					so.UseAccelerate = b
				default:
					so.UsePathStyle = b
				}
			})
		case "ssetype":
			i := slices.IndexFunc(s3types.ServerSideEncryptionAes256.Values(), func(t s3types.ServerSideEncryption) bool {
				return strings.EqualFold(string(t), v)
			})
			if i < 0 {
				return nil, fmt.Errorf("%q is not a valid value for ssetype", v)
			}
			bopts.EncryptionType = s3types.ServerSideEncryptionAes256.Values()[i]
		case "kmskeyid":
			bopts.KMSEncryptionID = v
		}
	}
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, &StoreError{URL: rawURL, Kind: ErrNoRegion, Detail: "no region",
			Hint: "set AWS_REGION or add ?region= to the URL (us-east-1 for most S3-compatible servers)"}
	}
	cfg.HTTPClient = &http.Client{Transport: nw}
	endpoint := q.Get("endpoint")
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		endpoint = "https://s3." + cfg.Region + ".amazonaws.com"
	}
	bopts.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	client := func(safeOnly bool) *s3.Client {
		opts := append(slices.Clone(clientOpts), func(so *s3.Options) {
			so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
				ro.MaxAttempts = o.maxAttempts
				ro.MaxBackoff = maxBackoff
				// No retry quota: a store under sustained throttling keeps retrying, bounded by
				// the attempts and the call's time limit.
				ro.RateLimiter = ratelimit.None
				if safeOnly {
					ro.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.IsErrorRetryableFunc(s3RefusedUnseen)}
				}
			})
		})
		return s3.NewFromConfig(cfg, opts...)
	}
	all, safe := client(false), client(true)
	b, err := s3blob.OpenBucket(ctx, all, u.Host, &bopts)
	if err != nil {
		return nil, err
	}
	cond, err := s3blob.OpenBucket(ctx, safe, u.Host, &bopts)
	if err != nil {
		return nil, err
	}
	region := cfg.Region
	checksums := cfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired
	tls := strings.HasPrefix(strings.ToLower(endpoint), "https://")
	return &conn{
		endpoint: endpoint, b: b, cond: cond,
		putFile: func(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
			in := &s3.PutObjectInput{Bucket: aws.String(u.Host), Key: aws.String(key), Body: body,
				ContentLength: aws.Int64(size), ContentType: aws.String(contentType(key))}
			if bopts.EncryptionType != "" {
				in.ServerSideEncryption = bopts.EncryptionType
			}
			if bopts.KMSEncryptionID != "" {
				in.SSEKMSKeyId = aws.String(bopts.KMSEncryptionID)
			}
			var popts []func(*s3.Options)
			if checksums || tls {
				// The body's integrity is checked by its CRC (x-amz-checksum-*) or by TLS: a
				// SHA-256 of the payload in the signature would only add a pass over the file
				// on both sides (0.4 CPU seconds here, and as much in MinIO, for 512 MB).
				// The payload hash is set before the checksum middleware runs, which would
				// otherwise hash the file with SHA-256 while computing its CRC.
				popts = append(popts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware,
					func(st *middleware.Stack) error {
						return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("deltarasterUnsignedPayload",
							func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
								middleware.FinalizeOutput, middleware.Metadata, error) {
								return next.HandleFinalize(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
							}), middleware.Before)
					}))
			}
			_, err := all.PutObject(ctx, in, popts...)
			return err
		},
		create: func(ctx context.Context) error {
			in := &s3.CreateBucketInput{Bucket: aws.String(u.Host)}
			if region != "us-east-1" {
				in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
			}
			_, err := all.CreateBucket(ctx, in)
			var owned *s3types.BucketAlreadyOwnedByYou
			if errors.As(err, &owned) {
				return nil
			}
			return err
		},
	}, nil
}

// s3RefusedUnseen retries the errors of requests the service did not act on: throttling and
// connections that were never made.
func s3RefusedUnseen(err error) aws.Ternary {
	if throttled(err) || dialFailed(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

func throttled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if _, ok := retry.DefaultThrottleErrorCodes[ae.ErrorCode()]; ok {
			return true
		}
	}
	var hs interface{ HTTPStatusCode() int }
	return errors.As(err, &hs) && hs.HTTPStatusCode() == http.StatusTooManyRequests
}

// ---- GCS

func dialGCS(ctx context.Context, rawURL string, u *url.URL, o storeOptions, nw *netWatch) (*conn, error) {
	anonymous := false
	for k, v := range u.Query() {
		switch k {
		case "anonymous":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, fmt.Errorf("invalid value for %q: %w", k, err)
			}
			anonymous = b
		default:
			return nil, fmt.Errorf("unknown query parameter %q (gs:// takes anonymous=true)", k)
		}
	}
	hc := &http.Client{Transport: nw}
	endpoint := "https://storage.googleapis.com"
	var copts []option.ClientOption
	var creds *google.Credentials
	switch emu := os.Getenv("STORAGE_EMULATOR_HOST"); {
	case emu != "":
		endpoint = emu
		if !strings.Contains(emu, "://") {
			endpoint = "http://" + emu
		}
		copts = []option.ClientOption{option.WithoutAuthentication(), option.WithEndpoint(endpoint + "/storage/v1/"), option.WithHTTPClient(hc)}
	case anonymous:
		copts = []option.ClientOption{option.WithoutAuthentication(), option.WithHTTPClient(hc)}
	default:
		// Found quietly: gocloud's own opener prints a warning on standard output when there
		// are none.
		var err error
		creds, err = google.FindDefaultCredentials(ctx, storage.ScopeFullControl)
		if err != nil {
			return nil, &StoreError{URL: rawURL, Kind: ErrAccessDenied, Detail: "no Google credentials",
				Hint: "set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, add ?anonymous=true for a public bucket, or set STORAGE_EMULATOR_HOST for an emulator",
				Err:  err}
		}
		hc = &http.Client{Transport: &oauth2.Transport{Source: creds.TokenSource, Base: nw}}
		copts = []option.ClientOption{option.WithHTTPClient(hc)}
	}
	client := func(safeOnly bool) (*storage.Client, error) {
		c, err := storage.NewClient(ctx, copts...)
		if err != nil {
			return nil, err
		}
		ropts := []storage.RetryOption{
			storage.WithBackoff(gax.Backoff{Initial: 100 * time.Millisecond, Max: maxBackoff, Multiplier: 2}),
			storage.WithMaxAttempts(o.maxAttempts),
			// Every call of a Store may be retried: puts overwrite with the same bytes,
			// deletes are idempotent. The storage client's default retries only calls it
			// knows to be idempotent, and never an unconditional upload.
			storage.WithPolicy(storage.RetryAlways),
		}
		if safeOnly {
			// A conditional write is idempotent to the storage client, which would retry it
			// after a 503 that may have landed: retry only what the service refused unseen.
			ropts = append(ropts, storage.WithErrorFunc(gcsRefusedUnseen))
		}
		c.SetRetry(ropts...)
		return c, nil
	}
	all, err := client(false)
	if err != nil {
		return nil, err
	}
	safe, err := client(true)
	if err != nil {
		all.Close()
		return nil, err
	}
	b, err := gcsblob.OpenBucket(ctx, nil, u.Host, &gcsblob.Options{Client: all})
	if err != nil {
		return nil, err
	}
	cond, err := gcsblob.OpenBucket(ctx, nil, u.Host, &gcsblob.Options{Client: safe})
	if err != nil {
		return nil, err
	}
	return &conn{
		endpoint: endpoint, b: b, cond: cond,
		create: func(ctx context.Context) error {
			project := os.Getenv("GOOGLE_CLOUD_PROJECT")
			if project == "" && creds != nil {
				project = creds.ProjectID
			}
			if project == "" && os.Getenv("STORAGE_EMULATOR_HOST") != "" {
				project = "emulator"
			}
			if project == "" {
				return &StoreError{URL: rawURL, Kind: ErrNoBucket, Detail: "no project to create bucket " + u.Host + " in",
					Hint: "set GOOGLE_CLOUD_PROJECT"}
			}
			err := all.Bucket(u.Host).Create(ctx, project, nil)
			var ge *googleapi.Error
			if errors.As(err, &ge) && ge.Code == http.StatusConflict {
				return nil // it exists
			}
			return err
		},
		closers: []func() error{all.Close, safe.Close},
	}, nil
}

func gcsRefusedUnseen(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == http.StatusTooManyRequests
	}
	return dialFailed(err)
}

// ---- Azure

func dialAzure(ctx context.Context, rawURL string, u *url.URL, o storeOptions, nw *netWatch) (*conn, error) {
	defaults := azureblob.NewDefaultServiceURLOptions()
	so := *defaults
	for k, v := range u.Query() {
		var err error
		switch k {
		case "domain":
			so.StorageDomain = v[0]
		case "protocol":
			so.Protocol = v[0]
		case "cdn":
			so.IsCDN, err = strconv.ParseBool(v[0])
		case "localemu":
			so.IsLocalEmulator, err = strconv.ParseBool(v[0])
		case "storage_account":
			so.AccountName = v[0]
		default:
			return nil, fmt.Errorf("unknown query parameter %q (azblob:// takes domain, protocol, cdn, localemu, storage_account)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid value for %q: %w", k, err)
		}
	}
	if so.AccountName == "" {
		return nil, &StoreError{URL: rawURL, Kind: ErrAccessDenied, Detail: "no storage account",
			Hint: "set AZURE_STORAGE_ACCOUNT (and AZURE_STORAGE_KEY), or AZURE_STORAGE_CONNECTION_STRING"}
	}
	svcURL, err := azureblob.NewServiceURL(&so)
	if err != nil {
		return nil, err
	}
	if so.SASToken != "" {
		// The token is part of the service URL: the URL's parameters must not send it to
		// another origin.
		defURL, err := azureblob.NewServiceURL(defaults)
		if err != nil {
			return nil, err
		}
		a, err1 := url.Parse(string(defURL))
		b, err2 := url.Parse(string(svcURL))
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if !strings.EqualFold(a.Scheme, b.Scheme) || !strings.EqualFold(a.Host, b.Host) {
			return nil, errors.New("the URL cannot change the service endpoint when AZURE_STORAGE_SAS_TOKEN is set")
		}
	}
	endpoint := string(svcURL)
	if i := strings.IndexByte(endpoint, '?'); i >= 0 {
		endpoint = endpoint[:i] // no SAS token in messages
	}
	client := func(safeOnly bool) (*container.Client, error) {
		copts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: bodyReleased{&http.Client{Transport: nw}},
			Retry: policy.RetryOptions{
				MaxRetries:    int32(o.maxAttempts - 1),
				RetryDelay:    200 * time.Millisecond,
				MaxRetryDelay: maxBackoff,
			},
		}}
		if o.maxAttempts == 1 {
			copts.Retry.MaxRetries = -1 // 0 means the default, 3
		}
		if safeOnly {
			copts.Retry.ShouldRetry = azureRefusedUnseen
		}
		return newAzureClient(svcURL, so.AccountName, u.Host, copts)
	}
	all, err := client(false)
	if err != nil {
		return nil, err
	}
	safe, err := client(true)
	if err != nil {
		return nil, err
	}
	b, err := azureblob.OpenBucket(ctx, all, nil)
	if err != nil {
		return nil, err
	}
	cond, err := azureblob.OpenBucket(ctx, safe, nil)
	if err != nil {
		return nil, err
	}
	return &conn{
		endpoint: endpoint, b: b, cond: cond,
		create: func(ctx context.Context) error {
			_, err := all.Create(ctx, nil)
			if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				return nil
			}
			return err
		},
	}, nil
}

// newAzureClient picks the credentials as gocloud's azureblob does: a shared key, a SAS token
// (in the service URL), a connection string, else azidentity's default chain.
// newAzureClient signs with the shared key of account (the URL's storage_account, else
// AZURE_STORAGE_ACCOUNT) when AZURE_STORAGE_KEY is set, else with a SAS token, a connection
// string or Azure AD, in gocloud's order.
func newAzureClient(svcURL azureblob.ServiceURL, account, containerName string, copts *container.ClientOptions) (*container.Client, error) {
	key := os.Getenv("AZURE_STORAGE_KEY")
	cs := cmpOr(os.Getenv("AZURE_STORAGE_CONNECTION_STRING"), os.Getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING"))
	containerURL, err := url.JoinPath(string(svcURL), containerName)
	if err != nil {
		return nil, err
	}
	switch {
	case account != "" && key != "":
		cred, err := azblob.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, fmt.Errorf("AZURE_STORAGE_KEY: %w", err)
		}
		return container.NewClientWithSharedKeyCredential(containerURL, cred, copts)
	case os.Getenv("AZURE_STORAGE_SAS_TOKEN") != "":
		return container.NewClientWithNoCredential(containerURL, copts)
	case cs != "":
		return container.NewClientFromConnectionString(cs, containerName, copts)
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: copts.ClientOptions})
	if err != nil {
		return nil, err
	}
	return container.NewClient(containerURL, cred, copts)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func azureRefusedUnseen(resp *http.Response, err error) bool {
	if err != nil {
		return dialFailed(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return resp.Header.Get("x-ms-error-code") == string(bloberror.ServerBusy)
	}
	return false
}

// bodyReleased is the Azure clients' transport: it returns from a request only once net/http has
// let go of the request's body. net/http may go on reading a body after Do returns (it closes
// it when done: "the Body may be closed asynchronously after Do returns"), while azcore's retry
// rewinds that same body for the next try at once: a data race on the body's offset that the
// race detector found in make test (a retried block upload to Azurite), and a try that could
// send bytes of the one before.
type bodyReleased struct{ c *http.Client }

func (t bodyReleased) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.c.Do(req)
	}
	b := &closeSignal{ReadCloser: req.Body, closed: make(chan struct{})}
	req.Body = b
	resp, err := t.c.Do(req)
	select {
	case <-b.closed:
	case <-req.Context().Done():
	}
	return resp, err
}

// closeSignal closes closed when the body it wraps is closed.
type closeSignal struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func (c *closeSignal) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}
