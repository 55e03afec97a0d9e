package delta_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
)

// countingProxy is a reverse proxy in front of an object-store server that counts the HTTP
// requests passing through it: what a store really asks of the server.
type countingProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string // "METHOD path?query", in order
}

func newCountingProxy(t testing.TB, s *testservers.Server) *countingProxy {
	t.Helper()
	target, err := url.Parse(s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &countingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The Host header is passed as the client sent it where a signature covers it (S3);
		// fake-gcs-server takes a Host other than its own for a bucket name.
		if s.Scheme == "gs" {
			r.Host = target.Host
		}
		line := r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		p.mu.Lock()
		p.log = append(p.log, line)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingProxy) hostPort() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *countingProxy) reset() {
	p.mu.Lock()
	p.log = nil
	p.mu.Unlock()
}

// requests returns the requests seen since the last reset, and how many of them were listings.
func (p *countingProxy) requests() (all []string, lists int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.log {
		if isListRequest(l) {
			lists++
		}
	}
	return append([]string(nil), p.log...), lists
}

// isListRequest tells a listing from an object request: S3 list-type=2 (or a GET of the
// bucket), GCS GET .../o?..., Azure comp=list.
func isListRequest(l string) bool {
	method, rest, _ := strings.Cut(l, " ")
	path, query, _ := strings.Cut(rest, "?")
	q, _ := url.ParseQuery(query)
	switch {
	case method != http.MethodGet:
		return false
	case q.Has("list-type"), q.Get("comp") == "list":
		return true
	case strings.HasPrefix(path, "/storage/v1/b/") && strings.HasSuffix(path, "/o"):
		return true
	}
	return false
}

// startsPastLog reports whether a listing request starts at the checkpoint: with the
// server's start-after (S3 start-after, GCS startOffset) or, on Azure, with a prefix narrowed
// to the versions of the checkpoint's block (_delta_log/ and 18 digits or fewer).
func startsPastLog(scheme, l string) bool {
	_, rest, _ := strings.Cut(l, " ")
	_, query, _ := strings.Cut(rest, "?")
	q, _ := url.ParseQuery(query)
	switch scheme {
	case "s3":
		return strings.Contains(q.Get("start-after"), delta.LogDir+"0")
	case "gs":
		return strings.Contains(q.Get("startOffset"), delta.LogDir+"0")
	}
	return strings.Contains(q.Get("prefix"), delta.LogDir+"0")
}

// proxiedStore opens the table at tableURL (a URL the server s gave) again, through the proxy.
func proxiedStore(t *testing.T, s *testservers.Server, p *countingProxy, tableURL string) delta.Store {
	t.Helper()
	u := tableURL
	switch s.Scheme {
	case "s3":
		u += "?endpoint=" + url.QueryEscape(p.srv.URL) + "&region=us-east-1&use_path_style=true"
	case "gs":
		t.Setenv("STORAGE_EMULATOR_HOST", p.hostPort())
	case "azblob":
		u += "?protocol=http&domain=" + url.QueryEscape(p.hostPort())
	}
	st, err := delta.OpenStore(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var reqServers = []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite}

// TestInfoRequestsServers counts the HTTP requests of an info (open the latest snapshot,
// stream its file list) on the real servers, for a table with a checkpoint (classic, V2 with
// two sidecars) and 10 commits after it, each with its .crc: one GET of _last_checkpoint, one
// listing from the checkpoint on, one GET of the .crc, one of each commit of the tail and one
// of each checkpoint file: besides the 10 commits, at most 6 requests. Then what `deltactl
// info` does (open, counts from the version's .crc): at most 6 requests in all.
func TestInfoRequestsServers(t *testing.T) {
	for _, srv := range reqServers {
		s := srv(t)
		for _, v2 := range []bool{false, true} {
			name := s.Name + "/classic"
			if v2 {
				name = s.Name + "/v2"
			}
			t.Run(name, func(t *testing.T) {
				tableURL := s.URL(t, "tables/t")
				direct := openStore(t, tableURL)
				defer direct.Close()
				tab := makeReqTable(t, direct, v2, true, 10)
				p := newCountingProxy(t, s)
				st := proxiedStore(t, s, p, tableURL)
				p.reset()
				snap, n := info(t, st)
				if snap.Version() != tab.latest || n != tab.files {
					t.Fatalf("info: version %d, %d files; want %d, %d", snap.Version(), n, tab.latest, tab.files)
				}
				reqs, lists := p.requests()
				tail := int(tab.latest - tab.checkpoint)
				t.Logf("%s: %d HTTP requests (%d listings, %d commit reads, %d others):\n  %s",
					name, len(reqs), lists, tail, len(reqs)-tail, strings.Join(reqs, "\n  "))
				if lists != 1 {
					t.Errorf("%d listing requests, want 1", lists)
				}
				if others := len(reqs) - tail; others > 6 {
					t.Errorf("%d requests besides the %d commits of the tail, want at most 6", others, tail)
				}
				// What `deltactl info` does: the counts from the version's .crc.
				p.reset()
				snap, c := infoCounts(t, st)
				reqs, lists = p.requests()
				t.Logf("%s: info with its counts from the .crc: %d HTTP requests (%d listings):\n  %s",
					name, len(reqs), lists, strings.Join(reqs, "\n  "))
				if snap.Version() != tab.latest || !c.FromChecksum || c.NumFiles != int64(tab.files) ||
					c.NumRecords == nil || *c.NumRecords != int64(10*tab.files) {
					t.Errorf("info: version %d, counts %+v; want %d from the .crc, %d files of 10 rows", snap.Version(), c, tab.latest, tab.files)
				}
				if len(reqs) > 6 || lists != 1 {
					t.Errorf("info: %d requests, %d listings; want at most 6, one listing", len(reqs), lists)
				}
			})
		}
	}
}

// TestOpenListingServers: Open on a log with 20,000 objects before its checkpoint (MinIO, the
// table under a prefix: blob.PrefixedBucket; 3,000 at the bucket's root; 1,500 on
// fake-gcs-server and Azurite, which take puts slowly, and with -short) lists from the
// checkpoint on: with the server's own start-after on S3 (StartAfter) and GCS (startOffset),
// in blocks of versions sharing their leading digits on Azure; at most 2 listing pages of
// 1,000 keys. The log is written straight to the server (fillLog).
func TestOpenListingServers(t *testing.T) {
	for _, srv := range reqServers {
		s := srv(t)
		for _, path := range []string{"tables/t", ""} {
			// fake-gcs-server and Azurite take about 50 puts a second here: they get 1,500
			// objects, and the test checks the listing starts past them.
			name, before := s.Name+"/prefixed", 20000
			if path == "" {
				name, before = s.Name+"/root", 3000
			}
			if s.Scheme != "s3" || testing.Short() {
				before = min(before, 1500)
			}
			t.Run(name, func(t *testing.T) {
				tableURL := s.URL(t, path)
				direct := openStore(t, tableURL)
				defer direct.Close()
				cpVersion := fillLog(t, direct, before, 3)
				p := newCountingProxy(t, s)
				st := proxiedStore(t, s, p, tableURL)
				p.reset()
				snap, err := delta.Open(context.Background(), st)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Version() != cpVersion+3 || snap.Segment().Checkpoint == nil || snap.Segment().Checkpoint.Version != cpVersion {
					t.Fatalf("opened version %d from checkpoint %v; want %d from %d", snap.Version(), snap.Segment().Checkpoint, cpVersion+3, cpVersion)
				}
				reqs, lists := p.requests()
				t.Logf("%s: %d HTTP requests, %d listings:\n  %s", name, len(reqs), lists, strings.Join(reqs, "\n  "))
				if lists > 2 {
					t.Errorf("%d listing requests, want at most 2", lists)
				}
				for _, l := range reqs {
					if isListRequest(l) && !startsPastLog(s.Scheme, l) {
						t.Errorf("a listing that does not start past the log before the checkpoint: %s", l)
					}
				}
			})
		}
	}
}
