package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFilesJSON(t *testing.T) {
	dir, _ := newTable(t)
	tests := []struct {
		args  []string
		paths []string
	}{
		{nil, []string{pathB, pathC}},
		{[]string{"--version", "0"}, nil},
		{[]string{"--version", "1"}, []string{pathA, pathB}},
		{[]string{"--version", "2"}, []string{pathA, pathB, pathC}},
		{[]string{"--timestamp", "2024-03-04"}, []string{pathA, pathB, pathC}}, // v2
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "="), func(t *testing.T) {
			out := mustRun(t, append([]string{"files", dir, "--json"}, tt.args...)...)
			byPath := map[string]map[string]any{}
			for _, f := range decodeLines(t, out) {
				byPath[f["path"].(string)] = f
			}
			if len(byPath) != len(tt.paths) {
				t.Fatalf("files %v, want %v", keys(byPath), tt.paths)
			}
			for _, p := range tt.paths {
				if byPath[p] == nil {
					t.Fatalf("files %v, want %v", keys(byPath), tt.paths)
				}
			}
		})
	}

	out := mustRun(t, "files", dir, "--json")
	byPath := map[string]map[string]any{}
	for _, f := range decodeLines(t, out) {
		byPath[f["path"].(string)] = f
	}
	b, c := byPath[pathB], byPath[pathC]
	if b["size"] != json.Number("200") || b["modificationTime"] != json.Number("2000") || b["stats"] != `{"numRecords":20}` {
		t.Errorf("file b = %v", b)
	}
	pv, ok := b["partitionValues"].(map[string]any)
	if v, present := pv["day"]; !ok || !present || v != nil {
		t.Errorf("file b partitionValues = %v, want {\"day\":null}", b["partitionValues"])
	}
	if !strings.Contains(out, `"partitionValues":{"day":null}`) {
		t.Errorf("null partition value not written as JSON null:\n%s", out)
	}
	if c["size"] != json.Number("300") || !equalJSON(c["partitionValues"], map[string]any{"day": "2024-01-02"}) {
		t.Errorf("file c = %v", c)
	}
	if _, ok := c["deletionVector"]; ok {
		t.Errorf("file c has a deletionVector: %v", c)
	}
}

func TestFilesHuman(t *testing.T) {
	dir, _ := newTable(t)
	out := mustRun(t, "files", dir, "--version", "1")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "SIZE") || !strings.Contains(lines[0], "PATH") {
		t.Fatalf("files output:\n%s", out)
	}
	want := map[string]string{
		pathA: "         100  1970-01-01T00:00:01.000Z  " + pathA,
		pathB: "         200  1970-01-01T00:00:02.000Z  " + pathB,
	}
	for _, l := range lines[1:] {
		p := l[strings.LastIndex(l, " ")+1:]
		if want[p] != l {
			t.Errorf("line %q, want %q", l, want[p])
		}
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
