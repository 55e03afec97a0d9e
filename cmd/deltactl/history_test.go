package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHistoryJSON(t *testing.T) {
	dir, _ := newTable(t)
	entries := decodeLines(t, mustRun(t, "history", dir, "--json"))
	wantOps := []string{"DELETE", "WRITE", "WRITE", "CREATE TABLE"}
	if len(entries) != len(wantOps) {
		t.Fatalf("%d entries, want %d", len(entries), len(wantOps))
	}
	for i, e := range entries {
		v := int64(len(wantOps) - 1 - i)
		if e["version"] != json.Number(itoa(int(v))) {
			t.Errorf("entry %d: version %v, want %d", i, e["version"], v)
		}
		if e["operation"] != wantOps[i] {
			t.Errorf("version %d: operation %v, want %s", v, e["operation"], wantOps[i])
		}
		if want := json.Number(itoa(int(commitTime(v).UnixMilli()))); e["timestamp"] != want {
			t.Errorf("version %d: timestamp %v, want %v", v, e["timestamp"], want)
		}
		ci, _ := e["commitInfo"].(map[string]any)
		if ci["operation"] != wantOps[i] || !equalJSON(ci["operationParameters"], e["operationParameters"]) {
			t.Errorf("version %d: commitInfo %v does not match the entry %v", v, ci, e)
		}
	}
	if got := entries[1]["operationParameters"]; !equalJSON(got, map[string]any{"mode": "Append"}) {
		t.Errorf("version 2 operationParameters = %v", got)
	}

	limited := decodeLines(t, mustRun(t, "history", dir, "--json", "--limit", "2"))
	if len(limited) != 2 || limited[0]["version"] != json.Number("3") || limited[1]["version"] != json.Number("2") {
		t.Errorf("--limit 2: %v", limited)
	}
}

func TestHistoryHuman(t *testing.T) {
	dir, _ := newTable(t)
	out := mustRun(t, "history", dir)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("history output:\n%s", out)
	}
	for i, want := range []string{
		"VERSION  TIME                  OPERATION     PARAMETERS                           METRICS",
		"3        2024-03-04T12:00:00Z  DELETE        predicate=[\"day = '2024-01-01'\"]",
		"2        2024-03-03T12:00:00Z  WRITE         mode=Append                          numFiles=1",
		"1        2024-03-02T12:00:00Z  WRITE         mode=Append                          numFiles=2",
		"0        2024-03-01T12:00:00Z  CREATE TABLE  isManaged=false partitionBy=[\"day\"]",
	} {
		if got := strings.TrimRight(lines[i], " "); got != want {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want)
		}
	}
}
