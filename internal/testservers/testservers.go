// Package testservers runs the real servers the tests talk to (MinIO for S3, fake-gcs-server for
// GCS, Azurite for Azure blob storage, RabbitMQ and fauxqs (SQS, SNS) for queues) on 127.0.0.1, inside a private
// network namespace that it makes for the test binary, and stops them when the tests end.
//
// A package whose tests need a server calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testservers.Main(m)) }
//
// Main re-runs the test binary under `unshare -n` (`unshare -rn` when not root), brings the
// loopback interface up and turns IPv6 off there, so the fixed ports cannot clash with anything
// on the machine and servers that bind more addresses than asked stay private. Servers start on
// first use (MinIO(t), GCS(t), Azurite(t), RabbitMQ(t), SQS(t)), once per test binary, and the process environment
// points the SDKs at them. When the namespace cannot be made (no unshare, no privilege), the
// tests that need no server still run and every test that asks for one fails saying why.
//
// The server programs are installed by `make servers` into $DELTARASTER_SERVERS (default
// ~/.cache/deltaraster/servers), at the versions of ../shared/SERVERS.md; RabbitMQ is Debian's
// rabbitmq-server, which `make servers` installs with apt when missing; fauxqs and the Node it
// runs on come from npm.
package testservers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envInside marks a test binary already re-run inside its private network namespace.
const envInside = "DELTARASTER_TEST_NETNS"

var (
	// unavailable says why servers cannot run in this process; nil inside the namespace.
	unavailable error
	// root holds the servers' data directories and logs.
	root string
)

// Main runs the tests of a package inside a private network namespace and returns the exit
// code; servers started by the tests are stopped before it returns.
func Main(m *testing.M) int {
	if os.Getenv(envInside) == "" {
		code, err := reexec()
		if err == nil {
			return code
		}
		unavailable = err
		return m.Run()
	}
	if err := setupNamespace(); err != nil {
		unavailable = fmt.Errorf("set up the private network namespace: %w", err)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "deltaraster-servers-")
	if err != nil {
		unavailable = err
		return m.Run()
	}
	root = dir
	for _, s := range servers {
		for _, kv := range s.env {
			k, v, _ := bytes.Cut([]byte(kv), []byte("="))
			os.Setenv(string(k), string(v))
		}
	}
	code := m.Run()
	stopAll()
	os.RemoveAll(root)
	return code
}

// reexec runs this test binary again in a new network namespace and returns its exit code, or
// an error saying why no namespace could be made.
func reexec() (int, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, fmt.Errorf("the object-store tests run their servers in a private network namespace and need unshare(1) (util-linux): %w", err)
	}
	flags := "-n"
	if os.Geteuid() != 0 {
		flags = "-rn" // an unprivileged user namespace, where the kernel allows one
	}
	if out, err := exec.Command(unshare, flags, "true").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("the object-store tests run their servers in a private network namespace, and `unshare %s` failed (%v: %s): run the tests as root, or where unprivileged user namespaces are allowed",
			flags, err, bytes.TrimSpace(out))
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(unshare, append([]string{flags, "--", self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// go test signals the binary on a timeout (SIGQUIT, for the goroutine dump) or on Ctrl-C:
	// pass the signal on to the binary that runs the tests.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the tests in a private network namespace: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code >= 0 {
			return code, nil
		}
		return 2, nil // killed by a signal: already reported on stderr by the runtime, if at all
	}
	if err != nil {
		return 0, fmt.Errorf("run the tests in a private network namespace: %w", err)
	}
	return 0, nil
}

// setupNamespace brings the loopback interface up and turns IPv6 off in the new namespace.
func setupNamespace() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("read the flags of lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	for _, name := range []string{"all", "default", "lo"} {
		p := filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6")
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("turn IPv6 off: %w", err)
		}
	}
	return nil
}

// Dir is where `make servers` installs the server programs.
func Dir() string {
	if d := os.Getenv("DELTARASTER_SERVERS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "deltaraster", "servers")
}

// A Server is one running object-store server.
type Server struct {
	Name   string // "MinIO", "fake-gcs-server" or "Azurite"
	Scheme string // the table URL scheme it serves: "s3", "gs" or "azblob"

	port    int
	env     []string // the client settings, set in the process environment by Main
	command func(dir string) (*exec.Cmd, error)
	ready   func(ctx context.Context) error
	create  func(ctx context.Context, bucket string) error

	// halt, when set, stops the server gracefully before its process group is signalled;
	// after runs once the group is gone (RabbitMQ: rabbitmqctl stop, then epmd -kill).
	halt  func(s *Server)
	after func(s *Server)
	// retry starts the server a second time when the first start fails.
	retry bool

	once   sync.Once
	err    error
	cmd    *exec.Cmd
	dir    string        // its data directory
	exited chan struct{} // closed when the process has exited
	log    string
}

// Endpoint is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// Env is the environment a child process needs to reach the server (already set in this one).
func (s *Server) Env() []string { return append([]string(nil), s.env...) }

var bucketSeq atomic.Int64

// Bucket makes a new empty bucket (container, on Azure) and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("b%04d-%d", bucketSeq.Add(1), time.Now().UnixNano()%1e6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.create(ctx, name); err != nil {
		t.Fatalf("%s: create bucket %s: %v", s.Name, name, err)
	}
	return name
}

// URL makes a new bucket and returns the URL of path inside it, such as s3://b0001-123/path.
func (s *Server) URL(t testing.TB, path string) string {
	t.Helper()
	return s.Scheme + "://" + s.Bucket(t) + "/" + path
}

// start runs the server once per test binary and waits until it answers.
func (s *Server) start(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() {
		if unavailable != nil {
			s.err = unavailable
			return
		}
		s.err = s.run()
		if s.err != nil && s.retry {
			first := s.err
			s.stop()
			s.cmd = nil
			if s.err = s.run(); s.err != nil {
				s.err = fmt.Errorf("%w (and before, %v)", s.err, first)
			}
		}
	})
	if s.err != nil {
		t.Fatalf("cannot start %s: %v", s.Name, s.err)
	}
	return s
}

func (s *Server) run() error {
	dir := s.dir // a restart keeps the data
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(root, s.Scheme+"-"); err != nil {
			return err
		}
		s.dir = dir
	}
	cmd, err := s.command(dir)
	if err != nil {
		return err
	}
	s.log = filepath.Join(dir, "server.log")
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	s.exited = make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(s.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		err := s.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			s.cmd = nil
			return fmt.Errorf("%s exited before it answered (%v); its log:\n%s", s.Name, werr, tail(s.log))
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s within 90 s (%v); its log:\n%s", s.Name, s.Endpoint(), err, tail(s.log))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) stop() {
	if s.after != nil && s.dir != "" {
		defer s.after(s)
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if s.halt != nil {
		s.halt(s)
	}
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

func stopAll() {
	for _, s := range servers {
		s.stop()
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// program returns the path of an installed server program, or an error saying how to install it.
func program(rel string) (string, error) {
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed (run `make servers`, which installs the test servers into %s): %w", filepath.Base(rel), Dir(), err)
	}
	return p, nil
}

// answers reports whether an HTTP GET of url gets any answer with one of the wanted codes.
func answers(ctx context.Context, url string, ok ...int) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("GET %s: %s", url, resp.Status)
}
