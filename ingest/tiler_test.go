package ingest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/deltaraster/deltaraster/internal/gdal"
)

// refStats is the statistics as the package defines them, one pixel at a time in float64.
func refStats[T pixel](out []T, ts, w, h int, hasND bool, nd float64) bandStats {
	s := bandStats{Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for y := 0; y < h; y++ {
		for _, v := range out[y*ts : y*ts+w] {
			f := float64(v)
			if f != f || (hasND && f == nd) {
				continue
			}
			s.Valid++
			sum += f
			s.Min, s.Max = min(s.Min, f), max(s.Max, f)
		}
	}
	if s.Valid == 0 {
		return bandStats{Min: nan, Max: nan, Mean: nan}
	}
	s.Mean = sum / float64(s.Valid)
	return s
}

func sameStats(a, b bandStats) bool {
	return a.Valid == b.Valid && sameFloat(a.Min, b.Min) && sameFloat(a.Max, b.Max) &&
		(sameFloat(a.Mean, b.Mean) || math.Abs(a.Mean-b.Mean) <= 1e-12*math.Abs(b.Mean))
}

// checkIntStats compares intStats with refStats on random tiles, full and edge windows, with
// and without nodata (held by T or not), nodata-only and constant tiles included.
func checkIntStats[T integer](t *testing.T, name string, gen func(r *rand.Rand) T) {
	r := rand.New(rand.NewPCG(1, 2))
	const ts = 64
	out := make([]T, ts*ts)
	for iter := 0; iter < 400; iter++ {
		for i := range out {
			out[i] = gen(r)
		}
		nd := float64(out[r.IntN(len(out))])
		switch iter % 5 {
		case 1: // every pixel is nodata
			for i := range out {
				out[i] = T(nd)
			}
		case 2: // a nodata value T cannot hold
			nd = -1e12
		case 3: // not an integer
			nd += 0.5
		}
		w, h := ts, ts
		if iter%3 == 1 {
			w, h = 1+r.IntN(ts), 1+r.IntN(ts)
		}
		for _, hasND := range []bool{false, true} {
			got := intStats(out, ts, w, h, hasND, nd)
			want := refStats(out, ts, w, h, hasND, nd)
			if !sameStats(got, want) {
				t.Fatalf("%s iter %d %dx%d nodata %v %v: got %+v, want %+v", name, iter, w, h, hasND, nd, got, want)
			}
		}
	}
}

func TestIntStats(t *testing.T) {
	checkIntStats(t, "uint8", func(r *rand.Rand) uint8 { return uint8(r.Uint32()) })
	checkIntStats(t, "uint16", func(r *rand.Rand) uint16 { return uint16(r.Uint32()) })
	checkIntStats(t, "int16", func(r *rand.Rand) int16 { return int16(r.Uint32()) })
	checkIntStats(t, "uint32", func(r *rand.Rand) uint32 { return r.Uint32() })
	checkIntStats(t, "int32", func(r *rand.Rand) int32 { return int32(r.Uint32()) })
	checkIntStats(t, "uint16 few values", func(r *rand.Rand) uint16 { return uint16(r.IntN(3)) })
	checkExtremes[uint8](t, "uint8")
	checkExtremes[uint16](t, "uint16")
	checkExtremes[int16](t, "int16")
	checkExtremes[uint32](t, "uint32")
	checkExtremes[int32](t, "int32")
}

// checkExtremes compares intStats with refStats on the largest tile filled with T's extremes
// (the row sums of intStats must not overflow), with either extreme as nodata. refStats sums
// 4M values of up to 32 bits in float64, which rounds (intStats' sum is exact): means are
// compared to 1e-9.
func checkExtremes[T integer](t *testing.T, name string) {
	const ts = MaxTileSize
	lo, hi := intRange[T]()
	out := make([]T, ts*ts)
	for fill, pattern := range [][]float64{{hi}, {lo}, {lo, hi}, {hi, hi, lo}} {
		for i := range out {
			out[i] = T(pattern[i%len(pattern)])
		}
		for _, nd := range []float64{lo, hi, 1} {
			for _, hasND := range []bool{false, true} {
				got := intStats(out, ts, ts, ts, hasND, nd)
				want := refStats(out, ts, ts, ts, hasND, nd)
				if got.Valid != want.Valid || !sameFloat(got.Min, want.Min) || !sameFloat(got.Max, want.Max) ||
					!(sameFloat(got.Mean, want.Mean) || math.Abs(got.Mean-want.Mean) <= 1e-9*math.Abs(want.Mean)) {
					t.Fatalf("%s fill %d nodata %v %v: got %+v, want %+v", name, fill, hasND, nd, got, want)
				}
			}
		}
	}
}

func BenchmarkIntStatsUint16(b *testing.B) {
	const ts = 256
	out := make([]uint16, ts*ts)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range out {
		out[i] = uint16(r.Uint32())
	}
	b.SetBytes(ts * ts * 2)
	for b.Loop() {
		intStats(out, ts, ts, ts, false, 0)
	}
}

func BenchmarkIntStatsUint16NoData(b *testing.B) {
	const ts = 256
	out := make([]uint16, ts*ts)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range out {
		out[i] = uint16(r.Uint32())
	}
	b.SetBytes(ts * ts * 2)
	for b.Loop() {
		intStats(out, ts, ts, ts, true, 0)
	}
}

// TestDropBlocks checks bandHandle against godal's layout and that dropBlocks empties the
// block cache of the bands read.
func TestDropBlocks(t *testing.T) {
	initGDAL(DefaultCacheMaxBytes)
	ds, err := godal.Open(td("u16.tif"), godal.RasterOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	bands := ds.Bands()
	for i, b := range bands {
		if n := bandNumber(b); n != i+1 {
			t.Fatalf("band %d: the handle is band %d", i+1, n)
		}
	}
	before := gdal.CacheUsed()
	buf := make([]uint16, 128*128)
	for _, b := range bands {
		if err := b.Read(0, 0, buf, 128, 128); err != nil {
			t.Fatal(err)
		}
	}
	read := gdal.CacheUsed()
	if read < before+4*128*128*2 {
		t.Fatalf("cache use %d after reading 4 blocks of 32 KiB, %d before", read, before)
	}
	dropBlocks(bands)
	if after := gdal.CacheUsed(); after != before {
		t.Fatalf("cache use %d after dropBlocks, want %d as before the reads", after, before)
	}
}
