package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deltaraster/deltaraster/delta"
)

func TestHelp(t *testing.T) {
	code, out, _ := ingestd(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"--watch", "--once", "DELTARASTER_TABLE", "DELTARASTER_WATCH", "SIGTERM", "dead-letter",
		"Examples:", "ingestd --table /data/tiles --watch /data/incoming", "--metrics-addr", "127.0.0.1:9464",
		"--shard", "--memory-limit", "--cache-max", "--log-format"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestFailureStatus: an error of the run itself is a failure (exit status 1), not a usage
// error, whatever its text says (the status was chosen by matching error text before).
func TestFailureStatus(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := ingestd(t, "--table", filepath.Join(file, "t"), "--watch", t.TempDir(), "--once")
	if code != exitFailure || !strings.Contains(stderr, "not a directory") {
		t.Errorf("exit %d, stderr %q; want %d and the cause", code, stderr, exitFailure)
	}
}

func TestUsageErrors(t *testing.T) {
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "t")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no table", nil, []string{"--watch", in}, "--table and one of --watch and --subscribe are required"},
		{"watch and subscribe", nil, []string{"--table", table, "--watch", in, "--subscribe", "mem://q"}, "one of --watch and --subscribe"},
		{"shard with subscribe", nil, []string{"--table", table, "--subscribe", "mem://q", "--shard", "0/2"}, "--shard splits"},
		{"unknown flag", nil, []string{"--table", table, "--watch", in, "--nope"}, "unknown flag"},
		{"bad shard", nil, []string{"--table", table, "--watch", in, "--shard", "2/2"}, "--shard"},
		{"bad log format", nil, []string{"--table", table, "--watch", in, "--log-format", "xml"}, "--log-format"},
		{"bad env", map[string]string{"DELTARASTER_POLL": "often"}, []string{"--table", table, "--watch", in}, "DELTARASTER_POLL"},
		{"bad size", nil, []string{"--table", table, "--watch", in, "--cache-max", "lots"}, "cache-max"},
		{"stray argument", nil, []string{"extra", "--table", table, "--watch", in}, `unknown command "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := ingestd(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestOnceFromEnvironment configures ingestd by environment variables alone (a flag given on
// the command line wins), and --once ingests the directory and exits 0; poison files are
// dead-lettered while the rest commits.
func TestOnceFromEnvironment(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	var srcs []string
	for i := range 3 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	drop(t, in, "text.tif", raster(t, "notraster.tif"))
	drop(t, in, "trunc.tif", raster(t, "truncated.tif"))
	t.Setenv("DELTARASTER_TABLE", table)
	t.Setenv("DELTARASTER_WATCH", in)
	t.Setenv("DELTARASTER_METRICS_ADDR", "")
	t.Setenv("DELTARASTER_MAX_ATTEMPTS", "2")
	t.Setenv("DELTARASTER_RETRY_BACKOFF", "10ms")
	t.Setenv("DELTARASTER_LOG_FORMAT", "json")
	t.Setenv("DELTARASTER_APP_ID", "from-env")
	code, _, stderr := ingestd(t, "--once", "--app-id", "from-flag")
	if code != exitOK {
		t.Fatalf("--once: exit %d\n%s", code, stderr)
	}
	checkExactlyOnce(t, table, srcs)
	for line := range strings.SplitSeq(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON (DELTARASTER_LOG_FORMAT=json): %q", line)
		}
		if m["msg"] == "ingestd: started" && m["appId"] != "from-flag" {
			t.Errorf("app id %v, want from-flag (the flag wins over DELTARASTER_APP_ID)", m["appId"])
		}
	}
	dl, err := os.ReadDir(filepath.Join(table, "_deltaraster", "dead-letter"))
	if err != nil || len(dl) != 2 {
		t.Errorf("dead letters: %v, %v; want 2", dl, err)
	}
}

// TestTwoDaemons runs two ingestd processes with different app ids on one directory and one
// table while scenes arrive: every scene lands exactly once. SIGTERM stops both with status 0.
func TestTwoDaemons(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	args := func(app string) []string {
		return []string{"--table", table, "--watch", in, "--app-id", app, "--poll", "100ms", "--batch-max-wait", "150ms",
			"--batch-max-sources", "3", "--metrics-addr", "", "--retry-backoff", "50ms"}
	}
	a, b := start(t, args("replica-a")...), start(t, args("replica-b")...)
	var srcs []string
	for i := range 12 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%02d.tif", i), rgb))
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
	}
	waitFor(t, 90*time.Second, func() bool { f, _ := holdings(t, table); return len(f) >= len(srcs) },
		func() string { return "replica a:\n" + a.log() + "\nreplica b:\n" + b.log() })
	for name, p := range map[string]*proc{"a": a, "b": b} {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("replica %s: exit %d after SIGTERM; log:\n%s", name, code, p.log())
		}
		if !strings.Contains(p.log(), "stopped by signal") {
			t.Errorf("replica %s did not log its stop", name)
		}
		t.Logf("replica %s: %d commits, %d re-plans after a conflict", name, strings.Count(p.log(), "ingestd: committed"),
			strings.Count(p.log(), "commit conflicted"))
	}
	checkExactlyOnce(t, table, srcs)
}

// TestMetrics scrapes /metrics of a running ingestd and parses it, checks /healthz and /readyz,
// and stops it with SIGINT.
func TestMetrics(t *testing.T) {
	rgb := raster(t, "rgb.tif")
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	p := start(t, "--table", table, "--watch", in, "--poll", "50ms", "--batch-max-wait", "50ms",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json", "--memory-limit", "1GiB", "--cache-max", "32MiB")
	p.waitLog(t, "serving /metrics", 30*time.Second)
	var addr string
	for line := range strings.SplitSeq(p.log(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["addr"] != nil {
			addr = m["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatalf("no address in the log:\n%s", p.log())
	}
	get := func(path string) (int, string) {
		t.Helper()
		r, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	var srcs []string
	for i := range 4 {
		srcs = append(srcs, drop(t, in, fmt.Sprintf("s%d.tif", i), rgb))
	}
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		code, body := get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d", code)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mf, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parse /metrics: %v\n%s", err, body)
		}
		return mf
	}
	value := func(mf map[string]*dto.MetricFamily, name, label string) float64 {
		f := mf[name]
		if f == nil {
			return -1
		}
		for _, m := range f.Metric {
			if label != "" && (len(m.Label) == 0 || m.Label[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		return -1
	}
	var mf map[string]*dto.MetricFamily
	waitFor(t, 60*time.Second, func() bool {
		mf = scrape()
		return value(mf, "deltaraster_ingestd_sources_total", "added") == 4 && value(mf, "deltaraster_ingestd_backlog", "") == 0
	}, func() string { return p.log() })
	commits := value(mf, "deltaraster_ingestd_commits_total", "")
	for _, c := range []struct {
		name, label string
		ok          func(float64) bool
	}{
		{"deltaraster_ingestd_tiles_total", "", func(v float64) bool { return v == 8 }},
		{"deltaraster_ingestd_bytes_written_total", "", func(v float64) bool { return v > 0 }},
		{"deltaraster_ingestd_commits_total", "", func(v float64) bool { return v >= 2 }},
		{"deltaraster_ingestd_last_version", "", func(v float64) bool { return v == commits-1 }},
		{"deltaraster_ingestd_commit_seconds", "", func(v float64) bool { return v == commits }},
		{"deltaraster_ingestd_batch_seconds", "", func(v float64) bool { return v == commits }},
		{"deltaraster_ingestd_commit_conflicts_total", "", func(v float64) bool { return v == 0 }},
		{"deltaraster_ingestd_checkpoint_seconds", "", func(v float64) bool { return v == 0 }},
		{"deltaraster_ingestd_sources_total", "dead_letter", func(v float64) bool { return v == 0 }},
		{"go_goroutines", "", func(v float64) bool { return v > 0 }},
		{"go_gc_gogc_percent", "", func(v float64) bool { return v > 0 }},
		{"process_resident_memory_bytes", "", func(v float64) bool { return v > 0 }},
	} {
		if v := value(mf, c.name, c.label); !c.ok(v) {
			t.Errorf("%s{%s} = %v", c.name, c.label, v)
		}
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d after SIGINT; log:\n%s", code, p.log())
	}
	checkExactlyOnce(t, table, srcs)
}

// bigScene writes a 3000 x 2000 RGB scene (96 tiles, about 0.2 s to ingest here) made from
// rgb.tif, and returns its bytes.
func bigScene(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	small := drop(t, dir, "rgb.tif", raster(t, "rgb.tif"))
	big := filepath.Join(dir, "big.tif")
	if out, err := exec.Command("gdal_translate", "-q", "-outsize", "3000", "2000", "-co", "TILED=YES", small, big).CombinedOutput(); err != nil {
		t.Fatalf("gdal_translate: %v\n%s", err, out)
	}
	b, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShutdown signals ingestd while a batch of large scenes is being ingested: with the
// default --shutdown-timeout the batch finishes and commits; with a tiny one it is abandoned
// and nothing is committed. Both exit 0.
func TestShutdown(t *testing.T) {
	big := bigScene(t)
	in, table := t.TempDir(), filepath.Join(t.TempDir(), "tiles")
	srcs := []string{drop(t, in, "first.tif", raster(t, "rgb.tif"))}
	tiles := int64(2)
	if code, _, stderr := ingestd(t, "--table", table, "--watch", in, "--once", "--metrics-addr", ""); code != exitOK {
		t.Fatalf("--once: exit %d\n%s", code, stderr)
	}
	version := func() int64 {
		st, err := delta.OpenStore(context.Background(), table)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s, err := delta.Open(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		return s.Version()
	}
	for _, tc := range []struct {
		name    string
		timeout string
		commit  bool
	}{
		{"finish", "30s", true},
		{"abandon", "1ms", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := filepath.Join(in, tc.name)
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			var batch []string
			for i := range 8 {
				batch = append(batch, drop(t, sub, fmt.Sprintf("big%d.tif", i), big))
			}
			before := version()
			p := start(t, "--table", table, "--watch", in, "--poll", "50ms", "--batch-max-wait", "50ms",
				"--metrics-addr", "", "--shutdown-timeout", tc.timeout)
			p.waitLog(t, "ingestd: new work", 60*time.Second)
			time.Sleep(300 * time.Millisecond)
			if code := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d after SIGTERM; log:\n%s", code, p.log())
			}
			log := p.log()
			if !strings.Contains(log, "finishing the batch in flight") {
				t.Fatalf("the signal did not land during a batch; log:\n%s", log)
			}
			if tc.commit {
				if !strings.Contains(log, "ingestd: committed") || strings.Contains(log, "abandoned") || version() != before+1 {
					t.Errorf("the batch in flight did not commit (version %d, was %d); log:\n%s", version(), before, log)
				}
				// The scenes may have come in two listings: the second batch never started.
				held, _ := holdings(t, table)
				for _, p := range batch {
					if held[p] > 0 {
						srcs = append(srcs, p)
						tiles += 96
					} else {
						os.Remove(p)
					}
				}
			} else {
				if !strings.Contains(log, "batch abandoned at shutdown") || strings.Contains(log, "ingestd: committed") || version() != before {
					t.Errorf("the batch in flight was not abandoned (version %d, was %d); log:\n%s", version(), before, log)
				}
				for _, p := range batch {
					os.Remove(p) // not in the table: out of the final check
				}
			}
		})
	}
	checkSources(t, table, srcs, tiles)
}
