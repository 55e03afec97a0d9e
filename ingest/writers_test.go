package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deltaraster/deltaraster/delta"
)

// childEnv makes the test binary a child writer (see TestManyWriters): it ingests
// $DELTARASTER_CHILD_SOURCE (sources, one a line) into the table $DELTARASTER_CHILD_TABLE with
// the app id $DELTARASTER_CHILD_APPID (the default when empty) and exits.
const childEnv = "DELTARASTER_INGEST_CHILD"

func childMain() int {
	ctx := context.Background()
	s, err := openChildStore(ctx, os.Getenv("DELTARASTER_CHILD_TABLE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	o := quietOpts()
	o.AppID = os.Getenv("DELTARASTER_CHILD_APPID")
	sum, err := Ingest(ctx, s, strings.Split(os.Getenv("DELTARASTER_CHILD_SOURCE"), "\n"), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child ingest:", err)
		return 1
	}
	fmt.Printf("version=%d created=%v tiles=%d attempts=%d\n", sum.Version, sum.TableCreated, sum.Tiles, sum.CommitAttempts)
	return 0
}

func openChildStore(ctx context.Context, url string) (delta.Store, error) {
	return delta.OpenStore(ctx, url)
}

// TestManyWriters runs 4 OS processes (this test binary, re-executed) that each ingest a
// different source into one table that does not exist yet: one creates it, the others append
// after delta.ErrTableExists, and every tile lands exactly once.
func TestManyWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	table := filepath.Join(dir, "table")
	const writers = 4
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	var srcs []string
	for i := 0; i < writers; i++ {
		src := copyFile(t, td("rgb.tif"), dir, fmt.Sprintf("w%d.tif", i))
		srcs = append(srcs, src)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "DELTARASTER_CHILD_TABLE="+table, "DELTARASTER_CHILD_SOURCE="+src)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	created := 0
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i])
		}
		if strings.Contains(outs[i].String(), "created=true") {
			created++
		}
		t.Logf("writer %d: %s", i, strings.TrimSpace(outs[i].String()))
	}
	if created != 1 {
		t.Fatalf("%d writers created the table, want 1", created)
	}
	s := openStore(t, table)
	n, versions := countTiles(readTiles(t, s))
	if len(n) != writers*2 || len(versions) != writers {
		t.Fatalf("%d tile slots of %d sources, want %d of %d", len(n), len(versions), writers*2, writers)
	}
	for k, c := range n {
		if c != 1 {
			t.Fatalf("tile %v appears %d times", k, c)
		}
	}
	hist, err := delta.History(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != writers {
		t.Fatalf("%d commits, want %d (one per writer, the first creating the table)", len(hist), writers)
	}
	snap, err := delta.Open(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := snap.AppTransactionVersion(ctx, DefaultAppID); err != nil || v != writers-1 {
		t.Fatalf("app transaction version %d, %v; want %d", v, err, writers-1)
	}
	for _, src := range srcs {
		out := src + ".out.tif"
		if err := Export(ctx, s, ExportOptions{Source: src, Out: out}); err != nil {
			t.Fatal(err)
		}
		assertSameRaster(t, src, 0, out)
	}
}

// TestWritersDifferentAppIDs runs 2 and then 4 OS processes with different app ids, 20 rounds
// each, on one table: every round each process ingests the round's shared source (in a shuffled
// place among its sources) and one source of its own, all at once. Every source lands exactly
// once: the app transactions do not stop two writers from adding one source, the read
// predicate does (a writer that loses re-plans, commits its own source and reports the shared
// one as already there). Before the predicate, the shared source landed twice in most rounds.
func TestWritersDifferentAppIDs(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for _, writers := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d writers", writers), func(t *testing.T) {
			dir := t.TempDir()
			table := filepath.Join(dir, "table")
			s := openStore(t, table)
			var all []string
			for r := range rounds {
				shared := copyFile(t, td("rgb.tif"), dir, fmt.Sprintf("r%02d-shared.tif", r))
				all = append(all, shared)
				var cmds []*exec.Cmd
				var outs []*bytes.Buffer
				for w := range writers {
					own := copyFile(t, td("rgb.tif"), dir, fmt.Sprintf("r%02d-w%d.tif", r, w))
					all = append(all, own)
					srcs := []string{shared, own}
					if (r+w)%2 == 1 {
						srcs[0], srcs[1] = own, shared
					}
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), childEnv+"=1", "DELTARASTER_CHILD_TABLE="+table,
						"DELTARASTER_CHILD_SOURCE="+strings.Join(srcs, "\n"), fmt.Sprintf("DELTARASTER_CHILD_APPID=app-%d", w))
					var out bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &out
					cmds, outs = append(cmds, cmd), append(outs, &out)
				}
				for _, c := range cmds {
					if err := c.Start(); err != nil {
						t.Fatal(err)
					}
				}
				for i, c := range cmds {
					if err := c.Wait(); err != nil {
						t.Fatalf("round %d, writer %d: %v\n%s", r, i, err, outs[i])
					}
				}
				n, versions := countTiles(readTiles(t, s))
				for k, c := range n {
					if c != 1 {
						t.Fatalf("round %d: tile %v appears %d times", r, k, c)
					}
				}
				for _, src := range all {
					if len(versions[src]) != 1 {
						t.Fatalf("round %d: source %s has versions %v in the table, want one", r, src, versions[src])
					}
				}
				if len(versions) != len(all) {
					t.Fatalf("round %d: %d sources in the table, want %d", r, len(versions), len(all))
				}
			}
		})
	}
}
