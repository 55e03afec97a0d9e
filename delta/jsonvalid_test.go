package delta

import (
	"encoding/json"
	"testing"
)

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `""`, `0`, `-0.5e+10`, `01`, `1.`, `.5`, `-`, `1e`, `"\u00e9\n"`, `"\u00g0"`, `"\x"`,
		`{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":1}}`, ` {"add":{"path":"x","size":1}} `, `tru`, `nul`,
		"\"a\tb\"", `{"a":[{"b":[null,true,false]}]}`, `"é"`, "\"\xff\"", `[[[[]]]]`, `{"a":"\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json.Valid says %v", b, got, want)
		}
	})
}
