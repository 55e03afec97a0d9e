package delta_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deltaraster/deltaraster/delta"
)

func TestParseInterval(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"interval 1 week", 7 * day},
		{"7 days", 7 * day},
		{"interval 2 hours 30 minutes", 2*time.Hour + 30*time.Minute},
		{"1 WEEK", 7 * day},
		{"INTERVAL 30 DAYS", 30 * day},
		{"  interval   1   day  ", day},
		{"1 day", day},
		{"interval 0 seconds", 0},
		{"interval 1 hour", time.Hour},
		{"interval 90 seconds", 90 * time.Second},
		{"interval 500 milliseconds", 500 * time.Millisecond},
		{"interval 3 microseconds 4 nanoseconds", 3*time.Microsecond + 4*time.Nanosecond},
		{"interval 1 week 1 day", 8 * day},
		{"interval 2 weeks", 14 * day},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := delta.ParseInterval(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseInterval(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseIntervalRefused(t *testing.T) {
	for _, in := range []string{
		"interval 1 month",
		"1 months",
		"interval 2 years",
		"1 year",
		"interval 1 week 1 month",
		"",
		"interval",
		"week",
		"1",
		"one week",
		"1.5 days",
		"1 fortnight",
		"interval 1 week garbage",
		"1 weekly",
		"-1 day",
		"interval -7 days",
		"interval 1 day -1 hour",
		"interval 1 day interval 1 day",
		"9223372036854775807 weeks",
		"interval 106752 days", // just past the largest time.Duration
		"interval 100000 days 100000 days",
		"1e3 days",
		"0x10 days",
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := delta.ParseInterval(in); err == nil {
				t.Fatalf("ParseInterval(%q) = %v, want an error", in, got)
			}
		})
	}
}

func TestMetadataProperties(t *testing.T) {
	const day = 24 * time.Hour
	m := func(kv ...string) delta.Metadata {
		c := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return delta.Metadata{Configuration: c}
	}
	t.Run("defaults", func(t *testing.T) {
		md := m()
		if n := md.CheckpointInterval(); n != 100 {
			t.Errorf("checkpoint interval %d, want 100", n)
		}
		if d, err := md.DeletedFileRetention(); err != nil || d != 7*day {
			t.Errorf("deleted file retention %v, %v; want 1 week", d, err)
		}
		if d, err := md.LogRetention(); err != nil || d != 30*day {
			t.Errorf("log retention %v, %v; want 30 days", d, err)
		}
		if d, ok, err := md.SetTransactionRetention(); err != nil || ok || d != 0 {
			t.Errorf("set transaction retention %v, %v, %v; want unset", d, ok, err)
		}
	})
	t.Run("set", func(t *testing.T) {
		md := m(delta.PropCheckpointInterval, "10", delta.PropDeletedFileRetention, "interval 2 days",
			delta.PropLogRetention, "interval 3 days", delta.PropSetTransactionRetention, "interval 4 hours")
		if n := md.CheckpointInterval(); n != 10 {
			t.Errorf("checkpoint interval %d, want 10", n)
		}
		if d, err := md.DeletedFileRetention(); err != nil || d != 2*day {
			t.Errorf("deleted file retention %v, %v; want 2 days", d, err)
		}
		if d, err := md.LogRetention(); err != nil || d != 3*day {
			t.Errorf("log retention %v, %v; want 3 days", d, err)
		}
		if d, ok, err := md.SetTransactionRetention(); err != nil || !ok || d != 4*time.Hour {
			t.Errorf("set transaction retention %v, %v, %v; want 4h", d, ok, err)
		}
	})
	t.Run("bad", func(t *testing.T) {
		for _, v := range []string{"0", "-5", "ten"} {
			if n := m(delta.PropCheckpointInterval, v).CheckpointInterval(); n != 100 {
				t.Errorf("checkpoint interval %q read as %d, want the default 100", v, n)
			}
		}
		md := m(delta.PropDeletedFileRetention, "1 month", delta.PropLogRetention, "soon",
			delta.PropSetTransactionRetention, "1 fortnight")
		checks := map[string]func() error{
			delta.PropDeletedFileRetention:    func() error { _, err := md.DeletedFileRetention(); return err },
			delta.PropLogRetention:            func() error { _, err := md.LogRetention(); return err },
			delta.PropSetTransactionRetention: func() error { _, _, err := md.SetTransactionRetention(); return err },
		}
		for key, f := range checks {
			err := f()
			if err == nil || !strings.Contains(err.Error(), "table property "+key+": ") {
				t.Errorf("%s: error %v, want one naming the property", key, err)
			}
		}
	})
}

// A table's retention properties, read with Delta's defaults for those it does not set.
func ExampleMetadata_DeletedFileRetention() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "delta-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := delta.OpenStore(ctx, filepath.Join(dir, "tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	spec := delta.TableSpec{
		Schema:        delta.StructType{Fields: []delta.StructField{delta.NewField("source", "string")}},
		Configuration: map[string]string{delta.PropDeletedFileRetention: "interval 2 days"},
	}
	if _, err := delta.CreateTable(ctx, st, spec, delta.TxnOptions{}); err != nil {
		log.Fatal(err)
	}
	snap, err := delta.Open(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	files, err := snap.Metadata().DeletedFileRetention()
	if err != nil {
		log.Fatal(err)
	}
	logs, err := snap.Metadata().LogRetention()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed files kept", files, "- log kept", logs, "- checkpoint every", snap.CheckpointInterval(), "commits")
	// Output:
	// removed files kept 48h0m0s - log kept 720h0m0s - checkpoint every 100 commits
}
