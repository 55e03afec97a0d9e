package delta

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Commit lines are decoded by several goroutines: JSON decoding is the cost of replaying a
// long tail, and one core cannot keep up with the store. Lines are gathered into chunks by one
// reader, decoded in parallel, and handed to the caller in file order. At most
// 2*workers+workers chunks of chunkLines lines are alive at once.
const chunkLines = 1024

// A lineChunk passes from owner to owner, never shared: the reader fills it and sends it both
// to the consumer (order) and to a worker (work); the worker decodes it and closes ready; only
// then does the consumer read it, and only after that may it go back to the pool for the
// reader to fill again. Every chunk sent to order is also sent to work, and every worker
// closes ready of every chunk it takes, decoded or (once the context is done) marked with the
// context's error, so the consumer's wait on ready always ends.
type lineChunk struct {
	buf   []byte
	ends  []int // line i is buf[ends[i-1]:ends[i]]
	nums  []int // 1-based line numbers
	acts  []Action
	err   error
	ready chan struct{}
}

// streamActions calls fn, in file order, for every action of commit key (version v) whose
// kind keep accepts (keep gets the first key of the line; unknown-looking lines are always
// decoded). A line that does not decode is a *CorruptError naming the file, version and line.
// A cancelled context is an error (never a short result) unless every action was delivered.
func streamActions(ctx context.Context, s Store, key string, v int64, keep func(kind string) bool, fn func(Action) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *lineChunk, workers)
	order := make(chan *lineChunk, 2*workers)
	pool := sync.Pool{New: func() any { return &lineChunk{} }}
	cancelled := func() error { return fmt.Errorf("read %s: %w", key, ctx.Err()) }

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if ctx.Err() != nil {
					c.err = cancelled()
				} else {
					c.decode(key, v, keep)
				}
				close(c.ready)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		next := func() *lineChunk {
			c := pool.Get().(*lineChunk)
			c.buf, c.ends, c.nums, c.acts, c.err = c.buf[:0], c.ends[:0], c.nums[:0], c.acts[:0], nil
			c.ready = make(chan struct{})
			return c
		}
		cur := next()
		send := func() bool {
			select {
			case order <- cur:
			case <-ctx.Done():
				return false // cur never left the reader
			}
			// The consumer waits for cur to be ready: it must reach a worker whatever happens.
			// Workers take from work until it is closed, so this send always completes.
			work <- cur
			cur = next()
			return true
		}
		err := scanLines(ctx, s, key, v, func(line []byte, n int) error {
			cur.buf = append(cur.buf, line...)
			cur.ends = append(cur.ends, len(cur.buf))
			cur.nums = append(cur.nums, n)
			if len(cur.ends) == chunkLines && !send() {
				return cancelled()
			}
			return nil
		})
		if err == nil && len(cur.ends) > 0 && !send() {
			err = cancelled()
		}
		readErr <- err
	}()

	var ferr error
	for c := range order {
		<-c.ready // from here on the chunk is the consumer's alone
		if ferr == nil {
			switch {
			case c.err != nil:
				ferr = c.err
			case ctx.Err() != nil:
				ferr = cancelled()
			default:
				for _, a := range c.acts {
					if ferr = fn(a); ferr != nil {
						break
					}
				}
			}
			if ferr != nil {
				cancel()
			}
		}
		pool.Put(c)
	}
	wg.Wait()
	rerr := <-readErr
	if ferr != nil {
		return ferr
	}
	return rerr
}

// decode parses the chunk's lines into acts, or sets err at the first line that does not
// decode.
func (c *lineChunk) decode(key string, v int64, keep func(kind string) bool) {
	start := 0
	for i, end := range c.ends {
		line := c.buf[start:end]
		start = end
		if kind, ok := actionKind(line); ok && isActionName(kind) && !keep(kind) {
			continue
		}
		a, err := ParseAction(line)
		if err != nil {
			c.err = corrupt(key, v, "line %d: %v", c.nums[i], err)
			return
		}
		c.acts = append(c.acts, a)
	}
}
