package ingest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/deltaraster/deltaraster/delta"
)

// storeOut splits an export output naming an object in a store (s3://, gs://, azblob://, mem://)
// into the URL of its bucket (with the URL's connection parameters) and the object's key. ok is
// false for local outputs.
func storeOut(out string) (bucket, key string, ok bool, err error) {
	if !strings.Contains(out, "://") {
		return "", "", false, nil
	}
	u, err := url.Parse(out)
	if err != nil {
		return "", "", false, fmt.Errorf("export: output %q: %w", out, err)
	}
	switch u.Scheme {
	case "s3", "gs", "azblob", "mem":
	default:
		return "", "", false, nil
	}
	key = strings.TrimPrefix(u.Path, "/")
	if key == "" || strings.HasSuffix(key, "/") {
		return "", "", false, fmt.Errorf("export: output %q names no object (want %s://BUCKET/KEY)", out, u.Scheme)
	}
	b := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	return b.String(), key, true, nil
}

// exportToStore builds the raster in a local temporary file, then uploads it with one streamed
// write: the object appears whole, or not at all (an object already there is replaced).
func exportToStore(ctx context.Context, store delta.Store, opts ExportOptions, bucket, key string) error {
	f, err := os.CreateTemp(opts.TempDir, "deltaraster-export-*.tif")
	if err != nil {
		return fmt.Errorf("export: local file to upload from: %w", err)
	}
	local := f.Name()
	f.Close()
	defer os.Remove(local)
	remote := opts.Out
	opts.Out = local
	var last ExportProgress
	if report := opts.Progress; report != nil {
		opts.Progress = func(p ExportProgress) {
			last = p
			report(p)
		}
	}
	if err := Export(ctx, store, opts); err != nil {
		return err
	}
	if opts.Progress != nil {
		opts.Progress(ExportProgress{Stage: ExportUpload, Tiles: last.Tiles})
	}
	if err := upload(ctx, local, bucket, key, opts.StoreOptions); err != nil {
		return fmt.Errorf("export %s level %d: upload to %s: %w", opts.Source, opts.Level, remote, err)
	}
	return nil
}

func upload(ctx context.Context, local, bucket, key string, so []delta.StoreOption) error {
	dst, err := delta.OpenStore(ctx, bucket, so...)
	if err != nil {
		return err
	}
	defer dst.Close()
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return delta.UploadFile(ctx, dst, key, f, fi.Size())
}

// OutSize is the size of an export's output, a local file or an object in a store.
func OutSize(ctx context.Context, out string, so ...delta.StoreOption) (int64, error) {
	bucket, key, ok, err := storeOut(out)
	if err != nil {
		return 0, err
	}
	if !ok {
		p, err := localOut(out)
		if err != nil {
			return 0, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	st, err := delta.OpenStore(ctx, bucket, so...)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	info, err := st.Stat(ctx, key)
	return info.Size, err
}
