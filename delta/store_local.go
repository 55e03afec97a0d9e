package delta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// localStore keeps a table in a local directory. Reads and listings go through fileblob; writes
// do not, because fileblob's IfNotExist is stat-then-rename and two racing writers both win.
// Every write goes to a hidden temporary file beside the target, is synced, then published with
// link(2) (put-if-absent: EEXIST means the race was lost) or rename(2) (put).
type localStore struct {
	url string
	dir string

	mu sync.Mutex
	b  *blob.Bucket // nil until the directory exists
}

func openLocal(rawURL, p string) (Store, error) {
	dir, err := localPath(p)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", rawURL, err)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("open store %q: %s is not a directory", rawURL, dir)
	}
	return &localStore{url: rawURL, dir: dir}, nil
}

// bucket returns the fileblob bucket, or nil when the directory does not exist yet (a table
// that has not been created: every read is then "not found").
func (s *localStore) bucket() (*blob.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b != nil {
		return s.b, nil
	}
	if _, err := os.Stat(s.dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	b, err := fileblob.OpenBucket(s.dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite, NoTempDir: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.dir, err)
	}
	s.b = b
	return b, nil
}

func (s *localStore) URL() string { return s.url }

func (s *localStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil
	}
	err := s.b.Close()
	s.b = nil
	return err
}

// List walks the directory itself rather than through fileblob, whose walk is in directory order
// ("a/b" before "a.b", though '.' sorts before '/'), ignores ctx, and fails when a file vanishes
// mid-walk, as a concurrent writer's temporary file does.
func (s *localStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return s.walk(ctx, prefix, startAfter, listPublished)
}

// TempLister is a Store whose List hides temporary objects of its own writes (the local
// store's LocalTempPrefix files). ListWithTemp is List with them, in the same key order: for
// vacuum, which removes those a crashed writer left behind.
type TempLister interface {
	ListWithTemp(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
}

func (s *localStore) ListWithTemp(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return s.walk(ctx, prefix, startAfter, listAll)
}

// ListTemp yields the temporary files under prefix: those of a writer killed before it
// published or removed them (a live writer's are there too; callers go by their age).
func (s *localStore) ListTemp(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return s.walk(ctx, prefix, "", listTemps)
}

// Which files walk yields.
const (
	listPublished = iota
	listTemps
	listAll
)

// walk yields the regular files under prefix after startAfter in key order: the published
// ones, the temporary ones, or both (which).
func (s *localStore) walk(ctx context.Context, prefix, startAfter string, which int) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		fail := func(err error) { yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err)) }
		// walk lists the directory of dirKey ("" or ending in "/") in key order; false = stop.
		var walk func(dirKey string) bool
		walk = func(dirKey string) bool {
			if err := ctx.Err(); err != nil {
				fail(err)
				return false
			}
			dirPath := filepath.Join(s.dir, filepath.FromSlash(dirKey))
			entries, err := readDirConsistent(dirPath)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return true // nothing under it
			}
			if err != nil {
				fail(err)
				return false
			}
			for i := range entries {
				if e := &entries[i]; e.unknown {
					if fi, err := os.Lstat(filepath.Join(dirPath, e.name)); err == nil {
						e.mode = fi.Mode().Type()
					}
				}
			}
			entryKey := func(e dirEntry) string {
				if e.mode.IsDir() {
					return dirKey + e.name + "/"
				}
				return dirKey + e.name
			}
			slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(entryKey(a), entryKey(b)) })
			for _, e := range entries {
				key := entryKey(e)
				if e.mode.IsDir() {
					if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
						continue // no key under it has the prefix
					}
					if key <= startAfter && !strings.HasPrefix(startAfter, key) {
						continue // every key under it sorts before startAfter
					}
					if !walk(key) {
						return false
					}
					continue
				}
				if !strings.HasPrefix(key, prefix) || key <= startAfter ||
					(which == listPublished && isLocalTemp(key)) || (which == listTemps && !isLocalTemp(key)) {
					continue
				}
				info, err := os.Lstat(filepath.Join(dirPath, e.name))
				if err == nil && info.Mode()&fs.ModeSymlink != 0 {
					info, err = os.Stat(filepath.Join(s.dir, filepath.FromSlash(key)))
				}
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted since ReadDir
				}
				if err != nil {
					fail(err)
					return false
				}
				if !info.Mode().IsRegular() {
					continue
				}
				if !yield(ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil) {
					return false
				}
			}
			return true
		}
		root := prefix[:strings.LastIndexByte(prefix, '/')+1]
		if strings.HasPrefix(root, "/") || strings.Contains("/"+root, "/../") {
			fail(ErrInvalidPath)
			return
		}
		walk(root)
	}
}

func (s *localStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	path, err := s.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || err == nil && !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return localInfo(key, fi), nil
}

// localInfo describes a file. The ETag is fileblob's (modification time and size); the
// generation adds the device and inode, which a publish by rename or link always changes.
func localInfo(key string, fi fs.FileInfo) ObjectInfo {
	info := ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime(),
		ETag: fmt.Sprintf("\"%x-%x\"", fi.ModTime().UnixNano(), fi.Size())}
	info.Generation = fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.Generation = fmt.Sprintf("%x-%x-%s", uint64(st.Dev), uint64(st.Ino), info.Generation)
	}
	return info
}

// ReadPinned opens the file and checks the version of what it opened (device, inode, size,
// modification time, from the open descriptor): a file replaced since, by rename or link, is
// another inode, and one rewritten in place has another size or time.
func (s *localStore) ReadPinned(ctx context.Context, key, gen string, offset, length int64) (io.ReadCloser, ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	path, err := s.path(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if gen != "" {
			return nil, ObjectInfo{}, fmt.Errorf("read %s: deleted: %w", key, errors.Join(ErrChanged, ErrNotFound))
		}
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	info := localInfo(key, fi)
	if gen != "" && info.Generation != gen {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("read %s: version %s, not %s: %w", key, info.Generation, gen, ErrChanged)
	}
	if offset < 0 || offset > info.Size {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("read %s: offset %d outside the %d bytes", key, offset, info.Size)
	}
	if length < 0 || offset+length > info.Size {
		length = info.Size - offset
	}
	return &sectionFile{SectionReader: io.NewSectionReader(f, offset, length), f: f}, info, nil
}

// sectionFile reads a section of an open file and closes the file.
type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (r *sectionFile) Close() error { return r.f.Close() }

func (s *localStore) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	b, err := s.bucket()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if b == nil {
		return nil, fmt.Errorf("read %s: %w", key, ErrNotFound)
	}
	return readBucket(ctx, b, key, offset, length)
}

func (s *localStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	path, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (s *localStore) Put(ctx context.Context, key string, data []byte) error {
	return s.publish(ctx, key, data, false)
}

func (s *localStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.publish(ctx, key, data, true)
}

func (s *localStore) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains("/"+key+"/", "/../") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("local key %q: %w", key, ErrInvalidPath)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// publish writes data to a temporary file beside key and links (ifAbsent) or renames it into
// place. The temporary file is removed on every path.
func (s *localStore) publish(ctx context.Context, key string, data []byte, ifAbsent bool) error {
	op := "put"
	if ifAbsent {
		op = "put-if-absent"
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	target, err := s.path(key)
	if err != nil {
		return err
	}
	f, err := s.tempBeside(target)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("%s %s: %w", op, key, werr)
	}
	if ifAbsent {
		err = os.Link(tmp, target)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s %s: %w", op, key, ErrExist)
		}
	} else {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	syncDir(filepath.Dir(target))
	return nil
}

func (s *localStore) tempBeside(target string) (*os.File, error) {
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := filepath.Join(dir, LocalTempPrefix+filepath.Base(target)+"."+hex.EncodeToString(rnd[:])+".tmp")
	return os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
}

// dirEntry is a name read from a directory and its type (ModeDir, ModeSymlink, 0 for a regular
// file); unknown when the file system did not say.
type dirEntry struct {
	name    string
	mode    fs.FileMode
	unknown bool
}

// LocalTempPrefix starts every temporary file of the local store (LocalTempPrefix + name +
// "." + random + ".tmp"): hidden, so Delta readers skip it and List does not show it.
const LocalTempPrefix = ".deltaraster-"

func isLocalTemp(key string) bool {
	return strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], LocalTempPrefix)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Create streams into a temporary file and renames it into place on Close.
func (s *localStore) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	return s.create(ctx, key, false)
}

// CreateIfAbsent streams into a temporary file and links it into place on Close: link(2)
// fails with EEXIST when the key exists, so the existing file is never replaced.
func (s *localStore) CreateIfAbsent(ctx context.Context, key string) (io.WriteCloser, error) {
	return s.create(ctx, key, true)
}

func (s *localStore) create(ctx context.Context, key string, ifAbsent bool) (io.WriteCloser, error) {
	target, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := s.tempBeside(target)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	return &localWriter{ctx: ctx, f: f, key: key, target: target, ifAbsent: ifAbsent}, nil
}

type localWriter struct {
	ctx      context.Context
	f        *os.File
	key      string
	target   string
	ifAbsent bool
	err      error
	// written bytes, of which the first flushed were handed to the kernel's writeback.
	written, flushed int64
}

// writebackChunk is how many bytes a local writer lets the page cache hold dirty before it
// starts their writeback (startWriteback): a data file's fsync at Close then waits for the
// last chunk only, not for the whole file (60-170 ms for a 128 MB file here, on the
// critical path of the last file of an ingest).
const writebackChunk = 8 << 20

func (w *localWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	if err != nil {
		w.err = fmt.Errorf("write %s: %w", w.key, err)
	}
	w.written += int64(n)
	if w.written-w.flushed >= writebackChunk {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, w.err
}

func (w *localWriter) Close() error {
	tmp := w.f.Name()
	defer os.Remove(tmp)
	err := w.err
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.ctx.Err()
	}
	if err == nil && w.ifAbsent {
		if err = os.Link(tmp, w.target); errors.Is(err, os.ErrExist) {
			err = ErrExist
		}
	} else if err == nil {
		err = os.Rename(tmp, w.target)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", w.key, err)
	}
	syncDir(filepath.Dir(w.target))
	return nil
}

// IsLocal reports whether s is a table on the local file system (a path or a file:// URL).
func IsLocal(s Store) bool {
	_, ok := s.(*localStore)
	return ok
}
