package ingest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// tmpdirEntries lists the names in dir.
func tmpdirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// watchingStore is a real store that records what TMPDIR holds whenever a data file is
// written: at that moment the tile spools and page buffers of the ingest are open and in use.
type watchingStore struct {
	delta.Store
	dir  string
	mu   sync.Mutex
	seen []string
	n    int
}

func (s *watchingStore) look(key string) {
	if strings.HasPrefix(key, delta.LogDir) {
		return
	}
	ents, _ := os.ReadDir(s.dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	for _, e := range ents {
		s.seen = append(s.seen, e.Name())
	}
}

func (s *watchingStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	s.look(key)
	return s.Store.Create(ctx, key)
}

func (s *watchingStore) Put(ctx context.Context, key string, data []byte) error {
	s.look(key)
	return s.Store.Put(ctx, key, data)
}

// TestTempFilesUnlinked: the tile spools and page buffers in TMPDIR are unlinked as soon as
// they are created, so a process killed mid-ingest leaves none behind: TMPDIR holds nothing
// while they are in use (they still read back what was written), during a real ingest, and
// after.
func TestTempFilesUnlinked(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	empty := func(when string) {
		t.Helper()
		if names := tmpdirEntries(t, tmp); len(names) != 0 {
			t.Fatalf("%s: TMPDIR holds %q", when, names)
		}
	}
	data := bytes.Repeat([]byte("tile"), 1<<16)
	readBack := func(what string, f io.ReadWriteSeeker) {
		t.Helper()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes, %v", what, len(got), err)
		}
	}

	pages := &pageFiles{}
	b := pages.GetBuffer()
	readBack("page buffer", b)
	empty("page buffer in use")
	pages.PutBuffer(b)
	pages.close()
	empty("page buffers closed")

	w, err := newBatchWriter(nil, nil, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	spare, err := newSpool("")
	if err != nil {
		t.Fatal(err)
	}
	w.spare = spare
	readBack("spool", w.spool)
	readBack("spare spool", w.spare)
	empty("spools in use")
	w.close()
	empty("spools closed")

	// A real ingest, with small files and row groups so that it cuts several of each.
	ws := &watchingStore{Store: openStore(t, filepath.Join(t.TempDir(), "table")), dir: tmp}
	o := quietOpts()
	o.TileSize = MinTileSize
	o.TargetFileBytes = 64 << 10
	o.RowGroupBytes = 16 << 10
	if _, err := Ingest(context.Background(), ws, []string{td("rgb.tif")}, o); err != nil {
		t.Fatal(err)
	}
	if ws.n < 2 || len(ws.seen) != 0 {
		t.Fatalf("%d data files written; TMPDIR held %q while they were", ws.n, ws.seen)
	}
	empty("after the ingest")
}
