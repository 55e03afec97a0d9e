package bench

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// cpuTime is the process's user+system CPU time: on a shared machine it moves less than wall
// time when other work competes for the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplay300k opens kernel/300k-add-files-100-col-partitioned (300,000 adds in JSON
// commits, no checkpoint) and streams every live file. Reports ns/op and the peak live heap
// of the runs (peak-heap-MiB) and the CPU seconds a run (cpu-s/op, which includes the heap
// sampler's small share).
func BenchmarkReplay300k(b *testing.B) {
	dir := filepath.Join(testutil.Unpack(b, filepath.Join(testutil.ConformanceDir(b), "kernel",
		"300k-add-files-100-col-partitioned.tar.zst")), "300k-add-files-100-col-partitioned")
	defer testutil.Cleanup()
	ctx := context.Background()
	var peak uint64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hp := StartHeapPeak(time.Millisecond)
		cpu0 := cpuTime()
		b.StartTimer()
		st, err := delta.OpenStore(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		snap, err := delta.Open(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, err := range snap.Files(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		st.Close()
		b.StopTimer()
		cpu += cpuTime() - cpu0
		if n != 300000 {
			b.Fatalf("streamed %d files, want 300000", n)
		}
		peak = max(peak, hp.Stop())
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}
