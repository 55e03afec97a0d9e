package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

// TestSubscribeCrashLoop kills ingestd --subscribe rabbit:// replicas with SIGKILL at random
// moments, 30 times, while scenes keep arriving in MinIO and MinIO keeps notifying RabbitMQ:
// two replicas (different app ids, checkpoints every 5 versions) run all along, and each one
// killed is started again at once. A killed replica's unacked messages go back to the queue
// when RabbitMQ sees its connection close, and the other replica (or its successor) takes
// them. Afterwards every scene is in the table exactly once and reads back pixel for pixel,
// every version of the table reads (each opened and its files listed), and no notification of
// a scene is left unacked.
func TestSubscribeCrashLoop(t *testing.T) {
	const kills, maxScenes = 30, 80
	p := newPipeline(t)
	local := distinctScenes(t, maxScenes)
	args := func(app string) []string { return p.args(app, "--checkpoint-interval", "5") }
	apps := []string{"crash-a", "crash-b"}
	var mu sync.Mutex // guards replicas and past
	replicas := []*proc{start(t, args(apps[0])...), start(t, args(apps[1])...)}
	var past []*proc // killed replicas, for their logs
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for i, r := range replicas {
			fmt.Fprintf(&b, "replica %s (running):\n%s\n", apps[i], r.log())
		}
		if n := len(past); n > 0 {
			fmt.Fprintf(&b, "last killed replica:\n%s\n", past[n-1].log())
		}
		return b.String()
	}
	p.waitConsumers(t, 2, logs)

	// The feeder puts a scene every 150 to 550 ms until the kills are done (or the scenes run out).
	scenes := map[string]string{}
	var ids []string
	stopFeed := make(chan struct{})
	fed := make(chan error, 1)
	go func() {
		defer close(fed)
		for i, path := range local {
			select {
			case <-stopFeed:
				return
			case <-time.After(time.Duration(150+rand.IntN(400)) * time.Millisecond):
			}
			key := fmt.Sprintf("scenes/s%03d.tif", i)
			if err := p.put(t, key, path); err != nil {
				fed <- err
				return
			}
			mu.Lock()
			scenes[p.id(key)] = path
			ids = append(ids, p.id(key))
			mu.Unlock()
		}
	}()

	start0 := time.Now()
	signalled := 0
	for k := range kills {
		i := rand.IntN(2)
		time.Sleep(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
		mu.Lock()
		r := replicas[i]
		mu.Unlock()
		r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
		if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			signalled++
		} else {
			t.Errorf("kill %d: replica %s had exited by itself (%v); log:\n%s", k, apps[i], r.err, r.log())
		}
		mu.Lock()
		past = append(past, r)
		replicas[i] = start(t, args(apps[i])...)
		mu.Unlock()
	}
	close(stopFeed)
	if err := <-fed; err != nil {
		t.Fatalf("put a scene: %v", err)
	}
	mu.Lock()
	n := len(ids)
	mu.Unlock()
	t.Logf("%d kills by SIGKILL in %v while %d scenes arrived", signalled, time.Since(start0).Round(time.Millisecond), n)
	if n < 20 {
		t.Errorf("only %d scenes arrived during the kills", n)
	}

	waitFor(t, 180*time.Second, func() bool { f, _ := holdings(t, p.table); return len(f) >= n }, logs)
	commits, killedCommits, inFlight := 0, 0, 0
	for _, r := range past {
		l := r.log()
		killedCommits += strings.Count(l, "ingestd: committed")
		if strings.LastIndex(l, "ingestd: new work") > strings.LastIndex(l, "ingestd: committed") {
			inFlight++ // killed with messages taken and not all committed
		}
	}
	for i, r := range replicas {
		if code := r.stop(t, syscall.SIGTERM); code != exitOK {
			t.Errorf("replica %s: exit %d after SIGTERM; log:\n%s", apps[i], code, r.log())
		}
		commits += strings.Count(r.log(), "ingestd: committed")
	}
	t.Logf("%d commits by killed replicas, %d by the last two; %d replicas killed with work taken and not committed",
		killedCommits, commits, inFlight)
	if inFlight == 0 {
		t.Error("no replica was killed with work in flight")
	}
	ctx := context.Background()
	st, err := delta.OpenStore(ctx, p.table)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkpoints := 0
	for o, err := range st.List(ctx, "_delta_log/", "") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(o.Key, ".checkpoint.") {
			checkpoints++
		}
	}
	t.Logf("%d checkpoint files in the log", checkpoints)
	p.checkAcked(t)
	checkExactlyOnce(t, p.table, ids)
	p.checkPixels(t, scenes)
}
