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

// spillEntry is one file a vacuum may delete.
type spillEntry struct {
	Key     string
	Size    int64
	ModTime time.Time // zero when unknown (lite mode)
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
		f, err := os.CreateTemp(l.dir, "deltaraster-vacuum-*")
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

// write appends one record: key length, key, size, modification time (Unix ns, 0 = unknown).
func (l *spillList) write(e spillEntry) error {
	b := l.buf[:0]
	b = binary.AppendUvarint(b, uint64(len(e.Key)))
	b = append(b, e.Key...)
	b = binary.AppendVarint(b, e.Size)
	var mt int64
	if !e.ModTime.IsZero() {
		mt = e.ModTime.UnixNano()
	}
	b = binary.AppendVarint(b, mt)
	l.buf = b
	if _, err := l.w.Write(b); err != nil {
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

func readSpill(r *bufio.Reader, key *[]byte) (spillEntry, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return spillEntry{}, err
	}
	if n > 1<<20 {
		return spillEntry{}, errors.New("key too long")
	}
	if uint64(cap(*key)) < n {
		*key = make([]byte, n)
	}
	k := (*key)[:n]
	if _, err := io.ReadFull(r, k); err != nil {
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
	e := spillEntry{Key: string(k), Size: size}
	if mt != 0 {
		e.ModTime = time.Unix(0, mt)
	}
	return e, nil
}

// Close removes the temporary file, if any.
func (l *spillList) Close() error {
	l.mem = nil
	if l.f == nil {
		return nil
	}
	name := l.f.Name()
	err := l.f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	l.f = nil
	return err
}
