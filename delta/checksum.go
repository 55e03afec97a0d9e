package delta

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// LastCheckpointChecksum computes the checksum field of _last_checkpoint as the protocol
// defines it: every leaf value of the JSON, with its path, in canonical form; pairs sorted;
// MD5 of the result in lowercase hex.
//
//   - an object key is its URL-encoded text in double quotes ("k1"); an array index is the
//     bare number; path segments are joined by '+';
//   - a string value is URL-encoded in double quotes; numbers, true, false and null are as
//     written; a pair is path=value;
//   - the top-level "checksum" leaf is left out; empty objects and arrays contribute nothing;
//   - pairs are sorted as whole "path=value" strings by byte, as Delta-Spark does (the text
//     says by path; the two differ only for arrays of more than ten elements), joined by ','.
//
// Duplicate keys make the JSON invalid.
func LastCheckpointChecksum(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var pairs []string
	if err := canonicalPairs(dec, "", true, &pairs); err != nil {
		return "", fmt.Errorf("checksum of _last_checkpoint: %w", err)
	}
	sort.Strings(pairs)
	sum := md5.Sum([]byte(strings.Join(pairs, ",")))
	return hex.EncodeToString(sum[:]), nil
}

// canonicalPairs reads one JSON value from dec, appending a path=value pair per leaf.
func canonicalPairs(dec *json.Decoder, path string, top bool, pairs *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	join := func(seg string) string {
		if path == "" {
			return seg
		}
		return path + "+" + seg
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			keys := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if keys[k] {
					return fmt.Errorf("duplicate key %q", k)
				}
				keys[k] = true
				if top && k == "checksum" {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					continue
				}
				if err := canonicalPairs(dec, join(`"`+urlEncode(k)+`"`), false, pairs); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := canonicalPairs(dec, join(fmt.Sprint(i)), false, pairs); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		*pairs = append(*pairs, path+`="`+urlEncode(t)+`"`)
	case json.Number:
		*pairs = append(*pairs, path+"="+t.String())
	case bool:
		*pairs = append(*pairs, path+"="+fmt.Sprint(t))
	case nil:
		*pairs = append(*pairs, path+"=null")
	}
	return nil
}

// urlEncode percent-encodes every UTF-8 byte but the unreserved ones (A-Z a-z 0-9 - . _ ~).
func urlEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
