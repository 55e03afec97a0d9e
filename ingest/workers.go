package ingest

import (
	"context"
	"sync"

	"github.com/airbusgeo/godal"
)

// Decoding is most of an ingest's work (GDAL inflating a source's blocks), so the tiles of one
// source are read by several workers at once, each with its own GDAL dataset (a dataset is
// not safe for concurrent use), while the caller spools and writes them.
//
// Each level's tile grid is cut into units: runs of up to unitCols tiles of one tile row
// (whole rows when a block spans most of the width, as strips do). Units are numbered in
// row-major order and unit u is read by worker u mod n. The caller takes the tiles in that
// same order, unit by unit, from each worker in turn: it sees exactly the sequence one
// sequential reader would produce, so the data files (which tiles land in which file) do not
// depend on the number of workers or on timing, and an error is reported for the first bad
// tile in that order.
//
// Memory: each worker reads into a pool of tiles that the caller hands back once it has
// spooled them; the pools together hold about tileBufferBytes (at least one tile per worker),
// so a worker runs at most about one unit ahead of the caller. GDAL's block cache is
// process-wide and capped (Options.CacheMaxBytes): the worker count is lowered so that the
// blocks every worker needs at once fit in three quarters of the cap; past that, workers would
// evict each other's blocks and decode them again and again (a striped 20000-pixel-wide
// source needs about 40 MiB of strips per tile row).

const (
	// unitCols is the length, in tiles, of a unit when blocks are no wider than tiles.
	unitCols = 4
	// tileBufferBytes bounds the tiles that the workers of one source read ahead.
	tileBufferBytes = 32 << 20
)

// readPlan is how the tiles of one source are shared among workers.
type readPlan struct {
	levels  []int
	grids   []unitGrid // per entry of levels
	workers int
	pool    int // tiles per worker
}

// unitGrid cuts one level's tile grid into units.
type unitGrid struct {
	cols, rows  int // tile slots
	unitCols    int // tiles per unit
	unitsPerRow int
	// dropBlocks: no block straddles two units, so a worker's blocks are dead once it has
	// read its unit and are dropped from GDAL's block cache.
	dropBlocks bool
}

func (g unitGrid) units() int { return g.unitsPerRow * g.rows }

// unit returns the tile row and the column range [c0, c1) of unit u.
func (g unitGrid) unit(u int) (row, c0, c1 int) {
	row = u / g.unitsPerRow
	c0 = (u % g.unitsPerRow) * g.unitCols
	return row, c0, min(c0+g.unitCols, g.cols)
}

// newReadPlan shares the selected levels of a source among at most want workers.
func newReadPlan(info *rasterInfo, levels []int, tileSize, want int, cacheMax int64) readPlan {
	p := readPlan{levels: levels, workers: max(1, want)}
	es := int64(info.dtype.Size())
	slots := 0
	maxUnit := 1
	for _, l := range levels {
		lv := info.levels[l]
		g := unitGrid{unitCols: unitCols}
		g.cols, g.rows = tileCount(lv, tileSize)
		bw, bh := max(1, lv.blockW), max(1, lv.blockH)
		switch {
		case 2*bw > lv.width:
			// Strips, or blocks nearly as wide as the raster: a unit is a tile row, so no
			// two workers decode the same block.
			g.unitCols = g.cols
		case bw > tileSize:
			// Blocks wider than tiles: units cover whole blocks.
			per := (bw + tileSize - 1) / tileSize
			g.unitCols = (unitCols + per - 1) / per * per
		}
		g.unitCols = max(1, min(g.unitCols, g.cols))
		g.unitsPerRow = (g.cols + g.unitCols - 1) / g.unitCols
		g.dropBlocks = tileSize%bh == 0 && (g.unitCols == g.cols || (g.unitCols*tileSize)%bw == 0)
		p.grids = append(p.grids, g)
		slots += g.cols * g.rows
		maxUnit = max(maxUnit, g.unitCols)
		// The blocks one worker needs at once: those under a tile and its right neighbour
		// (all bands: pixel-interleaved files cache every band of a block together).
		spanW := min(int64(lv.width), int64((tileSize+bw-1)/bw+1)*int64(bw))
		spanH := min(int64(lv.height), int64((tileSize+bh-1)/bh+1)*int64(bh))
		need := spanW * spanH * es * int64(info.bands)
		if fit := cacheMax * 3 / 4 / max(1, need); fit < int64(p.workers) {
			p.workers = int(max(1, fit))
		}
	}
	p.workers = max(1, min(p.workers, slots/2))
	p.pool = int(max(1, min(int64(maxUnit+1), tileBufferBytes/(int64(p.workers)*tileBytes(info, tileSize)))))
	return p
}

// tileMsg is one tile (or the error that stopped a worker) on its way to the caller.
type tileMsg struct {
	t     *tile
	valid bool
	err   error
}

// worker reads the units of one residue class.
type worker struct {
	out  chan tileMsg
	free chan *tile
}

// decodeTiles reads every tile of the plan's levels of a source with p.workers workers and
// calls fn for each, in row-major order per level, levels in plan order, from the calling
// goroutine. fn must not keep t (nor its slices) after it returns. The first error (fn's,
// a worker's, or the context's) stops every worker and is returned.
func decodeTiles(ctx context.Context, r *sourceRef, info *rasterInfo, p readPlan, tileSize int, eh godal.ErrorHandler,
	fn func(t *tile, valid bool) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	ws := make([]*worker, p.workers)
	for i := range ws {
		w := &worker{out: make(chan tileMsg, p.pool), free: make(chan *tile, p.pool)}
		for range p.pool {
			w.free <- new(tile)
		}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, r, info, p, i, tileSize, eh)
		}()
	}
	for li := range p.levels {
		g := p.grids[li]
		for u := range g.units() {
			w := ws[u%p.workers]
			_, c0, c1 := g.unit(u)
			for range c1 - c0 {
				var m tileMsg
				select {
				case m = <-w.out:
				case <-ctx.Done():
					return ctx.Err()
				}
				if m.err != nil {
					return m.err
				}
				err := fn(m.t, m.valid)
				w.free <- m.t // never blocks: the pool has room for every tile it lent
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// run opens the worker's own dataset and reads units i, i+n, i+2n, ... of every level; it
// stops at the first error, which it sends in place of the tile it could not read.
func (w *worker) run(ctx context.Context, r *sourceRef, info *rasterInfo, p readPlan, i, tileSize int, eh godal.ErrorHandler) {
	send := func(m tileMsg) bool {
		select {
		case w.out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	ds, closeDS, err := openDataset(ctx, r, eh)
	if err != nil {
		send(tileMsg{err: err})
		return
	}
	defer closeDS()
	fp, err := newFootprinter(ds.SpatialRef(), eh)
	if err != nil {
		send(tileMsg{err: err})
		return
	}
	defer fp.close()
	tl := &tiler{info: info, size: tileSize, eh: eh, fp: fp}
	for li, l := range p.levels {
		tl.setLevel(ds, l)
		g := p.grids[li]
		for u := i; u < g.units(); u += p.workers {
			row, c0, c1 := g.unit(u)
			for col := c0; col < c1; col++ {
				var t *tile
				select {
				case t = <-w.free:
				case <-ctx.Done():
					return
				}
				valid, err := tl.read(ctx, col, row, t)
				if !send(tileMsg{t: t, valid: valid, err: err}) || err != nil {
					return
				}
			}
			if g.dropBlocks {
				dropBlocks(tl.bands)
			}
		}
	}
}

// tileBytes is the size of a tile's band blobs.
func tileBytes(info *rasterInfo, tileSize int) int64 {
	return int64(tileSize) * int64(tileSize) * int64(info.dtype.Size()) * int64(info.bands)
}
