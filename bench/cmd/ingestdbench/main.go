// Command ingestdbench runs a command (ingestd, or a loop of deltactl ingest) and samples it
// over time: its resident set size and CPU time from /proc, and, from ingestd's log on
// stderr, how many scenes were committed and when checkpoints ran. It writes the series as CSV
// and summarises it; the plot subcommand draws a series as a PNG (standard library only).
//
//	ingestdbench run -csv OUT.csv -log OUT.log [-every 200ms] [-tree] -- ingestd --table ... --once
//	ingestdbench plot -csv OUT.csv -png OUT.png
//	ingestdbench summary -csv OUT.csv [-window 500]
//
// CSV columns: t_s (seconds since the start), rss_mib (VmRSS of the process, or with -tree of
// it and its descendants, summed), cpu_cores (CPU seconds of the process (tree) per wall second over the
// last interval), scenes (sources committed so far, from "ingestd: committed" lines),
// checkpoint (1 while a checkpoint runs, from "ingestd: checkpoint started/done" lines).
//
// run prints one JSON object on stdout: wall seconds, CPU seconds (user+sys of the process
// tree, from its rusage), peak RSS, scenes committed.
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "plot":
		err = plot(os.Args[2:])
	case "summary":
		err = summary(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestdbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ingestdbench run -csv F -log F [-every D] -- CMD ARGS... | plot -csv F -png F | summary -csv F [-window N]")
	os.Exit(2)
}

type sample struct {
	t          float64
	rssMiB     float64
	cpuCores   float64
	scenes     int
	checkpoint bool
}

var (
	reCommitted = regexp.MustCompile(`msg="ingestd: committed".* sources=(\d+)`)
	reCkptStart = regexp.MustCompile(`msg="ingestd: checkpoint started"`)
	reCkptDone  = regexp.MustCompile(`msg="ingestd: checkpoint done"`)
	reScene     = regexp.MustCompile(`^SCENE DONE`) // a line a driver script prints per scene
)

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	csvPath := fs.String("csv", "", "CSV of the samples")
	logPath := fs.String("log", "", "copy of the command's stderr")
	every := fs.Duration("every", 200*time.Millisecond, "sampling interval")
	tree := fs.Bool("tree", false, "sample the process and its descendants (a driver script), not the process alone")
	fs.Parse(args)
	if *csvPath == "" || *logPath == "" || fs.NArg() == 0 {
		usage()
	}
	logf, err := os.Create(*logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout = os.Stderr
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	scenes, inCkpt := 0, false
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(io.TeeReader(stderr, logf))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if m := reCommitted.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				scenes += n
			} else if reScene.MatchString(line) {
				scenes++
			} else if reCkptStart.MatchString(line) {
				inCkpt = true
			} else if reCkptDone.MatchString(line) {
				inCkpt = false
			}
			mu.Unlock()
		}
	}()
	var samples []sample
	// The series is written as it is sampled, so that a run cut short leaves its samples.
	cf, err := os.Create(*csvPath)
	if err != nil {
		return err
	}
	defer cf.Close()
	cw := csv.NewWriter(cf)
	cw.Write(csvHeader)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	waitDone := make(chan error, 1)
	go func() { <-logDone; waitDone <- cmd.Wait() }()
	lastCPU, lastT := 0.0, 0.0
	pid := cmd.Process.Pid
	var werr error
loop:
	for {
		select {
		case werr = <-waitDone:
			break loop
		case <-tick.C:
			rss, cpu := vmRSS(pid), cpuTime(pid)
			if *tree {
				rss, cpu = treeUsage(pid)
			}
			t := time.Since(start).Seconds()
			mu.Lock()
			s := sample{t: t, rssMiB: rss / 1024, scenes: scenes, checkpoint: inCkpt}
			mu.Unlock()
			if t > lastT && cpu >= lastCPU {
				s.cpuCores = (cpu - lastCPU) / (t - lastT)
			}
			lastCPU, lastT = cpu, t
			if rss > 0 {
				samples = append(samples, s)
				cw.Write(s.record())
				cw.Flush()
			}
		}
	}
	wall := time.Since(start).Seconds()
	var cpuSec, maxRSS float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpuSec = tv(ru.Utime) + tv(ru.Stime)
	}
	// Children's rusage (a driver script's processes) is in the process's own rusage only for
	// the waited-for tree; the samples give the peak RSS of the tree as seen.
	for _, s := range samples {
		maxRSS = max(maxRSS, s.rssMiB)
	}
	if err := cw.Error(); err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]any{"wallSeconds": wall, "cpuSeconds": cpuSec, "peakRssMiB": maxRSS,
		"scenes": scenes, "samples": len(samples), "exit": cmd.ProcessState.ExitCode()})
	fmt.Println(string(out))
	if werr != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), werr)
	}
	return nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// treeUsage sums VmRSS (KiB) and utime+stime (seconds, of the live processes and the children
// they waited for) over pid and its descendants.
func treeUsage(pid int) (rssKiB, cpu float64) {
	kids := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			kids[pp] = append(kids[pp], p)
		}
	}
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		todo = append(todo, kids[p]...)
		rssKiB += vmRSS(p)
		cpu += cpuTime(p)
	}
	return rssKiB, cpu
}

func statFields(p int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:]) // fields from 3 (state) on
}

func ppid(p int) (int, bool) {
	f := statFields(p)
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil
}

const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux

func cpuTime(p int) float64 {
	f := statFields(p)
	if len(f) < 15 {
		return 0
	}
	var sum float64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14..17)
		n, _ := strconv.ParseFloat(f[i], 64)
		sum += n
	}
	return sum / clkTck
}

func vmRSS(p int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseFloat(f[1], 64)
				return n
			}
		}
	}
	return 0
}

var csvHeader = []string{"t_s", "rss_mib", "cpu_cores", "scenes", "checkpoint"}

func (s sample) record() []string {
	ck := "0"
	if s.checkpoint {
		ck = "1"
	}
	return []string{strconv.FormatFloat(s.t, 'f', 3, 64), strconv.FormatFloat(s.rssMiB, 'f', 1, 64),
		strconv.FormatFloat(s.cpuCores, 'f', 2, 64), strconv.Itoa(s.scenes), ck}
}

func readCSV(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []sample
	for _, r := range rows[1:] {
		var s sample
		s.t, _ = strconv.ParseFloat(r[0], 64)
		s.rssMiB, _ = strconv.ParseFloat(r[1], 64)
		s.cpuCores, _ = strconv.ParseFloat(r[2], 64)
		s.scenes, _ = strconv.Atoi(r[3])
		s.checkpoint = r[4] == "1"
		out = append(out, s)
	}
	return out, nil
}

// summary: peak RSS over the samples while the first window scenes were committed vs the
// last window; peak RSS during checkpoints vs the peak and the median outside them; mean
// cpu_cores outside checkpoints.
func summary(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ExitOnError)
	csvPath := fs.String("csv", "", "CSV of the samples")
	window := fs.Int("window", 500, "scenes in the first and the last window")
	fs.Parse(args)
	ss, err := readCSV(*csvPath)
	if err != nil {
		return err
	}
	if len(ss) == 0 {
		return fmt.Errorf("no samples")
	}
	total := ss[len(ss)-1].scenes
	var first, last, ckpt, outside float64
	var out []float64
	var cores []float64
	for _, s := range ss {
		if s.scenes < *window {
			first = max(first, s.rssMiB)
		}
		if s.scenes >= total-*window && s.scenes < total {
			last = max(last, s.rssMiB)
		}
		if s.checkpoint {
			ckpt = max(ckpt, s.rssMiB)
		} else if s.scenes > 0 {
			outside = max(outside, s.rssMiB)
			out = append(out, s.rssMiB)
			cores = append(cores, s.cpuCores)
		}
	}
	sort.Float64s(out)
	sort.Float64s(cores)
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[len(v)/2]
	}
	res := map[string]any{
		"scenes": total, "samples": len(ss),
		"peakFirstWindowMiB": first, "peakLastWindowMiB": last, "lastOverFirst": last / first,
		"peakInCheckpointMiB": ckpt, "peakOutsideCheckpointMiB": outside, "medianOutsideCheckpointMiB": med(out),
		"checkpointOverPeakOutside": ckpt / outside, "checkpointOverMedianOutside": ckpt / med(out),
		"medianCpuCores": med(cores),
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	return nil
}

// plot draws RSS (black) over time, checkpoints as grey bands, CPU cores in use (blue,
// scaled: the top of the plot is 2 cores) and scenes committed (green, the top is the last
// count); grid lines every 100 MiB (the plot's top is the next 100 MiB above the peak) and
// every 60 s.
func plot(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ExitOnError)
	csvPath := fs.String("csv", "", "CSV of the samples")
	pngPath := fs.String("png", "", "PNG to write")
	fs.Parse(args)
	ss, err := readCSV(*csvPath)
	if err != nil {
		return err
	}
	if len(ss) < 2 {
		return fmt.Errorf("too few samples")
	}
	const W, H, pad = 1200, 500, 20
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill := func(x0, y0, x1, y1 int, c color.Color) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				img.Set(x, y, c)
			}
		}
	}
	fill(0, 0, W, H, color.White)
	tMax := ss[len(ss)-1].t
	var rMax float64
	for _, s := range ss {
		rMax = max(rMax, s.rssMiB)
	}
	rTop := float64(int(rMax/100)+1) * 100
	sTop := float64(max(ss[len(ss)-1].scenes, 1))
	px := func(t float64) int { return pad + int(t/tMax*float64(W-2*pad-1)) }
	py := func(v, top float64) int { return H - pad - 1 - int(v/top*float64(H-2*pad-1)) }
	for i, s := range ss {
		if s.checkpoint {
			x0 := px(s.t)
			x1 := x0 + 1
			if i+1 < len(ss) {
				x1 = max(x1, px(ss[i+1].t))
			}
			fill(x0, pad, x1, H-pad, color.RGBA{215, 215, 215, 255})
		}
	}
	grid := color.RGBA{235, 235, 235, 255}
	for v := 0.0; v <= rTop; v += 100 {
		y := py(v, rTop)
		fill(pad, y, W-pad, y+1, grid)
	}
	for t := 0.0; t <= tMax; t += 60 {
		x := px(t)
		fill(x, pad, x+1, H-pad, grid)
	}
	fill(pad, H-pad, W-pad, H-pad+1, color.Black)
	fill(pad-1, pad, pad, H-pad, color.Black)
	line := func(val func(sample) float64, top float64, c color.Color, thick int) {
		for i := 1; i < len(ss); i++ {
			x0, y0 := px(ss[i-1].t), py(val(ss[i-1]), top)
			x1, y1 := px(ss[i].t), py(val(ss[i]), top)
			steps := max(abs(x1-x0), abs(y1-y0), 1)
			for k := 0; k <= steps; k++ {
				x := x0 + (x1-x0)*k/steps
				y := y0 + (y1-y0)*k/steps
				fill(x, y, x+thick, y+thick, c)
			}
		}
	}
	line(func(s sample) float64 { return min(s.cpuCores, 2) }, 2, color.RGBA{120, 150, 255, 255}, 1)
	line(func(s sample) float64 { return float64(s.scenes) }, sTop, color.RGBA{0, 160, 0, 255}, 1)
	line(func(s sample) float64 { return s.rssMiB }, rTop, color.Black, 2)
	f, err := os.Create(*pngPath)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "plot: %d samples over %.0f s; RSS axis 0..%.0f MiB (grid 100 MiB), time grid 60 s\n", len(ss), tMax, rTop)
	return f.Close()
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
