package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// storeVia is how to open a store on one server's bucket through another endpoint (a proxy, a
// dead port): the URL, and the environment it needs.
type storeVia struct {
	name string
	srv  func(testing.TB) *testservers.Server
	// url returns the table URL of bucket/path reached at hostPort.
	url func(t *testing.T, bucket, path, hostPort string) string
}

var vias = []storeVia{
	{"MinIO", testservers.MinIO, func(t *testing.T, bucket, path, hostPort string) string {
		return fmt.Sprintf("s3://%s/%s?endpoint=http://%s&region=us-east-1&use_path_style=true", bucket, path, hostPort)
	}},
	{"fake-gcs-server", testservers.GCS, func(t *testing.T, bucket, path, hostPort string) string {
		t.Setenv("STORAGE_EMULATOR_HOST", hostPort) // gs:// URLs take no endpoint
		return fmt.Sprintf("gs://%s/%s", bucket, path)
	}},
	{"Azurite", testservers.Azurite, func(t *testing.T, bucket, path, hostPort string) string {
		return fmt.Sprintf("azblob://%s/%s?domain=%s&protocol=http", bucket, path, hostPort)
	}},
}

// proxy is a reverse proxy in front of a test server whose answers a test can replace. It is a
// test double for what the servers cannot be made to do on demand: throttle, fail with a 5xx.
type proxy struct {
	addr string
	// intercept, when set, sees every request first: it returns true when it has answered
	// (forward forwards the request to the server, for answering after the fact).
	intercept func(w http.ResponseWriter, r *http.Request, forward func(w http.ResponseWriter)) bool
	sameHost  bool // present the server's own Host header
	mu        sync.Mutex
	requests  int
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		p.mu.Unlock()
		if p.sameHost {
			// fake-gcs-server takes requests for a Host other than its own as
			// virtual-hosted (BUCKET.host) ones.
			r.Host = u.Host
		}
		if p.intercept != nil && p.intercept(w, r, func(w http.ResponseWriter) { rp.ServeHTTP(w, r) }) {
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// conditionalPut reports whether r is a put-if-absent of an object (S3 and Azure: If-None-Match:
// *; GCS: ifGenerationMatch=0).
func conditionalPut(r *http.Request) bool {
	return r.Header.Get("If-None-Match") == "*" || r.URL.Query().Get("ifGenerationMatch") == "0"
}

// throttle answers as each service does when it throttles: S3 503 SlowDown, GCS 429, Azure
// 503 ServerBusy.
func throttle(name string, w http.ResponseWriter) {
	switch name {
	case "MinIO":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	case "fake-gcs-server":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":429,"message":"rate limit exceeded","errors":[{"reason":"rateLimitExceeded"}]}}`)
	case "Azurite":
		w.Header().Set("x-ms-error-code", "ServerBusy")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// Throttled requests are retried with backoff, conditional writes included: the service
// refused them unseen. Through a proxy that throttles the first 3 requests of every kind
// (plain reads and writes, then conditional writes), each call still succeeds.
func TestStoreRetriesThrottling(t *testing.T) {
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			srv := v.srv(t)
			p := newProxy(t, srv.Endpoint())
			p.sameHost = srv.Scheme == "gs"
			var throttled atomic.Int64
			p.intercept = func(w http.ResponseWriter, r *http.Request, _ func(http.ResponseWriter)) bool {
				if throttled.Load() < 3 || (conditionalPut(r) && throttled.Load() < 6) {
					throttled.Add(1)
					throttle(v.name, w)
					return true
				}
				return false
			}
			s, err := delta.OpenStore(t.Context(), v.url(t, srv.Bucket(t), "t", p.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := t.Context()
			if err := s.Put(ctx, "a.json", []byte("a")); err != nil {
				t.Fatalf("Put through 3 throttled answers: %v", err)
			}
			if got, err := delta.ReadAll(ctx, s, "a.json"); err != nil || string(got) != "a" {
				t.Fatalf("ReadAll = %q, %v", got, err)
			}
			if err := s.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("{}")); err != nil {
				t.Fatalf("PutIfAbsent through 3 throttled answers: %v", err)
			}
			if n := throttled.Load(); n != 6 {
				t.Errorf("%d requests throttled, want 6", n)
			}
		})
	}
}

// A put-if-absent that landed but was answered 5xx must not be retried: the retry would find
// its own object and report ErrExist, and a commit that won would look lost. It surfaces as an
// error that is not ErrExist (delta.Txn then reads the version back).
func TestStorePutIfAbsentServerError(t *testing.T) {
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			srv := v.srv(t)
			p := newProxy(t, srv.Endpoint())
			p.sameHost = srv.Scheme == "gs"
			var puts atomic.Int64
			p.intercept = func(w http.ResponseWriter, r *http.Request, forward func(http.ResponseWriter)) bool {
				if !conditionalPut(r) {
					return false
				}
				puts.Add(1)
				rec := &discardWriter{header: http.Header{}}
				forward(rec) // the write lands ...
				w.WriteHeader(http.StatusInternalServerError)
				return true // ... and the client is told 500
			}
			s, err := delta.OpenStore(t.Context(), v.url(t, srv.Bucket(t), "t", p.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			key := "_delta_log/00000000000000000000.json"
			err = s.PutIfAbsent(t.Context(), key, []byte("{}"))
			if err == nil || errors.Is(err, delta.ErrExist) {
				t.Fatalf("PutIfAbsent answered 500 after landing: error = %v, want an error that is not ErrExist", err)
			}
			if n := puts.Load(); n != 1 {
				t.Errorf("the conditional put was sent %d times, want once", n)
			}
			if got, err := delta.ReadAll(t.Context(), s, key); err != nil || string(got) != "{}" {
				t.Errorf("ReadAll(%q) = %q, %v; want the landed object", key, got, err)
			}
		})
	}
}

type discardWriter struct {
	header http.Header
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// A store whose endpoint accepts connections and never answers, or refuses them, fails each
// call within its time limit, with a *StoreError that names the endpoint (ErrUnreachable).
func TestStoreUnreachable(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close() // nothing listens there now

	const limit = 2 * time.Second
	for _, v := range vias {
		for _, tc := range []struct{ name, addr, why string }{
			{"silent", silent.Addr().String(), "no answer within 2s"},
			{"refused", refusedAddr, "connection refused"},
		} {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				u := v.url(t, "bucket", "t", tc.addr)
				s, err := delta.OpenStore(t.Context(), u, delta.WithRequestTimeout(limit))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				start := time.Now()
				_, err = s.Stat(t.Context(), "_delta_log/_last_checkpoint")
				took := time.Since(start)
				if took > limit+time.Second {
					t.Errorf("Stat took %s, want at most the %s limit (and a little)", took, limit)
				}
				var se *delta.StoreError
				if !errors.As(err, &se) || !errors.Is(err, delta.ErrUnreachable) {
					t.Fatalf("Stat: error = %v (%T), want a *StoreError matching ErrUnreachable", err, err)
				}
				msg := se.Error()
				t.Logf("%s after %s", msg, took.Round(time.Millisecond))
				t.Log(msg)
				for _, want := range []string{u, "cannot reach http://" + tc.addr, tc.why} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q does not contain %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("message %q is more than one line", msg)
				}
				// A listing too.
				for _, err := range s.List(t.Context(), "_delta_log/", "") {
					if !errors.Is(err, delta.ErrUnreachable) {
						t.Errorf("List: error = %v, want ErrUnreachable", err)
					}
					break
				}
			})
		}
	}
}

// The time limit bounds one step of a streamed read, not the whole read: a caller that holds
// a reader longer than the limit between reads still reads it whole.
func TestStoreTimeLimitPerStep(t *testing.T) {
	srv := testservers.MinIO(t)
	s, err := delta.OpenStore(t.Context(), srv.URL(t, "t"), delta.WithRequestTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := s.Put(ctx, "x.parquet", data); err != nil {
		t.Fatal(err)
	}
	r, err := s.ReadRange(ctx, "x.parquet", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the limit, outside any store call
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after a pause longer than the limit: %v", err)
	}
	if got := append(buf, rest...); !bytes.Equal(got, data) {
		t.Errorf("read %d bytes, want the %d written", len(got), len(data))
	}
	// And a listing whose consumer pauses between objects.
	for i := range 3 {
		if err := s.Put(ctx, fmt.Sprintf("_delta_log/%020d.json", i), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, err := range s.List(ctx, "_delta_log/", "") {
		if err != nil {
			t.Fatalf("List with pauses between objects: %v", err)
		}
		n++
		time.Sleep(1100 * time.Millisecond)
	}
	if n != 3 {
		t.Errorf("listed %d objects, want 3", n)
	}
}

// A missing bucket, refused credentials and a missing region come out as *StoreError with one
// line naming the URL and what to do. (fake-gcs-server takes any credentials: refused ones
// are checked on MinIO and Azurite.)
func TestStoreErrors(t *testing.T) {
	minio, azurite := testservers.MinIO(t), testservers.Azurite(t)
	testservers.GCS(t)
	cases := []struct {
		name string
		url  string
		env  map[string]string
		kind error
		want []string
	}{
		{"s3 no bucket", "s3://no-such-bucket/t", nil, delta.ErrNoBucket,
			[]string{"s3://no-such-bucket/t: bucket no-such-bucket does not exist: create it"}},
		{"gs no bucket", "gs://no-such-bucket/t", nil, delta.ErrNoBucket,
			[]string{"gs://no-such-bucket/t: bucket no-such-bucket does not exist: create it"}},
		{"azblob no container", "azblob://no-such-container/t", nil, delta.ErrNoBucket,
			[]string{"azblob://no-such-container/t: container no-such-container does not exist: create it"}},
		{"s3 wrong secret", "s3://" + minio.Bucket(t) + "/t", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, delta.ErrAccessDenied,
			[]string{"access denied (SignatureDoesNotMatch)", "AWS_SECRET_ACCESS_KEY"}},
		{"s3 unknown key", "s3://" + minio.Bucket(t) + "/t", map[string]string{"AWS_ACCESS_KEY_ID": "nobody"}, delta.ErrAccessDenied,
			[]string{"access denied (InvalidAccessKeyId)", "AWS_ACCESS_KEY_ID"}},
		{"azblob wrong key", "azblob://" + azurite.Bucket(t) + "/t",
			map[string]string{"AZURE_STORAGE_KEY": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="}, delta.ErrAccessDenied,
			[]string{"access denied (AuthorizationFailure", "AZURE_STORAGE_KEY"}},
		{"s3 no credentials", "s3://" + minio.Bucket(t) + "/t",
			map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
				"AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}, delta.ErrAccessDenied,
			[]string{"no AWS credentials: check AWS_ACCESS_KEY_ID"}},
		{"s3 no region", "s3://" + minio.Bucket(t) + "/t",
			map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"}, delta.ErrNoRegion,
			[]string{"no region: set AWS_REGION or add ?region= to the URL"}},
		{"gs no credentials", "gs://b/t",
			map[string]string{"STORAGE_EMULATOR_HOST": "", "GOOGLE_APPLICATION_CREDENTIALS": "", "HOME": "/nonexistent", "CLOUDSDK_CONFIG": "/nonexistent"},
			delta.ErrAccessDenied, []string{"gs://b/t: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS"}},
		{"azblob no account", "azblob://c/t",
			map[string]string{"AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_CONNECTION_STRING": ""}, delta.ErrAccessDenied,
			[]string{"azblob://c/t: no storage account: set AZURE_STORAGE_ACCOUNT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := firstStoreError(t.Context(), tc.url)
			var se *delta.StoreError
			if !errors.As(err, &se) || !errors.Is(err, tc.kind) {
				t.Fatalf("error = %v (%T), want a *StoreError matching %v", err, err, tc.kind)
			}
			if errors.Is(err, delta.ErrNotFound) {
				t.Errorf("error %v matches ErrNotFound: a missing bucket is not a missing object", err)
			}
			msg := se.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, tc.url+": ") || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line starting with the URL", msg)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

// firstStoreError opens a store and lists and writes it, returning the first error.
func firstStoreError(ctx context.Context, rawURL string) error {
	s, err := delta.OpenStore(ctx, rawURL, delta.WithRequestTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer s.Close()
	for _, err := range s.List(ctx, "_delta_log/", "") {
		if err != nil {
			return err
		}
	}
	return s.Put(ctx, "x.json", []byte("{}"))
}

// CreateBucket makes a missing bucket, and leaves an existing one (and its objects) alone.
func TestCreateBucket(t *testing.T) {
	for _, srv := range []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite} {
		s := srv(t)
		t.Run(s.Name, func(t *testing.T) {
			ctx := t.Context()
			u := fmt.Sprintf("%s://new-%d/tables/t", s.Scheme, time.Now().UnixNano()%1e9)
			if err := firstStoreError(ctx, u); !errors.Is(err, delta.ErrNoBucket) {
				t.Fatalf("before CreateBucket: error = %v, want ErrNoBucket", err)
			}
			if err := delta.CreateBucket(ctx, u); err != nil {
				t.Fatalf("CreateBucket(%q): %v", u, err)
			}
			if err := firstStoreError(ctx, u); err != nil {
				t.Fatalf("after CreateBucket: %v", err)
			}
			if err := delta.CreateBucket(ctx, u); err != nil {
				t.Fatalf("CreateBucket(%q) of an existing bucket: %v", u, err)
			}
			st, err := delta.OpenStore(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got, err := delta.ReadAll(ctx, st, "x.json"); err != nil || string(got) != "{}" {
				t.Errorf("after a second CreateBucket, x.json = %q, %v; want it kept", got, err)
			}
		})
	}
}
