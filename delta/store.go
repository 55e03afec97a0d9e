package delta

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string // relative to the store's root
	Size    int64
	ModTime time.Time
	ETag    string // empty where the backend has none
	// Generation names this version of the object: every write of a key makes a new one. It
	// is set by Stat and ReadPinned (empty from List); ReadPinned takes it to read that
	// version only.
	Generation string
}

// ErrChanged means an object was replaced or deleted between two reads of one open file: the
// second read would have come from another object, so it fails rather than mix the two.
var ErrChanged = errors.New("delta: object changed while being read")

// Store is the one storage seam of the library. Keys are relative to the table root and use "/".
//
// Contract, which every implementation passes in package deltatest:
//   - List yields every object whose key starts with prefix and sorts after startAfter, in
//     lexical (byte) order, and includes every put that completed before List was called. A
//     failed or cancelled listing yields an error; it never ends early without one.
//   - A put is atomic: readers see the whole object or none of it.
//   - PutIfAbsent has mutual exclusion: when several writers race on one key, exactly one
//     succeeds and the others get an error matching ErrExist; the object is never overwritten.
//   - Reads of a missing object and Stat of one return an error matching ErrNotFound.
//   - Delete is idempotent: deleting a missing object succeeds.
//   - CreateIfAbsent never replaces an object: when the key exists at Close, Close returns an
//     error matching ErrExist and the existing object is left whole.
//   - ReadPinned reads one version of an object: once a version is named, a read of a key that
//     holds another one (or none) fails with ErrChanged; bytes of two versions never mix.
//   - ListTemp yields the store's own temporary objects under prefix, which List never shows:
//     those of a writer that died before publishing. Stores that write none yield nothing.
type Store interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// ReadRange reads length bytes from offset; length < 0 reads to the end.
	ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// ReadPinned is ReadRange from the version of key named gen (a Generation), or from the
	// current version when gen is "". It returns the version read: Size is the whole object's
	// and Generation is set (empty only where the backend cannot name versions). A key that no
	// longer holds version gen is an error matching ErrChanged that names the key.
	ReadPinned(ctx context.Context, key, gen string, offset, length int64) (io.ReadCloser, ObjectInfo, error)
	Put(ctx context.Context, key string, data []byte) error
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Create streams a large object; it becomes visible, whole, when Close returns nil. Abort
	// by cancelling ctx before Close.
	Create(ctx context.Context, key string) (io.WriteCloser, error)
	// CreateIfAbsent is Create that publishes only when key does not exist: Close returns an
	// error matching ErrExist when it does, and the existing object is kept as it is.
	CreateIfAbsent(ctx context.Context, key string) (io.WriteCloser, error)
	// ListTemp yields the store's temporary objects under prefix in key order (see above).
	ListTemp(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	Delete(ctx context.Context, key string) error
	// URL is the table root the store was opened on.
	URL() string
	Close() error
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	r, err := s.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// ReaderAt adapts an object of known size to io.ReaderAt (one ranged read per call), for
// Parquet readers. Its reads are pinned to one version of the object: the first read names
// the version (and checks its size), every later read is of that version only, so an object
// replaced or deleted while open fails with an error matching ErrChanged rather than mixing
// the footer of one file with the pages of another. It is safe for concurrent use.
type ReaderAt struct {
	ctx  context.Context
	s    Store
	key  string
	size int64

	mu  sync.Mutex
	gen string // the version pinned; "" until the first read
}

// NewReaderAt returns a ReaderAt over key, whose size is size. ctx bounds every read.
func NewReaderAt(ctx context.Context, s Store, key string, size int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, s: s, key: key, size: size}
}

// NewReaderAtVersion is NewReaderAt pinned from the start to the version info describes (as
// Stat returns it): a replacement before the first read is caught as well.
func NewReaderAtVersion(ctx context.Context, s Store, info ObjectInfo) *ReaderAt {
	return &ReaderAt{ctx: ctx, s: s, key: info.Key, size: info.Size, gen: info.Generation}
}

// Size is the object's size.
func (r *ReaderAt) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.size {
		n = r.size - off
	}
	if n == 0 {
		return 0, nil
	}
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	rc, info, err := r.s.ReadPinned(r.ctx, r.key, gen, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if gen == "" {
		if info.Size != r.size {
			return 0, fmt.Errorf("read %s: %d bytes, expected %d: %w", r.key, info.Size, r.size, ErrChanged)
		}
		r.mu.Lock()
		if r.gen == "" {
			r.gen = info.Generation
		}
		pinned := r.gen
		r.mu.Unlock()
		if pinned != info.Generation {
			return 0, fmt.Errorf("read %s at %d: %w", r.key, off, ErrChanged)
		}
	}
	got, err := io.ReadFull(rc, p[:n])
	if err != nil {
		return got, fmt.Errorf("read %s at %d: %w", r.key, off, err)
	}
	if got < len(p) {
		return got, io.EOF
	}
	return got, nil
}

// Seek is here so ReaderAt satisfies parquet.ReaderAtSeeker; only io.SeekEnd with offset 0 (the
// size) and io.SeekStart are meaningful.
func (r *ReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		return offset, nil
	case io.SeekEnd:
		return r.size + offset, nil
	}
	return 0, fmt.Errorf("seek %s: unsupported whence %d", r.key, whence)
}

// OpenStore opens the store for a table URL: a plain path or file://, mem://NAME, s3://, gs://,
// azblob://. mem:// buckets are shared by name within the process, so two opens of
// mem://scratch see the same objects.
//
// Stores on a service (s3, gs, azblob) read their credentials and endpoints from the usual
// environment of each (AWS_*, GOOGLE_APPLICATION_CREDENTIALS and STORAGE_EMULATOR_HOST,
// AZURE_STORAGE_*) and from the URL's query parameters, as gocloud.dev/blob's URL openers do;
// they print nothing. Every call runs under a time limit and failed requests are retried with
// backoff (see WithRequestTimeout and WithMaxAttempts). A missing bucket, refused or missing
// credentials, a missing AWS region and an unreachable endpoint are reported as a *StoreError
// (matching ErrNoBucket, ErrAccessDenied, ErrNoRegion or ErrUnreachable) whose one-line
// message names the URL and what to set.
func OpenStore(ctx context.Context, rawURL string, opts ...StoreOption) (Store, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("open store: empty table URL")
	}
	if !strings.Contains(rawURL, "://") {
		if p, ok := strings.CutPrefix(rawURL, "file:/"); ok {
			return openLocal(rawURL, "/"+p) // file:/abs/path, a file URI with no authority
		}
		if err := schemeTypo(rawURL); err != nil {
			return nil, err
		}
		return openLocal(rawURL, rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("open store %q: file URL with host %q", rawURL, u.Host)
		}
		return openLocal(rawURL, u.Path)
	case "mem":
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		// Every store gets its own view of the shared bucket. blob.PrefixedBucket marks the
		// bucket it wraps closed, so the shared one is never handed out itself; closing a view
		// leaves the others working (memblob's Close does nothing).
		return &bucketStore{url: rawURL, kind: "mem", b: blob.PrefixedBucket(memBucket(u.Host), prefix)}, nil
	case "s3", "gs", "azblob":
		o := newStoreOptions(opts)
		c, err := dial(ctx, rawURL, u, o)
		if err != nil {
			return nil, err
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
			// The prefixed views own the buckets they wrap (closing one closes its bucket).
			c.b = blob.PrefixedBucket(c.b, prefix)
			c.cond = blob.PrefixedBucket(c.cond, prefix)
		}
		return &cloudStore{bucketStore: &bucketStore{url: rawURL, kind: u.Scheme, b: c.b, cond: c.cond}, conn: c, timeout: o.timeout,
			prefix: prefix}, nil
	}
	return nil, fmt.Errorf("open store %q: unsupported scheme %q (want a path, file, mem, s3, gs or azblob)", rawURL, u.Scheme)
}

// CreateBucket creates the bucket of a table URL (an S3 bucket, a GCS bucket in the project
// GOOGLE_CLOUD_PROJECT names, an Azure container) when it does not exist; a bucket that exists
// is left as it is. Local and mem:// tables need none: it does nothing for them. Its errors
// are those of OpenStore.
func CreateBucket(ctx context.Context, tableURL string, opts ...StoreOption) error {
	if !strings.Contains(tableURL, "://") {
		return nil
	}
	u, err := url.Parse(tableURL)
	if err != nil {
		return fmt.Errorf("create bucket of %q: %w", tableURL, err)
	}
	switch u.Scheme {
	case "file", "mem":
		return nil
	}
	o := newStoreOptions(opts)
	c, err := dial(ctx, tableURL, u, o)
	if err != nil {
		return err
	}
	defer c.close()
	s := &cloudStore{bucketStore: &bucketStore{url: tableURL, kind: u.Scheme}, conn: c, timeout: o.timeout}
	w := s.watch(ctx)
	defer w.stop()
	if err := s.classify(w, c.create(w.ctx)); err != nil {
		var se *StoreError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("create bucket %s of %s: %w", u.Host, tableURL, err)
	}
	return nil
}

var (
	memMu      sync.Mutex
	memBuckets = map[string]*blob.Bucket{}
)

func memBucket(name string) *blob.Bucket {
	memMu.Lock()
	defer memMu.Unlock()
	b, ok := memBuckets[name]
	if !ok {
		b = memblob.OpenBucket(nil)
		memBuckets[name] = b
	}
	return b
}

// bucketStore is a Store on a gocloud bucket whose put-if-absent is a true conditional write
// (memblob, S3, GCS, Azure).
type bucketStore struct {
	url  string
	kind string // "mem", "s3", "gs" or "azblob": how reads are pinned and writes made conditional
	b    *blob.Bucket
	// cond serves conditional writes (nil: b does). Its client retries only the requests the
	// service refused unseen (throttling, no connection): retrying a put-if-absent that landed
	// but answered 5xx would report ErrExist for a write that won.
	cond *blob.Bucket
}

// condBucket is the bucket conditional writes go through.
func (s *bucketStore) condBucket() *blob.Bucket {
	if s.cond != nil {
		return s.cond
	}
	return s.b
}

func (s *bucketStore) URL() string { return s.url }

func (s *bucketStore) Close() error { return s.b.Close() }

func (s *bucketStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return listBucket(ctx, s.b, prefix, startAfter)
}

func listBucket(ctx context.Context, b *blob.Bucket, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		// The server starts after startAfter where it can (startAfterHook); every key <=
		// startAfter it still sends is dropped below.
		it := b.List(&blob.ListOptions{Prefix: prefix, BeforeList: startAfterHook(prefix, startAfter)})
		for {
			// memblob and fileblob ignore ctx: check it here, so a cancelled listing ends with
			// an error rather than running on.
			if err := ctx.Err(); err != nil {
				yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
				return
			}
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
				return
			}
			if obj.IsDir || obj.Key <= startAfter {
				continue
			}
			if !yield(ObjectInfo{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}, nil) {
				return
			}
		}
	}
}

func (s *bucketStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := statBucket(ctx, s.b, key)
	if err != nil {
		return info, err
	}
	info.Generation = info.ETag
	if s.kind == "gs" {
		// GCS pins by generation (its ETag changes with metadata too, and reads cannot be
		// conditioned on it).
		info.Generation = ""
		var oa storage.ObjectAttrs
		if a, err := s.b.Attributes(ctx, key); err == nil && a.As(&oa) {
			info.Generation = strconv.FormatInt(oa.Generation, 10)
		}
	}
	return info, nil
}

func statBucket(ctx context.Context, b *blob.Bucket, key string) (ObjectInfo, error) {
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, mapErr(err))
	}
	return ObjectInfo{Key: key, Size: a.Size, ModTime: a.ModTime, ETag: a.ETag}, nil
}

func (s *bucketStore) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return readBucket(ctx, s.b, key, offset, length)
}

func readBucket(ctx context.Context, b *blob.Bucket, key string, offset, length int64) (io.ReadCloser, error) {
	r, err := b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, mapErr(err))
	}
	return r, nil
}

// ReadPinned pins reads with the backend's conditional GET where it has one: If-Match on the
// ETag (S3, Azure), a generation precondition (GCS); a lost condition (412) is ErrChanged.
// memblob has none: its reader is a snapshot of the object taken when it opens, so the ETag is
// checked after opening (ETags of memblob change with every write).
func (s *bucketStore) ReadPinned(ctx context.Context, key, gen string, offset, length int64) (io.ReadCloser, ObjectInfo, error) {
	fail := func(err error) (io.ReadCloser, ObjectInfo, error) {
		switch {
		case gcerrors.Code(err) == gcerrors.FailedPrecondition:
			err = errors.Join(ErrChanged, err)
		case gen != "" && gcerrors.Code(err) == gcerrors.NotFound:
			err = errors.Join(ErrChanged, ErrNotFound, err)
		default:
			err = mapErr(err)
		}
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	switch s.kind {
	case "s3", "gs", "azblob":
		var opts blob.ReaderOptions
		if gen != "" {
			opts.BeforeRead = func(as func(any) bool) error { return pinRead(s.kind, gen, as) }
		}
		r, err := s.b.NewRangeReader(ctx, key, offset, length, &opts)
		if err != nil {
			return fail(err)
		}
		info := ObjectInfo{Key: key, Size: r.Size(), ModTime: r.ModTime(), Generation: readerGeneration(s.kind, r)}
		if gen != "" && info.Generation != "" && info.Generation != gen {
			r.Close()
			return fail(fmt.Errorf("version %s, not %s: %w", info.Generation, gen, ErrChanged))
		}
		return r, info, nil
	}
	want := gen
	if want == "" {
		a, err := s.b.Attributes(ctx, key)
		if err != nil {
			return fail(err)
		}
		want = a.ETag
	}
	r, err := s.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return fail(err)
	}
	a, err := s.b.Attributes(ctx, key)
	if err == nil && a.ETag != want {
		err = fmt.Errorf("version %s, not %s: %w", a.ETag, want, ErrChanged)
	}
	if err != nil {
		r.Close()
		if gen == "" && gcerrors.Code(err) == gcerrors.NotFound {
			err = fmt.Errorf("deleted while opened: %w", ErrChanged)
		}
		return fail(err)
	}
	return r, ObjectInfo{Key: key, Size: a.Size, ModTime: a.ModTime, ETag: a.ETag, Generation: a.ETag}, nil
}

// pinRead sets the read precondition "the object is still version gen" through the driver's
// own request type.
func pinRead(kind, gen string, as func(any) bool) error {
	switch kind {
	case "s3":
		var in *s3.GetObjectInput
		if as(&in) {
			in.IfMatch = &gen
			return nil
		}
	case "gs":
		g, err := strconv.ParseInt(gen, 10, 64)
		if err != nil {
			return fmt.Errorf("generation %q: %w", gen, err)
		}
		var h **storage.ObjectHandle
		if as(&h) {
			*h = (*h).If(storage.Conditions{GenerationMatch: g})
			return nil
		}
	case "azblob":
		var o *azblobblob.DownloadStreamOptions
		if as(&o) {
			etag := azcore.ETag(gen)
			if o.AccessConditions == nil {
				o.AccessConditions = &azblobblob.AccessConditions{}
			}
			if o.AccessConditions.ModifiedAccessConditions == nil {
				o.AccessConditions.ModifiedAccessConditions = &azblobblob.ModifiedAccessConditions{}
			}
			o.AccessConditions.ModifiedAccessConditions.IfMatch = &etag
			return nil
		}
	}
	return fmt.Errorf("pin a read on %s: the driver does not expose its request", kind)
}

// readerGeneration is the version a driver's reader reads ("" when it does not say).
func readerGeneration(kind string, r *blob.Reader) string {
	switch kind {
	case "s3":
		var out s3.GetObjectOutput
		if r.As(&out) && out.ETag != nil {
			return *out.ETag
		}
	case "gs":
		var sr *storage.Reader
		if r.As(&sr) && sr != nil {
			return strconv.FormatInt(sr.Attrs.Generation, 10)
		}
	case "azblob":
		var resp azblobblob.DownloadStreamResponse
		if r.As(&resp) && resp.ETag != nil {
			return string(*resp.ETag)
		}
	}
	return ""
}

func (s *bucketStore) Put(ctx context.Context, key string, data []byte) error {
	if err := s.b.Upload(ctx, key, bytes.NewReader(data), &blob.WriterOptions{ContentType: contentType(key)}); err != nil {
		return fmt.Errorf("put %s: %w", key, mapErr(err))
	}
	return nil
}

// PutIfAbsent uses Bucket.Upload rather than a Writer: on azblob the Writer path of gocloud
// v0.47 panics when a conditional write loses.
func (s *bucketStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := s.condBucket().Upload(ctx, key, bytes.NewReader(data), &blob.WriterOptions{ContentType: contentType(key), IfNotExist: true})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		// The conditional write lost (S3 412, GCS 412, Azure 409, memblob).
		return fmt.Errorf("put-if-absent %s: %w", key, errors.Join(ErrExist, err))
	}
	if err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, mapErr(err))
	}
	return nil
}

// A streamed write holds at most streamParts parts of streamPartBytes in flight: the SDKs'
// defaults (5 parts of 8 MiB on S3, each read into a fresh buffer) took an ingest's peak RSS
// from 158 to 300 MiB.
const (
	streamPartBytes = 8 << 20
	streamParts     = 2
)

// Create streams to the key; on azblob through Bucket.Upload fed by a pipe (see pipeUpload).
func (s *bucketStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	opts := &blob.WriterOptions{ContentType: contentType(key), BufferSize: streamPartBytes, MaxConcurrency: streamParts}
	if s.kind == "azblob" {
		return newPipeUpload(ctx, s.b, key, opts), nil
	}
	w, err := s.b.NewWriter(ctx, key, opts)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, mapErr(err))
	}
	return &writer{w: w, key: key}, nil
}

// CreateIfAbsent streams to the final key with a conditional write (If-None-Match: * on S3
// and Azure, a does-not-exist precondition on GCS, checked at Close on memblob), so the
// object appears whole at Close or not at all, and memory stays one upload part. On azblob
// the upload goes through Bucket.Upload fed by a pipe (see pipeUpload).
func (s *bucketStore) CreateIfAbsent(ctx context.Context, key string) (io.WriteCloser, error) {
	opts := &blob.WriterOptions{ContentType: contentType(key), IfNotExist: true, BufferSize: streamPartBytes, MaxConcurrency: streamParts}
	if s.kind == "azblob" {
		return newPipeUpload(ctx, s.condBucket(), key, opts), nil
	}
	w, err := s.condBucket().NewWriter(ctx, key, opts)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, mapErr(err))
	}
	return &writer{w: w, key: key}, nil
}

// writer wraps a gocloud Writer: Close maps a lost conditional write to ErrExist, and a
// Writer whose context is cancelled is closed (gocloud requires it) to abort the upload.
type writer struct {
	w   *blob.Writer
	key string
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", w.key, mapErr(err))
	}
	return n, nil
}

func (w *writer) Close() error {
	return closeErr(w.key, w.w.Close())
}

func closeErr(key string, err error) error {
	switch {
	case err == nil:
		return nil
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		return fmt.Errorf("create %s: %w", key, errors.Join(ErrExist, err))
	}
	return fmt.Errorf("create %s: %w", key, mapErr(err))
}

// pipeUpload streams writes into one Bucket.Upload call running in its own goroutine. It is
// how azblob objects are streamed: gocloud v0.47's azblob Writer panics in Close (a nil
// pointer, azureblob.go:1075) whenever its streamed upload failed, which a cancelled context
// or a lost conditional write makes it do; its Upload path has no such fault. Close after a
// cancelled context aborts the upload: nothing is published.
type pipeUpload struct {
	ctx  context.Context
	key  string
	pw   *io.PipeWriter
	done chan error
	err  error // the upload's outcome, once Close has it
	shut bool
}

func newPipeUpload(ctx context.Context, b *blob.Bucket, key string, opts *blob.WriterOptions) *pipeUpload {
	pr, pw := io.Pipe()
	u := &pipeUpload{ctx: ctx, key: key, pw: pw, done: make(chan error, 1)}
	go func() {
		err := b.Upload(ctx, key, pr, opts)
		// Unblock a writer still writing when the upload ended early.
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		u.done <- err
	}()
	return u
}

func (u *pipeUpload) Write(p []byte) (int, error) {
	n, err := u.pw.Write(p)
	if err != nil {
		if cerr := u.ctx.Err(); cerr != nil {
			err = cerr
		}
		return n, fmt.Errorf("write %s: %w", u.key, mapErr(err))
	}
	return n, nil
}

func (u *pipeUpload) Close() error {
	if u.shut {
		return u.err
	}
	u.shut = true
	if err := u.ctx.Err(); err != nil {
		u.pw.CloseWithError(err) // abort: the upload reads an error and commits nothing
		<-u.done
		u.err = fmt.Errorf("create %s: %w", u.key, err)
		return u.err
	}
	u.pw.Close()
	u.err = closeErr(u.key, <-u.done)
	return u.err
}

// ListTemp yields nothing: bucket stores write no temporary objects.
func (s *bucketStore) ListTemp(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, fmt.Errorf("list temporary objects %s: %w", prefix, err))
		}
	}
}

func (s *bucketStore) Delete(ctx context.Context, key string) error {
	return deleteBucket(ctx, s.b, key)
}

func deleteBucket(ctx context.Context, b *blob.Bucket, key string) error {
	err := b.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, mapErr(err))
	}
	return nil
}

// contentType is set explicitly so no backend sniffs the content.
func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".json"), strings.HasSuffix(key, ".crc"), strings.HasSuffix(key, "_last_checkpoint"):
		return "application/json"
	}
	return "application/octet-stream"
}

// mapErr adds this package's sentinels to gocloud's error codes.
func mapErr(err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return errors.Join(ErrNotFound, err)
	case gcerrors.AlreadyExists:
		return errors.Join(ErrExist, err)
	}
	return err
}

// localPath turns a plain path or file:// path into an absolute directory.
func localPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// schemeTypo refuses a local path that is a table URL with a slash missing (s3:/bucket/t,
// gs:bucket/t): taken as a path it would be a directory named "s3:" in the working directory.
func schemeTypo(rawURL string) error {
	for _, scheme := range []string{"s3", "gs", "azblob", "mem", "file"} {
		rest, ok := strings.CutPrefix(rawURL, scheme+":")
		if !ok {
			continue
		}
		return fmt.Errorf("open store %q: a %s URL has two slashes after %s: (%s://%s)", rawURL, scheme, scheme, scheme, strings.TrimLeft(rest, "/"))
	}
	return nil
}
