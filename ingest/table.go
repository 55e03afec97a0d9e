package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

// presence is what the table holds of one source.
type presence struct {
	versions  map[string]bool // source_version values present
	spellings map[string]bool // the source values the table holds for it (see entryIDs)
	files     []*delta.Add    // live files holding rows of the source
}

// findSources returns, for each identity of want present in the table, its versions,
// spellings and files; a value in the table is matched by its identity (see entryIDs), so
// sources written as given by earlier versions are found too. It reads the log only: each
// file's tagSources tag lists its sources. A file without the tag (rewritten by another engine)
// whose stats say it may hold one of the sources has its source and source_version columns
// read, nothing else.
func findSources(ctx context.Context, snap *delta.Snapshot, want map[string]bool) (map[string]*presence, error) {
	out := map[string]*presence{}
	var ids entryIDs
	note := func(spelling, version string, a *delta.Add) {
		id := ids.id(spelling)
		if !want[id] {
			return
		}
		p := out[id]
		if p == nil {
			p = &presence{versions: map[string]bool{}, spellings: map[string]bool{}}
			out[id] = p
		}
		p.versions[version] = true
		p.spellings[spelling] = true
		if len(p.files) == 0 || p.files[len(p.files)-1] != a {
			p.files = append(p.files, a)
		}
	}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, fmt.Errorf("list files of %s: %w", snap.Store().URL(), err)
		}
		if raw, ok := a.Tags[tagSources]; ok {
			var tags []sourceTag
			if err := json.Unmarshal([]byte(raw), &tags); err == nil {
				for _, t := range tags {
					note(t.URI, t.Version, a)
				}
				continue
			}
		}
		if !statsMayHold(a.Stats, want) {
			continue
		}
		pairs, err := readSourceColumns(ctx, snap.Store(), a)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			note(p.URI, p.Version, a)
		}
	}
	return out, nil
}

// statsMayHold reports whether a file's stats leave room for a spelling of one of the
// identities (true when the stats are missing); see spellingPrefixes.
func statsMayHold(stats string, want map[string]bool) bool {
	lo, hi, ok, empty := SourceSpan(stats)
	if empty {
		return false
	}
	return !ok || rangeMayHold(lo, hi, want)
}

// recoverParquet turns a panic of the Parquet reader on a malformed data file into an error.
func recoverParquet(path string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("read data file %s: malformed: %v", path, r)
	}
}

func openDataFile(ctx context.Context, s delta.Store, a *delta.Add) (*parquet.File, error) {
	f, err := parquet.OpenFile(delta.NewReaderAt(ctx, s, a.Path, a.Size), a.Size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", a.Path, err)
	}
	return f, nil
}

// readSourceColumns reads the distinct (source, source_version) pairs of a data file.
func readSourceColumns(ctx context.Context, s delta.Store, a *delta.Add) (_ []sourceTag, err error) {
	defer recoverParquet(a.Path, &err)
	f, err := openDataFile(ctx, s, a)
	if err != nil {
		return nil, err
	}
	sc, ok1 := f.Schema().Lookup(colSource)
	vc, ok2 := f.Schema().Lookup(colSourceVersion)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("data file %s has no %s or %s column", a.Path, colSource, colSourceVersion)
	}
	seen := map[sourceTag]bool{}
	for _, rg := range f.RowGroups() {
		srcs, err := readStrings(rg.ColumnChunks()[sc.ColumnIndex])
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", colSource, a.Path, err)
		}
		vers, err := readStrings(rg.ColumnChunks()[vc.ColumnIndex])
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", colSourceVersion, a.Path, err)
		}
		if len(srcs) != len(vers) {
			return nil, fmt.Errorf("data file %s: %d sources for %d versions", a.Path, len(srcs), len(vers))
		}
		for i := range srcs {
			seen[sourceTag{URI: srcs[i], Version: vers[i]}] = true
		}
	}
	out := make([]sourceTag, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	return out, nil
}

func readStrings(cc parquet.ColumnChunk) ([]string, error) {
	return readColumn(cc, func(v parquet.Value) string { return string(v.ByteArray()) })
}

// readColumn reads the values of a column chunk of a required column, converted by conv.
func readColumn[T any](cc parquet.ColumnChunk, conv func(parquet.Value) T) ([]T, error) {
	pages := cc.Pages()
	defer pages.Close()
	var out []T
	var vals []parquet.Value
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		vals = slices.Grow(vals[:0], int(p.NumValues()))[:p.NumValues()]
		n, err := p.Values().ReadValues(vals)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		for _, v := range vals[:n] {
			out = append(out, conv(v))
		}
	}
}

// copyRows re-spools the rows of data file a whose source (its identity) is not in drop: the
// copy-on-write half of replacing a source.
func copyRows(ctx context.Context, s delta.Store, a *delta.Add, c *codec, drop map[string]bool, w *batchWriter) (_ int64, err error) {
	defer recoverParquet(a.Path, &err)
	f, err := openDataFile(ctx, s, a)
	if err != nil {
		return 0, err
	}
	if !c.sameSchema(f.Schema()) {
		return 0, fmt.Errorf("%w: data file %s has another schema than this table's layout (%s)", ErrBandLayout, a.Path, c.layout)
	}
	var kept int64
	var ids entryIDs
	buf := make([]parquet.Row, 16)
	var t tile
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return kept, err
			}
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				if derr := c.decode(r, &t); derr != nil {
					rows.Close()
					return kept, fmt.Errorf("data file %s: %w", a.Path, derr)
				}
				if drop[ids.id(t.Source)] {
					continue
				}
				if werr := w.add(ctx, &t); werr != nil {
					rows.Close()
					return kept, werr
				}
				kept++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return kept, fmt.Errorf("read data file %s: %w", a.Path, err)
			}
		}
		rows.Close()
	}
	return kept, nil
}
