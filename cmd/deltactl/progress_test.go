package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the master end to read what is written to the slave end.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	return m, s
}

// onTerminal runs deltactl in a process of its own whose standard error is a terminal, and
// returns its standard output and what the terminal got.
func onTerminal(t *testing.T, args ...string) (stdout, term string) {
	t.Helper()
	master, slave := openPTY(t)
	read := make(chan string)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, master) // until EIO: the slave is closed
		read <- b.String()
	}()
	cmd := childCommand(t, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, slave
	err := cmd.Run()
	slave.Close()
	term = <-read
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("deltactl %s: exit %d, terminal:\n%s", strings.Join(args, " "), ee.ExitCode(), term)
	} else if err != nil {
		t.Fatal(err)
	}
	// The terminal writes a newline as \r\n.
	return out.String(), strings.ReplaceAll(term, "\r\n", "\n")
}

// TestProgressOnTerminal: on a terminal, ingest draws the bytes of the tiles from its first
// tile on (no data file is finished then) and export its tiles and the COG translation, each
// bar ending with a one-line summary; with --json, nothing is drawn.
func TestProgressOnTerminal(t *testing.T) {
	src := testRaster(t, "rgb.tif") // 300x200: 6 tiles of 128 at level 0, 2 at level 1
	table := filepath.Join(t.TempDir(), "tiles")
	out, term := onTerminal(t, "ingest", table, src, "--tile-size", "128")
	if !strings.HasPrefix(out, "added ") || strings.Contains(out, "\033") {
		t.Errorf("ingest's standard output:\n%q", out)
	}
	first := regexp.MustCompile(`\033\[Kingest [^:]*rgb\.tif: level 0, tile 1/\d+; ([1-9][0-9.]* KiB) of tiles, 0 bytes encoded; 0 files \(0 bytes\) written`)
	if !first.MatchString(term) {
		t.Errorf("ingest drew no tile bytes at its first tile, before any file was written:\n%q", term)
	}
	summary := regexp.MustCompile(`\r\033\[Kingest: \d+ tiles read from 1 source; [0-9.]+ KiB of tiles encoded into 1 file \([0-9.]+ KiB\); done in [0-9.]+m?s\n$`)
	if !summary.MatchString(term) {
		t.Errorf("ingest's bar does not end with its summary line:\n%q", term)
	}

	cog := filepath.Join(t.TempDir(), "out.tif")
	out, term = onTerminal(t, "export", table, "--source", src, "--out", cog, "--format", "COG")
	if !strings.HasPrefix(out, "exported ") {
		t.Errorf("export's standard output:\n%q", out)
	}
	for _, want := range []string{
		"\033[Kexport " + src + " level 0: 0 tiles written",
		"\033[Kexport " + src + " level 0: 6 tiles written; translating to COG...",
	} {
		if !strings.Contains(term, want) {
			t.Errorf("export drew no %q:\n%q", want, term)
		}
	}
	if !regexp.MustCompile(`\r\033\[Kexport \S+ level 0: 6 tiles written, translated to COG in [0-9.]+m?s; done in [0-9.]+m?s\n$`).MatchString(term) {
		t.Errorf("export's bar does not end with its summary line:\n%q", term)
	}

	for _, args := range [][]string{
		{"ingest", filepath.Join(t.TempDir(), "tiles"), src, "--json"},
		{"export", table, "--source", src, "--out", cog, "--format", "COG", "--json"},
	} {
		out, term := onTerminal(t, args...)
		if term != "" || !strings.HasPrefix(out, "{") {
			t.Errorf("%s --json: drew %q on the terminal; standard output %q", args[0], term, out)
		}
	}
}
