package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // registers azblob://
	_ "gocloud.dev/blob/gcsblob"   // registers gs://
	"gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob" // registers s3://
	"gocloud.dev/gcerrors"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string // relative to the store's root
	Size    int64
	ModTime time.Time
	ETag    string // empty where the backend has none
}

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
type Store interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// ReadRange reads length bytes from offset; length < 0 reads to the end.
	ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, data []byte) error
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Create streams a large object; it becomes visible, whole, when Close returns nil. Abort
	// by cancelling ctx before Close.
	Create(ctx context.Context, key string) (io.WriteCloser, error)
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
// Parquet readers.
type ReaderAt struct {
	ctx  context.Context
	s    Store
	key  string
	size int64
}

// NewReaderAt returns a ReaderAt over key, whose size is size. ctx bounds every read.
func NewReaderAt(ctx context.Context, s Store, key string, size int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, s: s, key: key, size: size}
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
	rc, err := r.s.ReadRange(r.ctx, r.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
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
func OpenStore(ctx context.Context, rawURL string) (Store, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("open store: empty table URL")
	}
	if !strings.Contains(rawURL, "://") {
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
		return &bucketStore{url: rawURL, b: blob.PrefixedBucket(memBucket(u.Host), prefix)}, nil
	case "s3", "gs", "azblob":
		prefix := strings.Trim(u.Path, "/")
		bu := *u
		bu.Path = ""
		b, err := blob.OpenBucket(ctx, bu.String())
		if err != nil {
			return nil, fmt.Errorf("open store %q: %w", rawURL, err)
		}
		if prefix != "" {
			b = blob.PrefixedBucket(b, prefix+"/")
		}
		return &bucketStore{url: rawURL, b: b}, nil
	}
	return nil, fmt.Errorf("open store %q: unsupported scheme %q (want a path, file, mem, s3, gs or azblob)", rawURL, u.Scheme)
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
	url string
	b   *blob.Bucket
}

func (s *bucketStore) URL() string { return s.url }

func (s *bucketStore) Close() error { return s.b.Close() }

func (s *bucketStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return listBucket(ctx, s.b, prefix, startAfter)
}

func listBucket(ctx context.Context, b *blob.Bucket, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		it := b.List(&blob.ListOptions{Prefix: prefix})
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
	return statBucket(ctx, s.b, key)
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

func (s *bucketStore) Put(ctx context.Context, key string, data []byte) error {
	if err := s.b.Upload(ctx, key, bytes.NewReader(data), &blob.WriterOptions{ContentType: contentType(key)}); err != nil {
		return fmt.Errorf("put %s: %w", key, mapErr(err))
	}
	return nil
}

// PutIfAbsent uses Bucket.Upload rather than a Writer: on azblob the Writer path of gocloud
// v0.47 panics when a conditional write loses.
func (s *bucketStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := s.b.Upload(ctx, key, bytes.NewReader(data), &blob.WriterOptions{ContentType: contentType(key), IfNotExist: true})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		// The conditional write lost (S3 412, GCS 412, memblob).
		return fmt.Errorf("put-if-absent %s: %w", key, errors.Join(ErrExist, err))
	}
	if err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, mapErr(err))
	}
	return nil
}

func (s *bucketStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	w, err := s.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType(key)})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, mapErr(err))
	}
	return w, nil
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
