package bench

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// HeapPeak samples the live heap (bytes in heap objects) every interval until Stop, and keeps
// the largest value seen. Sampling runtime/metrics does not stop the world.
type HeapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

// StartHeapPeak starts sampling after a GC, so garbage from earlier work does not count.
func StartHeapPeak(interval time.Duration) *HeapPeak {
	runtime.GC()
	p := &HeapPeak{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > p.peak {
			p.peak = v
		}
	}
	read()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return p
}

// Stop ends sampling and returns the peak in bytes.
func (p *HeapPeak) Stop() uint64 {
	close(p.stop)
	p.wg.Wait()
	return p.peak
}
