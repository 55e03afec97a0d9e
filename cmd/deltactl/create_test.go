package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiles")
	out := mustRun(t, "create", "file://"+dir,
		"--schema", "source:string, level:integer, amount:decimal(10,2), day:date, ts:timestamp_ntz",
		"--partition-by", "day,level",
		"--property", "delta.checkpointInterval=50", "--property", "note=a=b,c",
		"--name", "tiles", "--description", "raster tiles", "--json")
	created := decodeObject(t, out)
	if created["version"] != json.Number("0") || created["url"] != "file://"+dir || created["id"] == "" {
		t.Fatalf("create --json = %v", created)
	}

	info := decodeObject(t, mustRun(t, "info", dir, "--json"))
	md := info["metadata"].(map[string]any)
	if md["id"] != created["id"] || md["name"] != "tiles" || md["description"] != "raster tiles" {
		t.Errorf("metadata = %v", md)
	}
	if got := md["partitionColumns"]; !equalJSON(got, []any{"day", "level"}) {
		t.Errorf("partitionColumns = %v", got)
	}
	if got := md["configuration"]; !equalJSON(got, map[string]any{"delta.checkpointInterval": "50", "note": "a=b,c"}) {
		t.Errorf("configuration = %v", got)
	}
	var types []string
	for _, f := range md["schema"].(map[string]any)["fields"].([]any) {
		f := f.(map[string]any)
		types = append(types, f["name"].(string)+":"+f["type"].(string))
	}
	if got, want := strings.Join(types, ","), "source:string,level:integer,amount:decimal(10,2),day:date,ts:timestamp_ntz"; got != want {
		t.Errorf("schema = %s, want %s", got, want)
	}
	p := info["protocol"].(map[string]any)
	if p["minReaderVersion"] != json.Number("1") || p["minWriterVersion"] != json.Number("2") {
		t.Errorf("protocol = %v, want 1/2", p)
	}
	if md["createdTime"] == nil {
		t.Error("createdTime is null")
	}

	// Human output names the version and the id.
	other := filepath.Join(t.TempDir(), "other")
	out = mustRun(t, "create", other, "--schema", "a:long")
	if !strings.Contains(out, "version: 0") || !strings.Contains(out, "id:") {
		t.Errorf("create output:\n%s", out)
	}

	// A second create fails, naming the URL, and leaves the table alone.
	r := deltactl(t, "create", dir, "--schema", "x:string")
	if r.code != exitFailure || !strings.Contains(r.stderr, dir) || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second create: exit %d, stderr %q", r.code, r.stderr)
	}
	if again := decodeObject(t, mustRun(t, "info", dir, "--json")); again["metadata"].(map[string]any)["id"] != created["id"] {
		t.Error("second create changed the table")
	}
}

func TestCreateMem(t *testing.T) {
	url := "mem://deltactl-test/" + t.Name()
	mustRun(t, "create", url, "--schema", "a:long")
	info := decodeObject(t, mustRun(t, "info", url, "--json"))
	if info["version"] != json.Number("0") || info["url"] != url {
		t.Errorf("info = %v", info)
	}
}

func TestCreateUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown type", []string{"--schema", "a:varchar2"}, `unknown type "varchar2"`},
		{"alias", []string{"--schema", "a:int"}, "did you mean integer"},
		{"no type", []string{"--schema", "a"}, "want name:type"},
		{"empty name", []string{"--schema", ":long"}, "empty name"},
		{"no columns", []string{"--schema", " "}, "no columns"},
		{"duplicate column", []string{"--schema", "a:long,a:string"}, "appears twice"},
		{"decimal precision", []string{"--schema", "a:decimal(39,2)"}, "precision"},
		{"decimal scale", []string{"--schema", "a:decimal(5,6)"}, "scale"},
		{"decimal form", []string{"--schema", "a:decimal"}, "decimal(precision,scale)"},
		{"partition not in schema", []string{"--schema", "a:long", "--partition-by", "b"}, `"b" is not in the schema`},
		{"property form", []string{"--schema", "a:long", "--property", "novalue"}, "key=value"},
		{"property twice", []string{"--schema", "a:long", "--property", "k=1", "--property", "k=2"}, "set twice"},
		{"property needs feature", []string{"--schema", "a:long", "--property", "delta.enableDeletionVectors=true"}, "protocol 1/2"},
		{"column mapping", []string{"--schema", "a:long", "--property", "delta.columnMapping.mode=name"}, "protocol 1/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t")
			r := deltactl(t, append([]string{"create", dir}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
			if r := deltactl(t, "info", dir); r.code != exitFailure {
				t.Error("a refused create wrote a table")
			}
		})
	}
	// Allowed feature-related values pass.
	dir := filepath.Join(t.TempDir(), "t")
	mustRun(t, "create", dir, "--schema", "a:long", "--property", "delta.columnMapping.mode=none", "--property", "delta.appendOnly=true")
}

func TestParseSchema(t *testing.T) {
	st, err := parseSchema("a:LONG, b : decimal( 10 , 2 ),c:d:string")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range st.Fields {
		typ, _ := f.PrimitiveType()
		got = append(got, f.Name+"="+typ)
		if !f.Nullable {
			t.Errorf("%s is not nullable", f.Name)
		}
	}
	if want := "a=long b=decimal(10,2) c:d=string"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
