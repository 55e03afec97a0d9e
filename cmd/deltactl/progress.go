package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress draws a one-line progress display on stderr when it is a terminal, at most ten
// times a second, and ends it with a one-line summary (finish); elsewhere (pipes, files,
// tests) and for --json it draws nothing.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	drew  bool
	// The latest message, drawn or not (updates within a tenth of a second are not drawn).
	format string
	args   []any
}

// newProgress is a progress display on w, off unless w is a terminal and asJSON is false.
func newProgress(w io.Writer, asJSON bool) *progress {
	on := false
	if f, ok := w.(*os.File); ok && !asJSON {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{w: w, on: on, start: time.Now()}
}

// update redraws the line with a printf-formatted message.
func (p *progress) update(format string, args ...any) {
	p.draw(false, format, args)
}

// now redraws the line at once, however soon after the last redraw: a stage that begins
// (and may take long) is seen.
func (p *progress) now(format string, args ...any) {
	p.draw(true, format, args)
}

func (p *progress) draw(force bool, format string, args []any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.format, p.args = format, args
	if !force && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	p.drew = true
}

// done clears the line (the work failed, or its summary is finish's).
func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
		p.drew = false
	}
}

// finish replaces the line with a printf-formatted summary and "done in" the time since the
// display began, on a line of its own; an empty format repeats the latest message. Later updates and
// finishes draw nothing.
func (p *progress) finish(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if format == "" {
		format, args = p.format, p.args
	}
	if format != "" {
		fmt.Fprintf(p.w, "\r\033[K"+format+"; done in %s\n", append(args[:len(args):len(args)], elapsed(time.Since(p.start)))...)
	} else if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.drew, p.on = false, false
}

// end ends the display: cleared when err is set, else with the latest message as its summary.
func (p *progress) end(err error) {
	if err != nil {
		p.done()
		return
	}
	p.finish("")
}

// elapsed rounds a duration for people: 850ms, 3.2s, 1m4s.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
