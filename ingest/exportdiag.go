package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
)

var (
	// ErrSourceNotFound: Export found no tile of the source at any level. It matches ErrNoTiles
	// too.
	ErrSourceNotFound = errors.New("ingest: source not in the table")
	// ErrLevelNotFound: the table holds the source, but not at the level asked for. It matches
	// ErrNoTiles too.
	ErrLevelNotFound = errors.New("ingest: level not in the table")
	// ErrBBoxEmpty: the table holds the source at the level asked for, but none of its tiles
	// intersects the bbox. It matches ErrNoTiles too.
	ErrBBoxEmpty = errors.New("ingest: no tile intersects the bbox")
)

// nearestSources is how many of the table's sources a "not in the table" error suggests.
const nearestSources = 3

// noTilesError is why an export found no tile: Kind (ErrSourceNotFound, ErrLevelNotFound or
// ErrBBoxEmpty) and ErrNoTiles match it.
type noTilesError struct {
	msg  string
	kind error
}

func (e *noTilesError) Error() string { return e.msg }
func (e *noTilesError) Is(target error) bool {
	return target == e.kind || target == ErrNoTiles
}

// noTiles explains an export that found no tile: the bbox missed the level's tiles (seen by the
// export's own pass), or a second pass over the files that may hold the source finds the
// levels it has, or it has none and the nearest spellings of the table's sources are named.
func (e *exporter) noTiles(ctx context.Context, s delta.Store, snap *delta.Snapshot) error {
	if e.outside > 0 {
		b := e.opts.BBox
		return &noTilesError{kind: ErrBBoxEmpty, msg: fmt.Sprintf(
			"none of the %s at level %d intersects the bbox %s; they cover %s (longitude, latitude)",
			plural(e.outside, "tile"), e.opts.Level, formatBox(*b), formatBox(e.extent))}
	}
	near := nearest{want: e.opts.Source, wantID: e.want, k: nearestSources}
	levels := map[int32]bool{}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return err
		}
		holds := false
		if raw, ok := a.Tags[tagSources]; ok {
			var tags []sourceTag
			if json.Unmarshal([]byte(raw), &tags) == nil {
				for _, t := range tags {
					near.add(t.URI, e.ids.id(t.URI))
					holds = holds || e.matches(t.URI)
				}
				if !holds {
					continue
				}
			}
		}
		if !holds {
			var st struct {
				Min map[string]any `json:"minValues"`
				Max map[string]any `json:"maxValues"`
			}
			if json.Unmarshal([]byte(a.Stats), &st) == nil {
				for _, m := range []map[string]any{st.Min, st.Max} {
					if v, ok := m[colSource].(string); ok {
						near.add(v, e.ids.id(v))
					}
				}
			}
			if !statsMayHold(a.Stats, e.wantSet()) {
				continue
			}
		}
		if err := e.levelsIn(ctx, s, a, levels, &near); err != nil {
			return err
		}
	}
	if len(levels) > 0 {
		ls := make([]string, 0, len(levels))
		for _, l := range slices.Sorted(func(yield func(int32) bool) {
			for l := range levels {
				if !yield(l) {
					return
				}
			}
		}) {
			ls = append(ls, strconv.Itoa(int(l)))
		}
		return &noTilesError{kind: ErrLevelNotFound, msg: fmt.Sprintf("the table holds the source at level %s, not at level %d",
			joinOr(ls, "and"), e.opts.Level)}
	}
	msg := "the table holds no source " + e.opts.Source
	if !strings.Contains(e.opts.Source, ":") && !strings.HasPrefix(e.opts.Source, "/") && e.want != e.opts.Source {
		msg += " (a relative path, read as " + e.want + ")"
	}
	if len(near.best) > 0 {
		q := make([]string, len(near.best))
		for i, c := range near.best {
			q[i] = strconv.Quote(c.value)
		}
		msg += "; the nearest of its sources: " + strings.Join(q, ", ")
	} else {
		msg += " (it holds no sources)"
	}
	return &noTilesError{kind: ErrSourceNotFound, msg: msg}
}

// levelsIn adds the levels of the source's tiles in data file a to levels, and every source
// value it reads to near. It reads the source and level columns only.
func (e *exporter) levelsIn(ctx context.Context, s delta.Store, a *delta.Add, levels map[int32]bool, near *nearest) (err error) {
	defer recoverParquet(a.Path, &err)
	f, err := openDataFile(ctx, s, a)
	if err != nil {
		return err
	}
	if !e.codec.sameSchema(f.Schema()) {
		return nil
	}
	sc, _ := f.Schema().Lookup(colSource)
	lc, _ := f.Schema().Lookup(colLevel)
	for _, rg := range f.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		srcs, err := readStrings(rg.ColumnChunks()[sc.ColumnIndex])
		if err != nil {
			return fmt.Errorf("read %s of data file %s: %w", colSource, a.Path, err)
		}
		lvls, err := readColumn(rg.ColumnChunks()[lc.ColumnIndex], parquet.Value.Int32)
		if err != nil {
			return fmt.Errorf("read %s of data file %s: %w", colLevel, a.Path, err)
		}
		if len(srcs) != len(lvls) {
			return fmt.Errorf("data file %s: %d sources for %d levels", a.Path, len(srcs), len(lvls))
		}
		for i, src := range srcs {
			switch {
			case e.matches(src):
				levels[lvls[i]] = true
			case i == 0 || src != srcs[i-1]: // a source's rows are together
				near.add(src, e.ids.id(src))
			}
		}
	}
	return nil
}

// nearest keeps the k source values nearest to want (by edit distance to the value as
// given, or between identities), each once.
type nearest struct {
	want, wantID string
	k            int
	best         []candidate // sorted by distance, then value
}

type candidate struct {
	value string
	dist  int
}

func (n *nearest) add(value, id string) {
	for _, c := range n.best {
		if c.value == value {
			return
		}
	}
	d := min(editDistance(n.want, value), editDistance(n.wantID, id))
	c := candidate{value, d}
	i, _ := slices.BinarySearchFunc(n.best, c, func(a, b candidate) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.value, b.value)
	})
	if i >= n.k {
		return
	}
	n.best = slices.Insert(n.best, i, c)
	if len(n.best) > n.k {
		n.best = n.best[:n.k]
	}
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// plural is a count and its noun, in English: 1 tile, 2 tiles.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// formatBox writes a lon/lat box to a millionth of a degree (about 0.1 m).
func formatBox(b [4]float64) string {
	f := func(v float64) string { return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64) }
	return f(b[0]) + "," + f(b[1]) + "," + f(b[2]) + "," + f(b[3])
}

// joinOr joins words as English does: "0", "0 and 1", "0, 1 and 2".
func joinOr(words []string, conj string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}
