package delta_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// uploadFile writes data and then junk to a temporary file, for UploadFile of its first
// len(data) bytes.
func uploadFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "upload"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(append(bytes.Clone(data), "junk past the size"...)); err != nil {
		t.Fatal(err)
	}
	return f
}

func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// UploadFile on every store, through a proxy that throttles the first write: the object reads
// back as the file's first size bytes, under a plain key (on S3 one PutObject from the file,
// retried by rewinding it) and under one S3 needs escaped (streamed through Create); a
// cancelled upload publishes nothing. On MinIO the PutObject carries the file's CRC and an
// unsigned payload (no SHA-256 pass over the file).
func TestUploadFile(t *testing.T) {
	data := randomBytes(3<<20 + 7)
	check := func(t *testing.T, s delta.Store) {
		t.Helper()
		ctx := t.Context()
		f := uploadFile(t, data)
		for _, key := range []string{"part-00001.zstd.parquet", "dir/a b#c.parquet"} {
			if err := delta.UploadFile(ctx, s, key, f, int64(len(data))); err != nil {
				t.Fatalf("UploadFile %s: %v", key, err)
			}
			got, err := delta.ReadAll(ctx, s, key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s: read %d bytes back, not the %d uploaded", key, len(got), len(data))
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := delta.UploadFile(cctx, s, "part-cancelled.parquet", f, int64(len(data))); err == nil {
			t.Fatal("UploadFile with a cancelled context succeeded")
		}
		if _, err := s.Stat(ctx, "part-cancelled.parquet"); !errors.Is(err, delta.ErrNotFound) {
			t.Fatalf("a cancelled upload: Stat = %v, want ErrNotFound", err)
		}
	}
	t.Run("local", func(t *testing.T) {
		s, err := delta.OpenStore(t.Context(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})
	t.Run("mem", func(t *testing.T) {
		s, err := delta.OpenStore(t.Context(), "mem://upload-file/t")
		if err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			srv := v.srv(t)
			p := newProxy(t, srv.Endpoint())
			p.sameHost = srv.Scheme == "gs"
			var throttled, unsigned, crc atomic.Int64
			p.intercept = func(w http.ResponseWriter, r *http.Request, _ func(http.ResponseWriter)) bool {
				if r.Method != http.MethodPut && r.Method != http.MethodPost {
					return false
				}
				if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
					unsigned.Add(1)
				}
				if r.Header.Get("X-Amz-Checksum-Crc32") != "" || r.Header.Get("X-Amz-Checksum-Crc32c") != "" {
					crc.Add(1)
				}
				if throttled.Load() < 1 {
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
			check(t, s)
			if throttled.Load() != 1 {
				t.Errorf("%d writes throttled, want 1", throttled.Load())
			}
			if srv.Scheme == "s3" && (unsigned.Load() == 0 || crc.Load() == 0) {
				t.Errorf("S3 uploads: %d with an unsigned payload, %d with a CRC header; want both", unsigned.Load(), crc.Load())
			}
		})
	}
}

// An upload that stops making progress fails within the request time limit, and publishes
// nothing.
func TestUploadFileTimeLimit(t *testing.T) {
	srv := testservers.MinIO(t)
	p := newProxy(t, srv.Endpoint())
	p.intercept = func(w http.ResponseWriter, r *http.Request, _ func(http.ResponseWriter)) bool {
		if r.Method != http.MethodPut {
			return false
		}
		select { // never answer
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return true
	}
	bucket := srv.Bucket(t)
	s, err := delta.OpenStore(t.Context(), vias[0].url(t, bucket, "t", p.addr),
		delta.WithRequestTimeout(time.Second), delta.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := randomBytes(1 << 20)
	start := time.Now()
	err = delta.UploadFile(t.Context(), s, "part-stalled.parquet", uploadFile(t, data), int64(len(data)))
	if err == nil {
		t.Fatal("an upload nobody answers succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("failed after %s, want about the 1 s limit", d)
	}
	direct, err := delta.OpenStore(t.Context(), vias[0].url(t, bucket, "t", srv.Endpoint()[len("http://"):]))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if _, err := direct.Stat(t.Context(), "part-stalled.parquet"); !errors.Is(err, delta.ErrNotFound) {
		t.Errorf("a stalled upload: Stat = %v, want ErrNotFound", err)
	}
}
