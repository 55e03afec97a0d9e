package maintenance

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

// DefaultTargetSize is the size optimize packs files to when the table does not set
// delta.targetFileSize.
const DefaultTargetSize = 256 << 20

// OptimizeOptions are the settings of one optimize; zero fields take the defaults.
type OptimizeOptions struct {
	// TargetSize is the size files are packed to: files smaller than it are candidates, and a
	// bin holds at most this many bytes of them (default: the table's delta.targetFileSize,
	// else 256 MiB). Output files roll when they reach it.
	TargetSize int64
	// ClusterBy names a column (a dotted path for a nested field, such as "bbox.xmin") to
	// cluster by, typically "quadbin": candidate files are ordered by their minimum of the
	// column (from their stats) before packing, and the rows of each bin are written sorted
	// by it, so output files cover compact ranges and readers skip more. Empty: plain
	// bin-packing (files ordered by size, rows copied in file order).
	ClusterBy string
	// CommitEveryBins and CommitEveryBytes commit the work done so far every this many bins,
	// or once the input bytes of the bins done reach this many, so a long run keeps its
	// progress if it stops. Both zero: one commit at the end.
	CommitEveryBins  int
	CommitEveryBytes int64
	// RowGroupBytes cuts the row groups of the files written when their buffered size reaches
	// it (default 32 MiB, as ingest).
	RowGroupBytes int64
	// WholeFileBytes: input files up to this size are fetched in one read; larger ones are
	// read by ranges, page by page (default 4 MiB).
	WholeFileBytes int64
	// MaxFanIn bounds how many sorted runs a clustering merge reads at once; more runs are
	// merged in passes through temporary files (default 32).
	MaxFanIn int
	// SortBytes bounds the rows held at once when a file that is not sorted by the cluster
	// column is cut into sorted runs (default 64 MiB).
	SortBytes int64
	// TempDir holds the temporary run files of clustering (default os.TempDir()).
	TempDir string
	// DryRun makes Optimize plan only: nothing is written or committed.
	DryRun bool
	// Now is the clock for modification and deletion times (default time.Now; also the
	// transactions' clock when Txn.Now is not set).
	Now func() time.Time
	// Txn are the options of the commits (retries, post-commit hook for checkpoints).
	Txn delta.TxnOptions
	// Progress, when set, is called after each bin is written and after each commit.
	Progress func(OptimizeProgress)
}

// OptimizeProgress reports how far an Execute is.
type OptimizeProgress struct {
	BinsDone      int   `json:"binsDone"`
	BinsTotal     int   `json:"binsTotal"`
	BytesRead     int64 `json:"bytesRead"`
	BytesWritten  int64 `json:"bytesWritten"`
	CommittedBins int   `json:"committedBins"`
}

func (o *OptimizeOptions) fill() error {
	if o.TargetSize < 0 || o.CommitEveryBins < 0 || o.CommitEveryBytes < 0 || o.RowGroupBytes < 0 ||
		o.WholeFileBytes < 0 || o.MaxFanIn < 0 || o.SortBytes < 0 {
		return fmt.Errorf("%w: negative size or count", ErrBadOption)
	}
	if o.RowGroupBytes == 0 {
		o.RowGroupBytes = 32 << 20
	}
	if o.WholeFileBytes == 0 {
		o.WholeFileBytes = 4 << 20
	}
	if o.MaxFanIn == 0 {
		o.MaxFanIn = 32
	}
	if o.MaxFanIn < 2 {
		return fmt.Errorf("%w: MaxFanIn %d (want at least 2)", ErrBadOption, o.MaxFanIn)
	}
	if o.SortBytes == 0 {
		o.SortBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Txn.Now == nil {
		o.Txn.Now = o.Now
	}
	return nil
}

// OptimizeMetrics describes what an optimize planned and did.
type OptimizeMetrics struct {
	ReadVersion     int64   `json:"readVersion"` // the version planned from
	Versions        []int64 `json:"versions"`    // versions committed, in order
	TargetSize      int64   `json:"targetSize"`  // bytes
	ClusterBy       string  `json:"clusterBy,omitempty"`
	FilesConsidered int64   `json:"filesConsidered"` // live files of the version planned from
	FilesLarge      int64   `json:"filesLarge"`      // left alone: at least the target size
	FilesWithDV     int64   `json:"filesWithDV"`     // left alone: they have a deletion vector
	FilesAlone      int64   `json:"filesAlone"`      // left alone: nothing to merge them with
	BinsPlanned     int     `json:"binsPlanned"`
	FilesPlanned    int64   `json:"filesPlanned"` // files in the planned bins
	BytesPlanned    int64   `json:"bytesPlanned"`
	BinsCommitted   int     `json:"binsCommitted"`
	BinsDropped     int     `json:"binsDropped"` // a file of the bin was removed by another commit
	FilesKept       int64   `json:"filesKept"`   // left in place: none since every file is converted to the table schema
	FilesRemoved    int64   `json:"filesRemoved"`
	BytesRemoved    int64   `json:"bytesRemoved"`
	FilesAdded      int64   `json:"filesAdded"`
	BytesAdded      int64   `json:"bytesAdded"`
	Rows            int64   `json:"rows"` // rows written into committed files
	// TempBytes is the most local disk the clustering runs of one bin used.
	TempBytes int64         `json:"tempBytes"`
	Duration  time.Duration `json:"durationNs"`
}

// Bin is a group of files of one partition that optimize merges into one file (or a few,
// when the output outgrows the target).
type Bin struct {
	Partition delta.PartitionValues
	Files     []*delta.Add // stats dropped: only what a remove needs
	Bytes     int64
}

// OptimizePlan is what an optimize will do: the bins, per partition, planned from one
// version. It holds the candidate files' add actions without their stats.
type OptimizePlan struct {
	store   delta.Store
	opts    OptimizeOptions
	version int64
	target  int64
	bins    []Bin
	metrics OptimizeMetrics
	part    []string        // partition columns
	schema  *parquet.Schema // of the files written: the table's data columns
}

// Version is the table version the plan was made from.
func (p *OptimizePlan) Version() int64 { return p.version }

// TargetSize is the target file size in bytes.
func (p *OptimizePlan) TargetSize() int64 { return p.target }

// Bins are the planned bins, partitions in order of their values.
func (p *OptimizePlan) Bins() []Bin { return p.bins }

// Metrics are the plan's figures (nothing executed yet).
func (p *OptimizePlan) Metrics() OptimizeMetrics { return p.metrics }

// Optimize plans, and unless opts.DryRun executes, an optimize of the table in s.
func Optimize(ctx context.Context, s delta.Store, opts OptimizeOptions) (OptimizeMetrics, error) {
	p, err := PlanOptimize(ctx, s, opts)
	if err != nil {
		return OptimizeMetrics{}, err
	}
	if p.opts.DryRun {
		return p.Metrics(), nil
	}
	return p.Execute(ctx)
}

// candidate is a file that may go into a bin, with its sort key for clustering.
type candidate struct {
	add    *delta.Add
	minKey statValue
	maxKey statValue
}

// PlanOptimize reads the latest version of the table and plans the bins: per partition, the
// files smaller than the target and without a deletion vector, packed greedily (in size order,
// or in order of their minimum of the cluster column) into bins of at most the target size.
// Bins of one file are dropped: rewriting a file alone would not shrink anything. Memory: the
// add actions (without stats) of the candidate files.
func PlanOptimize(ctx context.Context, s delta.Store, opts OptimizeOptions) (*OptimizePlan, error) {
	start := time.Now()
	if err := opts.fill(); err != nil {
		return nil, err
	}
	// Begin checks that every writer feature of the table is supported: optimize writes.
	txn, err := delta.Begin(ctx, s, opts.Txn)
	if err != nil {
		return nil, errwrap.URL("plan optimize of", s.URL(), err)
	}
	snap := txn.Snapshot()
	p := &OptimizePlan{store: s, opts: opts, version: snap.Version(), part: snap.Metadata().PartitionColumns}
	p.target = opts.TargetSize
	if p.target == 0 {
		p.target = DefaultTargetSize
		if v, ok := snap.Metadata().Configuration["delta.targetFileSize"]; ok {
			n, err := parseBytes(v)
			if err != nil {
				return nil, fmt.Errorf("plan optimize of %s: table property delta.targetFileSize: %w", s.URL(), err)
			}
			p.target = n
		}
	}
	if p.target <= 0 {
		return nil, fmt.Errorf("%w: target size %d", ErrBadOption, p.target)
	}
	var clusterPath []string
	if opts.ClusterBy != "" {
		clusterPath = strings.Split(opts.ClusterBy, ".")
		if slices.Contains(p.part, clusterPath[0]) {
			return nil, fmt.Errorf("%w: cluster column %q is a partition column", ErrBadOption, opts.ClusterBy)
		}
		if err := checkColumn(snap.Metadata(), clusterPath); err != nil {
			return nil, err
		}
	}
	m := &p.metrics
	m.ReadVersion, m.TargetSize, m.ClusterBy = p.version, p.target, opts.ClusterBy
	byPart := map[string][]candidate{}
	partValues := map[string]delta.PartitionValues{}
	for a, err := range snap.Files(ctx) {
		if err != nil {
			return nil, errwrap.URL("plan optimize of", s.URL(), err)
		}
		m.FilesConsidered++
		switch {
		case a.DeletionVector != nil:
			m.FilesWithDV++
			continue
		case a.Size >= p.target:
			m.FilesLarge++
			continue
		}
		c := candidate{add: a}
		if clusterPath != nil {
			c.minKey, c.maxKey = statBounds(a.Stats, clusterPath)
		}
		// The plan holds many of these: keep of the stats only the row count, which the file's
		// remove carries so that the version's .crc keeps the table's row count.
		a.Stats = rowCountStats(a.Stats)
		k := partitionKey(a.PartitionValues, p.part)
		if _, ok := partValues[k]; !ok {
			partValues[k] = a.PartitionValues
		}
		byPart[k] = append(byPart[k], c)
	}
	keys := make([]string, 0, len(byPart))
	for k := range byPart {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cs := byPart[k]
		if clusterPath != nil {
			slices.SortFunc(cs, func(a, b candidate) int {
				return cmp.Or(compareStat(a.minKey, b.minKey), compareStat(a.maxKey, b.maxKey), cmp.Compare(a.add.Path, b.add.Path))
			})
		} else {
			slices.SortFunc(cs, func(a, b candidate) int {
				return cmp.Or(cmp.Compare(a.add.Size, b.add.Size), cmp.Compare(a.add.Path, b.add.Path))
			})
		}
		if clusterPath != nil {
			for _, b := range packAligned(cs, p.target, partValues[k]) {
				if len(b.Files) > 1 {
					p.bins = append(p.bins, b)
					m.BinsPlanned++
					m.FilesPlanned += int64(len(b.Files))
					m.BytesPlanned += b.Bytes
				} else {
					m.FilesAlone += int64(len(b.Files))
				}
			}
			continue
		}
		var cur Bin
		flush := func() {
			if len(cur.Files) > 1 {
				p.bins = append(p.bins, cur)
				m.BinsPlanned++
				m.FilesPlanned += int64(len(cur.Files))
				m.BytesPlanned += cur.Bytes
			} else {
				m.FilesAlone += int64(len(cur.Files))
			}
			cur = Bin{Partition: partValues[k]}
		}
		cur.Partition = partValues[k]
		for _, c := range cs {
			if len(cur.Files) > 0 && cur.Bytes+c.add.Size > p.target {
				flush()
			}
			cur.Files = append(cur.Files, c.add)
			cur.Bytes += c.add.Size
		}
		flush()
	}
	if len(p.bins) > 0 {
		if p.schema, err = tableSchema(snap.Metadata()); err != nil {
			return nil, fmt.Errorf("plan optimize of %s: schema of the files to write: %w", s.URL(), err)
		}
	}
	m.Duration = time.Since(start)
	return p, nil
}

// minFill is how full a clustered bin must be before packAligned may cut it early at a
// boundary of the key space.
const minFill = 0.5

// packAligned packs files sorted by their minimum key into bins of at most target bytes,
// cutting each bin, once it holds at least minFill of the target, where the keys of
// neighbouring files differ in their highest bit: at the largest aligned boundary of the key
// space in reach. For QUADBIN keys that is a boundary of the quadtree, so a bin covers whole
// cells (compact areas) rather than a stretch of the Z-curve that jumps across the map. Keys
// that are not integers are cut greedily.
func packAligned(cs []candidate, target int64, pv delta.PartitionValues) []Bin {
	var bins []Bin
	for i := 0; i < len(cs); {
		j, bytes := i, int64(0)
		low := -1 // first end (exclusive) at which the bin is full enough
		for j < len(cs) && (j == i || bytes+cs[j].add.Size <= target) {
			bytes += cs[j].add.Size
			j++
			if low < 0 && float64(bytes) >= minFill*float64(target) {
				low = j
			}
		}
		end := j
		if j < len(cs) && low >= 0 && low < j {
			best := -1
			for c := low; c <= j; c++ {
				a, b := cs[c-1].minKey, cs[c].minKey
				if !a.isInt || !b.isInt {
					continue
				}
				if l := bits.Len64(uint64(a.i ^ b.i)); l >= best {
					best, end = l, c
				}
			}
		}
		b := Bin{Partition: pv}
		for _, c := range cs[i:end] {
			b.Files = append(b.Files, c.add)
			b.Bytes += c.add.Size
		}
		bins = append(bins, b)
		i = end
	}
	return bins
}

// checkColumn checks that path names a column of the table schema that is not inside a list
// or map.
func checkColumn(md delta.Metadata, path []string) error {
	st, err := md.Schema()
	if err != nil {
		return err
	}
	fields := st.Fields
	for i, name := range path {
		var f *delta.StructField
		for j := range fields {
			if fields[j].Name == name {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			return fmt.Errorf("%w: cluster column %q is not in the table schema", ErrBadOption, strings.Join(path, "."))
		}
		if i == len(path)-1 {
			if _, ok := f.PrimitiveType(); !ok {
				return fmt.Errorf("%w: cluster column %q is not of a primitive type", ErrBadOption, strings.Join(path, "."))
			}
			return nil
		}
		var nested delta.StructType
		if err := json.Unmarshal(f.Type, &nested); err != nil || nested.Type != "struct" {
			return fmt.Errorf("%w: cluster column %q: %s is not a struct", ErrBadOption, strings.Join(path, "."), name)
		}
		fields = nested.Fields
	}
	return nil
}

// partitionKey renders partition values as a comparable string, columns in table order.
func partitionKey(pv delta.PartitionValues, cols []string) string {
	var b strings.Builder
	for _, c := range cols {
		v, ok := pv.Get(c)
		if !ok {
			b.WriteString("\x00N")
		} else {
			b.WriteString("\x00V")
			b.WriteString(v)
		}
	}
	return b.String()
}

// statValue is a min or max from a file's stats: a number, a string, or unknown.
type statValue struct {
	kind  int // 0 unknown, 1 number, 2 string
	num   float64
	i     int64
	isInt bool // num came from the integer i, which compares exactly
	str   string
}

// compareStat orders numbers before strings before unknown values.
func compareStat(a, b statValue) int {
	rank := func(v statValue) int {
		if v.kind == 0 {
			return 3
		}
		return v.kind
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch a.kind {
	case 1:
		if a.isInt && b.isInt {
			return cmp.Compare(a.i, b.i)
		}
		return cmp.Compare(a.num, b.num)
	case 2:
		return cmp.Compare(a.str, b.str)
	}
	return 0
}

// statBounds returns the min and max of the column at path from an add's stats.
func statBounds(stats string, path []string) (lo, hi statValue) {
	st, err := delta.ParseStats(stats)
	if err != nil {
		return
	}
	return statAt(st.MinValues, path), statAt(st.MaxValues, path)
}

func statAt(m map[string]any, path []string) statValue {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return statValue{}
		}
		v = mm[p]
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return statValue{kind: 1, num: float64(i), i: i, isInt: true}
		}
		if f, err := x.Float64(); err == nil && !math.IsNaN(f) {
			return statValue{kind: 1, num: f}
		}
	case string:
		return statValue{kind: 2, str: x}
	}
	return statValue{}
}

// parseBytes parses a byte size as Spark writes table properties: a number with an optional
// binary unit (b, k/kb, m/mb, g/gb, t/tb), case-insensitive.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{{"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"t", 1 << 40}, {"g", 1 << 30},
		{"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("byte size %q: want a whole number of bytes with an optional unit (b, kb, mb, gb, tb)", s)
	}
	return n * mult, nil
}

// rowCountStats returns stats holding only the numRecords of stats ("" when it has none or
// cannot be read): what a remove needs to keep the .crc's row count, in a few bytes.
func rowCountStats(stats string) string {
	n, ok, err := delta.FileRecords(stats, nil)
	if err != nil || !ok {
		return ""
	}
	return `{"numRecords":` + strconv.FormatInt(n, 10) + `}`
}
