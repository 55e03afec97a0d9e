package maintenance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"
)

// spillEntry is one file a vacuum may delete, or one key it keeps.
type spillEntry struct {
	Key     string
	Size    int64
	ModTime time.Time // zero when unknown (lite mode)
	// Norm is the key's normal form (normKey), the one compared, when it differs from Key
	// (a listed key such as "a//b"); empty when it is Key itself.
	Norm string
}

// norm is the entry's normal form.
func (e spillEntry) norm() string {
	if e.Norm != "" {
		return e.Norm
	}
	return e.Key
}

// createUnlinked creates a temporary file in dir (os.TempDir() when empty) and unlinks it at
// once: the open file lives on until it is closed, and a process killed while using it
// leaves nothing behind.
func createUnlinked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// spillList is an append-only list of entries that stays in memory up to limit entries and
// then moves to a temporary file, so a plan with millions of candidates holds a bounded
// amount of them in memory. Entries are read back in the order they were added.
type spillList struct {
	dir   string
	limit int
	mem   []spillEntry
	f     *os.File
	w     *bufio.Writer
	n     int64
	buf   []byte
}

func newSpillList(dir string, limit int) *spillList {
	return &spillList{dir: dir, limit: limit}
}

// Len is the number of entries added.
func (l *spillList) Len() int64 { return l.n }

func (l *spillList) Add(e spillEntry) error {
	l.n++
	if l.f == nil && len(l.mem) < l.limit {
		l.mem = append(l.mem, e)
		return nil
	}
	if l.f == nil {
		f, err := createUnlinked(l.dir, "deltaraster-vacuum-*")
		if err != nil {
			return fmt.Errorf("spill vacuum candidates: %w", err)
		}
		l.f, l.w = f, bufio.NewWriterSize(f, 256<<10)
		for _, m := range l.mem {
			if err := l.write(m); err != nil {
				return err
			}
		}
		l.mem = nil
	}
	return l.write(e)
}

// appendSpill appends the record of e to b: key length, key, normal form length (0 = the
// key), normal form, size, modification time (Unix ns, 0 = unknown).
func appendSpill(b []byte, e spillEntry) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.Key)))
	b = append(b, e.Key...)
	b = binary.AppendUvarint(b, uint64(len(e.Norm)))
	b = append(b, e.Norm...)
	b = binary.AppendVarint(b, e.Size)
	var mt int64
	if !e.ModTime.IsZero() {
		mt = e.ModTime.UnixNano()
	}
	return binary.AppendVarint(b, mt)
}

func (l *spillList) write(e spillEntry) error {
	l.buf = appendSpill(l.buf[:0], e)
	if _, err := l.w.Write(l.buf); err != nil {
		return fmt.Errorf("spill vacuum candidates: %w", err)
	}
	return nil
}

// All yields the entries in the order they were added.
func (l *spillList) All() iter.Seq2[spillEntry, error] {
	return func(yield func(spillEntry, error) bool) {
		if l.f == nil {
			for _, e := range l.mem {
				if !yield(e, nil) {
					return
				}
			}
			return
		}
		if err := l.w.Flush(); err != nil {
			yield(spillEntry{}, fmt.Errorf("spill vacuum candidates: %w", err))
			return
		}
		r := bufio.NewReaderSize(io.NewSectionReader(l.f, 0, 1<<62), 256<<10)
		var key []byte
		for i := int64(0); i < l.n; i++ {
			e, err := readSpill(r, &key)
			if err != nil {
				yield(spillEntry{}, fmt.Errorf("read spilled vacuum candidates: %w", err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func readSpill(r *bufio.Reader, buf *[]byte) (spillEntry, error) {
	str := func() (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return "", err
		}
		if n > 1<<20 {
			return "", errors.New("key too long")
		}
		if uint64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		k := (*buf)[:n]
		if _, err := io.ReadFull(r, k); err != nil {
			return "", err
		}
		return string(k), nil
	}
	key, err := str()
	if err != nil {
		return spillEntry{}, err
	}
	norm, err := str()
	if err != nil {
		return spillEntry{}, err
	}
	size, err := binary.ReadVarint(r)
	if err != nil {
		return spillEntry{}, err
	}
	mt, err := binary.ReadVarint(r)
	if err != nil {
		return spillEntry{}, err
	}
	e := spillEntry{Key: key, Norm: norm, Size: size}
	if mt != 0 {
		e.ModTime = time.Unix(0, mt)
	}
	return e, nil
}

// Close closes the temporary file, if any (unlinked when it was created).
func (l *spillList) Close() error {
	l.mem = nil
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
