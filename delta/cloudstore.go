package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/aws/smithy-go"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

// cloudStore is a bucketStore on a service (s3, gs, azblob) with a time limit on every call and
// errors that say what to fix: a missing bucket, refused credentials and an unreachable
// endpoint each come out as a *StoreError.
type cloudStore struct {
	*bucketStore
	conn    *conn
	timeout time.Duration
	prefix  string // the key prefix of the URL's path ("" or ending in "/")
}

func (s *cloudStore) Close() error { return s.conn.close() }

// watchdog cancels a call's context when one step of it (a request, a Read, a Write, a page of
// a listing) runs longer than d. It is armed while the store is inside the SDK and disarmed
// while the caller holds a reader, a writer or a listing between steps.
type watchdog struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	d      time.Duration
	timer  *time.Timer // nil when there is no limit
}

// errTimedOut is the cause of a context a watchdog cancelled.
var errTimedOut = errors.New("request time limit reached")

// watch starts an armed watchdog for one call.
func (s *cloudStore) watch(ctx context.Context) *watchdog {
	w := &watchdog{parent: ctx, d: s.timeout}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	if w.d > 0 {
		w.timer = time.AfterFunc(w.d, func() { w.cancel(errTimedOut) })
	}
	return w
}

func (w *watchdog) arm() {
	if w.timer != nil {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) disarm() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *watchdog) stop() {
	w.disarm()
	w.cancel(context.Canceled)
}

// timedOut reports whether the watchdog, not the caller, ended the call.
func (w *watchdog) timedOut() bool {
	return w.parent.Err() == nil && errors.Is(context.Cause(w.ctx), errTimedOut)
}

func (s *cloudStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	w := s.watch(ctx)
	defer w.stop()
	info, err := s.bucketStore.Stat(w.ctx, key)
	return info, s.classify(w, err)
}

func (s *cloudStore) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	w := s.watch(ctx)
	r, err := s.bucketStore.ReadRange(w.ctx, key, offset, length)
	if err != nil {
		w.stop()
		return nil, s.classify(w, err)
	}
	w.disarm()
	return &watchedReader{r: r, w: w, s: s}, nil
}

func (s *cloudStore) ReadPinned(ctx context.Context, key, gen string, offset, length int64) (io.ReadCloser, ObjectInfo, error) {
	w := s.watch(ctx)
	r, info, err := s.bucketStore.ReadPinned(w.ctx, key, gen, offset, length)
	if err != nil {
		w.stop()
		return nil, info, s.classify(w, err)
	}
	w.disarm()
	return &watchedReader{r: r, w: w, s: s}, info, nil
}

type watchedReader struct {
	r io.ReadCloser
	w *watchdog
	s *cloudStore
}

func (r *watchedReader) Read(p []byte) (int, error) {
	r.w.arm()
	n, err := r.r.Read(p)
	r.w.disarm()
	if err != nil && err != io.EOF {
		err = r.s.classify(r.w, err)
	}
	return n, err
}

func (r *watchedReader) Close() error {
	err := r.r.Close()
	r.w.stop()
	return err
}

func (s *cloudStore) Put(ctx context.Context, key string, data []byte) error {
	w := s.watch(ctx)
	defer w.stop()
	return s.classify(w, s.bucketStore.Put(w.ctx, key, data))
}

func (s *cloudStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	w := s.watch(ctx)
	defer w.stop()
	return s.classify(w, s.bucketStore.PutIfAbsent(w.ctx, key, data))
}

func (s *cloudStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	w := s.watch(ctx)
	wc, err := s.bucketStore.Create(w.ctx, key)
	if err != nil {
		w.stop()
		return nil, s.classify(w, err)
	}
	w.disarm()
	return &watchedWriter{wc: wc, w: w, s: s}, nil
}

func (s *cloudStore) CreateIfAbsent(ctx context.Context, key string) (io.WriteCloser, error) {
	w := s.watch(ctx)
	wc, err := s.bucketStore.CreateIfAbsent(w.ctx, key)
	if err != nil {
		w.stop()
		return nil, s.classify(w, err)
	}
	w.disarm()
	return &watchedWriter{wc: wc, w: w, s: s}, nil
}

type watchedWriter struct {
	wc io.WriteCloser
	w  *watchdog
	s  *cloudStore
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.w.arm()
	n, err := w.wc.Write(p)
	w.w.disarm()
	return n, w.s.classify(w.w, err)
}

func (w *watchedWriter) Close() error {
	w.w.arm()
	err := w.wc.Close()
	w.w.stop()
	return w.s.classify(w.w, err)
}

func (s *cloudStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		w := s.watch(ctx)
		defer w.stop()
		for info, err := range s.bucketStore.List(w.ctx, prefix, startAfter) {
			w.disarm()
			if err != nil {
				yield(ObjectInfo{}, s.classify(w, err))
				return
			}
			if !yield(info, nil) {
				return
			}
			w.arm()
		}
	}
}

func (s *cloudStore) Delete(ctx context.Context, key string) error {
	w := s.watch(ctx)
	defer w.stop()
	return s.classify(w, s.bucketStore.Delete(w.ctx, key))
}

// classify turns the errors that mean the store cannot be used as configured into a
// *StoreError; other errors are returned as they are.
func (s *cloudStore) classify(w *watchdog, err error) error {
	if err == nil {
		return nil
	}
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	if w.timedOut() {
		endpoint, why := s.conn.endpoint, fmt.Sprintf("no answer within %s", w.d)
		if f := s.conn.net.last.Load(); f != nil {
			if f.err == nil {
				// The service answers, with errors: it is not unreachable.
				return fmt.Errorf("no success within %s, the last answer %s: %w: %w", w.d, f.status, context.DeadlineExceeded, err)
			}
			endpoint, why = f.endpoint, netReason(f.err)+", then no answer within "+w.d.String()
		}
		return &StoreError{URL: s.url, Kind: ErrUnreachable, Detail: fmt.Sprintf("cannot reach %s (%s)", endpoint, why),
			Hint: unreachableHint(s.kind), Err: fmt.Errorf("%w: %w", context.DeadlineExceeded, err)}
	}
	return classifyErr(s.url, s.kind, s.conn.bucket, s.conn.endpoint, err)
}

// classifyErr is classify for one error of a service's SDK.
func classifyErr(rawURL, scheme, bucket, endpoint string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the caller's own
	}
	what := "bucket"
	if scheme == "azblob" {
		what = "container"
	}
	noBucket := func(cause error) error {
		return &StoreError{URL: rawURL, Kind: ErrNoBucket, Detail: fmt.Sprintf("%s %s does not exist", what, bucket),
			Hint: "create it", Err: cause}
	}
	denied := func(detail string, cause error) error {
		return &StoreError{URL: rawURL, Kind: ErrAccessDenied, Detail: detail, Hint: credentialsHint(scheme), Err: cause}
	}

	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return noBucket(ae)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "AllAccessDisabled", "Forbidden":
			return denied(fmt.Sprintf("access denied (%s)", ae.ErrorCode()), ae)
		}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch code := bloberror.Code(re.ErrorCode); {
		case code == bloberror.ContainerNotFound:
			return noBucket(errors.New(firstLine(re.Error())))
		case code == bloberror.AuthenticationFailed, code == bloberror.AuthorizationFailure,
			code == bloberror.AuthorizationPermissionMismatch, code == bloberror.InvalidAuthenticationInfo,
			re.StatusCode == 401, re.StatusCode == 403:
			return denied(fmt.Sprintf("access denied (%s)", cmpOr(re.ErrorCode, fmt.Sprint(re.StatusCode))), errors.New(firstLine(re.Error())))
		}
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case ge.Code == 404 && strings.Contains(strings.ToLower(ge.Message), "bucket"):
			return noBucket(ge)
		case ge.Code == 401 || ge.Code == 403:
			return denied(fmt.Sprintf("access denied (%d)", ge.Code), ge)
		}
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return noBucket(storage.ErrBucketNotExist)
	}
	var rerr *oauth2.RetrieveError
	var azAuth *azidentity.AuthenticationFailedError
	switch {
	case errors.As(err, &rerr):
		return denied("credentials refused", rerr)
	case errors.As(err, &azAuth):
		return denied("credentials refused", errors.New(firstLine(azAuth.Error())))
	case scheme == "s3" && strings.Contains(err.Error(), "get credentials:"):
		return denied("no AWS credentials", err)
	case scheme == "azblob" && strings.Contains(err.Error(), "DefaultAzureCredential"):
		return denied("no Azure credentials", errors.New(firstLine(err.Error())))
	}
	if dialFailed(err) {
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				endpoint = u.Scheme + "://" + u.Host
			}
		}
		return &StoreError{URL: rawURL, Kind: ErrUnreachable, Detail: fmt.Sprintf("cannot reach %s (%s)", endpoint, netReason(err)),
			Hint: unreachableHint(scheme), Err: err}
	}
	return err
}

// dialFailed reports whether err is a failure to connect at all: the request was never sent.
func dialFailed(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// netReason says in a few words why a connection failed.
func netReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "no such host " + dnsErr.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "connection timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func unreachableHint(scheme string) string {
	switch scheme {
	case "s3":
		return "check AWS_ENDPOINT_URL or ?endpoint= in the URL, and the network"
	case "gs":
		if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
			return "check STORAGE_EMULATOR_HOST"
		}
		return "check the network"
	case "azblob":
		return "check AZURE_STORAGE_DOMAIN and AZURE_STORAGE_PROTOCOL (or ?domain= and ?protocol= in the URL), and the network"
	}
	return "check the network"
}

func credentialsHint(scheme string) string {
	switch scheme {
	case "s3":
		return "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
	case "gs":
		return "check GOOGLE_APPLICATION_CREDENTIALS (or `gcloud auth application-default login`)"
	case "azblob":
		return "check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (or AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN)"
	}
	return "check the credentials"
}

// maxFilePut is the largest file UploadFile sends in one request (S3 takes up to 5 GiB in one
// PutObject); larger ones are streamed through Create.
const maxFilePut = 4 << 30

// UploadFile writes the first size bytes of the local file f to key and publishes the object
// whole when it returns nil; when it fails, or ctx is cancelled, nothing is published. It
// reads f with ReadAt only (f's offset is left alone), so f may be read elsewhere meanwhile.
//
// On S3 it is one PutObject whose body is the file itself: nothing is buffered in memory (a
// streamed Create holds its parts: 16 MiB read whole before the first request, then up to 3
// parts of 8 MiB), a failed request is retried by rewinding the file, and the payload's
// integrity rests on its CRC (or TLS) rather than a SHA-256 in the signature. The store's
// request time limit applies to progress: the upload fails when no byte of the file is read
// for that long. Other stores, and keys S3 would need escaped, stream the file through Create.
func UploadFile(ctx context.Context, s Store, key string, f *os.File, size int64) error {
	if cs, ok := s.(*cloudStore); ok && cs.conn.putFile != nil && size <= maxFilePut && plainKey(cs.prefix+key) {
		return cs.uploadFile(ctx, key, f, size)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.Create(wctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, 0, size)); err != nil {
		cancel() // abort: nothing is published
		w.Close()
		return err
	}
	return w.Close()
}

func (s *cloudStore) uploadFile(ctx context.Context, key string, f *os.File, size int64) error {
	w := s.watch(ctx)
	defer w.stop()
	body := &progressReader{SectionReader: io.NewSectionReader(f, 0, size), w: w}
	if err := s.conn.putFile(w.ctx, s.prefix+key, body, size); err != nil {
		return s.classify(w, fmt.Errorf("put %s: %w", key, err))
	}
	return nil
}

// progressReader re-arms a watchdog on every read: the time limit is on progress.
type progressReader struct {
	*io.SectionReader
	w *watchdog
}

func (r *progressReader) Read(p []byte) (int, error) {
	r.w.arm()
	return r.SectionReader.Read(p)
}
