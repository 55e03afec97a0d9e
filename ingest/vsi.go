package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/delta"
)

// Remote sources (s3://, gs://, azblob://, mem://) are read by GDAL through one Go VSI handler
// registered on vsiPrefix. Each open of a source registers a fresh view, named by a new id, on
// one object of one store at the size found when the source was stat'ed:
//
//	/vsideltaraster/<view id>/<object key>
//
// GDAL asks the handler for that one object only (godal passes GDAL a sibling list holding
// just the object, so no directory is listed and no sidecar is probed); the per-handle block
// cache is bounded (vsiBlockSize x vsiCacheBlocks); and as every open is a new path, nothing
// GDAL may remember about an earlier path can hide an object written a moment ago.
//
// A view whose object is streamed into a local ring file (a readAhead, while its tiles are
// read) is registered on vsiLocalPrefix instead, where GDAL keeps no block cache: each read
// is served, as GDAL asks for it, from the ring or else by one ranged read of the store.
const (
	vsiPrefix      = "/vsideltaraster/"
	vsiLocalPrefix = "/vsideltarasterlocal/"
	vsiBlockSize   = 1 << 20
	vsiCacheSize   = 8 << 20 // per open handle
)

var (
	vsiOnce   sync.Once
	vsiErr    error
	vsiViews  sync.Map // id -> *vsiView
	vsiNextID atomic.Uint64
	// vsiMisses counts requests for paths that are not an open view's object (sidecars GDAL
	// guessed, closed views): tests check GDAL makes none.
	vsiMisses atomic.Int64
)

// vsiView is one source object as GDAL sees it while it is open.
type vsiView struct {
	ctx   context.Context // bounds every read; the view lives for one source's reading
	store delta.Store
	key   string
	size  int64
	ahead *readAhead // nil: every read is a ranged read of the store
}

type vsiHandler struct{}

func registerVSI() error {
	vsiOnce.Do(func() {
		vsiErr = godal.RegisterVSIHandler(vsiPrefix, vsiHandler{},
			godal.VSIHandlerStripPrefix(true),
			godal.VSIHandlerBufferSize(vsiBlockSize),
			godal.VSIHandlerCacheSize(vsiCacheSize))
		if vsiErr != nil {
			vsiErr = fmt.Errorf("register GDAL VSI handler %s: %w", vsiPrefix, vsiErr)
			return
		}
		vsiErr = godal.RegisterVSIHandler(vsiLocalPrefix, vsiHandler{},
			godal.VSIHandlerStripPrefix(true),
			godal.VSIHandlerBufferSize(0),
			godal.VSIHandlerCacheSize(0))
		if vsiErr != nil {
			vsiErr = fmt.Errorf("register GDAL VSI handler %s: %w", vsiLocalPrefix, vsiErr)
		}
	})
	return vsiErr
}

// openView registers a view and returns its GDAL path and a function that unregisters it.
// ahead, when not nil, is the object's copy being made (see readAhead).
func openView(ctx context.Context, s delta.Store, key string, size int64, ahead *readAhead) (string, func(), error) {
	if err := registerVSI(); err != nil {
		return "", nil, err
	}
	id := strconv.FormatUint(vsiNextID.Add(1), 36)
	vsiViews.Store(id, &vsiView{ctx: ctx, store: s, key: key, size: size, ahead: ahead})
	prefix := vsiPrefix
	if ahead != nil {
		prefix = vsiLocalPrefix
	}
	return prefix + id + "/" + key, func() { vsiViews.Delete(id) }, nil
}

func lookupView(name string) (*vsiView, error) {
	id, key, ok := strings.Cut(name, "/")
	if !ok {
		vsiMisses.Add(1)
		return nil, fmt.Errorf("%s%s: no such object", vsiPrefix, name)
	}
	v, ok := vsiViews.Load(id)
	if !ok || v.(*vsiView).key != key {
		// Another object of the same view (a sidecar GDAL guessed) or a closed view.
		vsiMisses.Add(1)
		return nil, fmt.Errorf("%s%s: no such object", vsiPrefix, name)
	}
	return v.(*vsiView), nil
}

// Size implements godal.KeySizerReaderAt.
func (vsiHandler) Size(name string) (int64, error) {
	v, err := lookupView(name)
	if err != nil {
		return -1, err
	}
	return v.size, nil
}

// ReadAt implements godal.KeySizerReaderAt: from the view's readAhead when the range is
// there, else with one ranged read of the store.
func (vsiHandler) ReadAt(name string, buf []byte, off int64) (int, error) {
	v, err := lookupView(name)
	if err != nil {
		return 0, err
	}
	if off >= v.size {
		return 0, io.EOF
	}
	n := min(int64(len(buf)), v.size-off)
	if v.ahead != nil {
		// An error of the ring file only sends the read to the store.
		if ok, _ := v.ahead.readAt(buf[:n], off); ok {
			if n < int64(len(buf)) {
				return int(n), io.EOF
			}
			return int(n), nil
		}
	}
	rc, err := v.store.ReadRange(v.ctx, v.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	got, err := io.ReadFull(rc, buf[:n])
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return got, fmt.Errorf("read %s at %d: object shorter than %d bytes (changed while read?)", v.key, off, v.size)
		}
		return got, err
	}
	if got < len(buf) {
		return got, io.EOF
	}
	return got, nil
}
