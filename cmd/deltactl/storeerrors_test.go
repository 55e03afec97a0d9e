package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/testservers"
	"github.com/deltaraster/deltaraster/internal/testutil"
)

// deltactlProcess runs deltactl as a process of its own (the test binary, running run with
// the real standard output and error: see childArgs), so that what anything in the process
// prints on the real standard output is seen. env is added to this process's environment,
// and an entry "K=" empties K.
func deltactlProcess(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := childCommand(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// childCommand is the command that runs deltactl with args in a process of its own.
func childCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\n"))
	return cmd
}

// oneLine checks that a failed run printed nothing on stdout and exactly one line on stderr
// holding every one of want.
func oneLine(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d", r.code, exitFailure)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line:\n%s", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not contain %q", r.stderr, w)
		}
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// An endpoint nothing listens on fails within --timeout, in one line that names the URL, the
// endpoint and what to set. (The GCS client retried a refused connection for ever: a command
// hung 500 s in silence.)
func TestStoreUnreachableOneLine(t *testing.T) {
	testservers.MinIO(t) // the namespace and the SDK environment
	addr := closedPort(t)
	cases := []struct {
		scheme, env, hint string
	}{
		{"s3", "AWS_ENDPOINT_URL=http://" + addr, "AWS_ENDPOINT_URL"},
		{"gs", "STORAGE_EMULATOR_HOST=" + addr, "STORAGE_EMULATOR_HOST"},
		{"azblob", "AZURE_STORAGE_DOMAIN=" + addr, "AZURE_STORAGE_DOMAIN"},
	}
	for _, tc := range cases {
		t.Run(tc.scheme, func(t *testing.T) {
			k, v, _ := strings.Cut(tc.env, "=")
			t.Setenv(k, v)
			url := tc.scheme + "://bucket/t"
			start := time.Now()
			r := deltactl(t, "--timeout", "3s", "info", url)
			took := time.Since(start)
			t.Logf("%s: %s", took.Round(time.Millisecond), r.stderr)
			oneLine(t, r, url+": cannot reach http://"+addr, tc.hint)
			if took > 4*time.Second {
				t.Errorf("info took %s, want it to fail within the 3s --timeout (and a little)", took)
			}
		})
	}
}

// A missing bucket, refused credentials and a missing region each give one line naming the
// URL and what to set; create adds --create-bucket to what a missing bucket tells to do.
func TestStoreErrorsOneLine(t *testing.T) {
	minio, azurite := testservers.MinIO(t), testservers.Azurite(t)
	testservers.GCS(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"info s3 no bucket", nil, []string{"info", "s3://no-such-bucket/t"},
			[]string{"s3://no-such-bucket/t: bucket no-such-bucket does not exist: create it\n"}},
		{"info gs no bucket", nil, []string{"info", "gs://no-such-bucket/t"},
			[]string{"gs://no-such-bucket/t: bucket no-such-bucket does not exist: create it\n"}},
		{"create azblob no container", nil, []string{"create", "azblob://no-such-container/t", "--schema", "a:long"},
			[]string{"azblob://no-such-container/t: container no-such-container does not exist: create it or pass --create-bucket"}},
		{"create s3 no bucket", nil, []string{"create", "s3://no-such-bucket/t", "--schema", "a:long"},
			[]string{"s3://no-such-bucket/t: bucket no-such-bucket does not exist: create it or pass --create-bucket"}},
		{"info s3 wrong secret", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong"}, []string{"info", "s3://" + minio.Bucket(t) + "/t"},
			[]string{"access denied (SignatureDoesNotMatch): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"}},
		{"info azblob wrong key", map[string]string{"AZURE_STORAGE_KEY": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="},
			[]string{"info", "azblob://" + azurite.Bucket(t) + "/t"},
			[]string{"access denied (AuthorizationFailure): check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY"}},
		{"info s3 no region", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"},
			[]string{"info", "s3://b/t"}, []string{"s3://b/t: no region: set AWS_REGION or add ?region= to the URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := deltactl(t, tc.args...)
			t.Log(r.stderr)
			oneLine(t, r, tc.want...)
		})
	}
}

// --create-bucket on create and ingest makes the table's bucket when it is missing.
func TestCreateBucketFlag(t *testing.T) {
	for _, srv := range []func(testing.TB) *testservers.Server{testservers.MinIO, testservers.GCS, testservers.Azurite} {
		s := srv(t)
		t.Run(s.Name, func(t *testing.T) {
			seq := time.Now().UnixNano() % 1e9
			table := fmt.Sprintf("%s://create-%d/tables/t", s.Scheme, seq)
			mustRun(t, "create", table, "--schema", "a:long", "--create-bucket")
			info := decodeObject(t, mustRun(t, "info", table, "--json"))
			if v := fmt.Sprint(info["version"]); v != "0" {
				t.Errorf("info version = %s, want 0", v)
			}
			// ingest into a table in a bucket that does not exist yet.
			raster := fmt.Sprintf("%s://ingest-%d/tiles", s.Scheme, seq)
			r := deltactl(t, "ingest", raster, testRaster(t, "rgb.tif"))
			oneLine(t, r, raster+": ", "does not exist: create it or pass --create-bucket")
			out := decodeObject(t, mustRun(t, "ingest", raster, testRaster(t, "rgb.tif"), "--create-bucket", "--json"))
			if out["committed"] != true {
				t.Errorf("ingest --create-bucket: committed = %v, want true", out["committed"])
			}
		})
	}
}

// Standard output holds deltactl's output and nothing else. Without GCS credentials gocloud's
// GCS opener printed a warning there (without a newline), before any --json output.
func TestStdoutOnlyOurs(t *testing.T) {
	gcs := testservers.GCS(t)
	table := gcs.URL(t, "t")
	mustRun(t, "create", table, "--schema", "a:long")
	r := deltactlProcess(t, nil, "info", table, "--json")
	if r.code != 0 {
		t.Fatalf("info: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Errorf("stdout of info --json is not one JSON object (%v):\n%s", err, r.stdout)
	}
	// No emulator, no credentials: one line on stderr, nothing on stdout.
	noCreds := []string{"STORAGE_EMULATOR_HOST=", "GOOGLE_APPLICATION_CREDENTIALS=", "HOME=" + t.TempDir(), "CLOUDSDK_CONFIG=" + t.TempDir()}
	r = deltactlProcess(t, noCreds, "info", "gs://b/t", "--json")
	t.Log(r.stderr)
	oneLine(t, r, "gs://b/t: no Google credentials")
}

// Ctrl-C during an ingest into Azure: deltactl stops with an error, never a panic. (gocloud
// v0.47's azblob Writer panicked in Close when its streamed upload was cancelled: 4 crashes in
// 13 tries.) The interrupt comes at several points of the ingest.
func TestIngestInterruptedAzure(t *testing.T) {
	azurite := testservers.Azurite(t)
	src := t.TempDir() + "/big.tif"
	testutil.GDALTool(t, "gdal_create", "-q", "-of", "GTiff", "-outsize", "3000", "3000", "-bands", "3", "-ot", "Byte",
		"-burn", "7", "-burn", "70", "-burn", "170", "-a_srs", "EPSG:32631",
		"-a_ullr", "500000", "4650000", "530000", "4620000", src)
	interrupted := 0
	for _, after := range []time.Duration{300 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond} {
		table := azurite.URL(t, "tiles")
		cmd := childCommand(t, "ingest", table, src, "--target-file-size", "256KiB", "--levels", "0")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
				// On a loaded machine the interrupt can come before deltactl handles it.
				t.Logf("interrupt after %s: came before deltactl started", after)
				continue
			}
		}
		t.Logf("interrupt after %s: exit %d: %s", after, code, firstLine(errb.String()))
		if strings.Contains(errb.String(), "panic") || (code != exitOK && code != exitFailure) {
			t.Errorf("interrupt after %s: exit %d, stderr:\n%s", after, code, errb.String())
		}
		if code == exitFailure {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Errorf("no ingest was interrupted before it finished: the test did not test anything")
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// A store error is printed alone, unless the command's own message says that something was
// committed, or may have been: that must not be lost.
func TestStoreErrorLine(t *testing.T) {
	se := &delta.StoreError{URL: "s3://b/t", Kind: delta.ErrUnreachable, Detail: "cannot reach http://127.0.0.1:9 (connection refused)",
		Hint: "check AWS_ENDPOINT_URL or ?endpoint= in the URL, and the network"}
	line := se.Error()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"wrapped", fmt.Errorf("read table s3://b/t: list _delta_log/: %w", se), line},
		{"committed", fmt.Errorf("ingest into s3://b/t committed version 3, then: %w", se),
			"ingest into s3://b/t committed version 3, then: " + line},
		{"outcome unknown", fmt.Errorf("commit version 4: %w", errors.Join(delta.ErrCommitUnknown, se)),
			"commit version 4: " + delta.ErrCommitUnknown.Error() + "; " + line},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storeErrorLine(tc.err, se); got != tc.want {
				t.Errorf("storeErrorLine = %q, want %q", got, tc.want)
			}
		})
	}
}
