package delta

import "unicode/utf8"

// Most lines of a long commit tail are adds and removes of one plain shape: known fields
// (deletion vectors included), strings, small integers. fastFileAction decodes that shape
// directly, several times faster than encoding/json's reflection, and gives up on anything
// else (unknown or repeated fields, \u escapes of surrogates, nulls where a value is
// expected, numbers that are not small integers), which ParseAction then decodes the general
// way. FuzzFastFileAction checks that whatever it accepts is valid JSON and decodes to exactly
// what the general path gives.

// fastFileAction decodes line (valid UTF-8) when it is an add or remove of the plain shape;
// ok is false otherwise. Its strings share one copy of the line: keeping any of them keeps
// the line (a few hundred bytes) alive.
func fastFileAction(line []byte) (a Action, ok bool) {
	p := fastParser{s: string(line)} // one allocation: every string of the action shares it
	if !p.lit('{') {
		return Action{}, false
	}
	name, ok := p.str()
	if !ok || !p.lit(':') {
		return Action{}, false
	}
	switch name {
	case "add":
		a.Add = &Add{}
		ok = p.add(a.Add)
	case "remove":
		a.Remove = &Remove{}
		ok = p.remove(a.Remove)
	default:
		return Action{}, false
	}
	if !ok || !p.lit('}') {
		return Action{}, false
	}
	p.ws()
	return a, p.i == len(p.s)
}

type fastParser struct {
	s string
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// lit skips white space and then the byte c.
func (p *fastParser) lit(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// peek skips white space and reports whether the next byte is c, without taking it.
func (p *fastParser) peek(c byte) bool {
	p.ws()
	return p.i < len(p.s) && p.s[p.i] == c
}

// str reads a string. One without escapes is a substring of the line; escapes other than
// \uXXXX surrogates (which the general decoder checks for pairing) are decoded.
func (p *fastParser) str() (string, bool) {
	if !p.lit('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// escaped finishes a string that began at start and has an escape at p.i.
func (p *fastParser) escaped(start int) (string, bool) {
	b := make([]byte, 0, p.i-start+16)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		switch e := p.s[p.i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if p.i+6 > len(p.s) {
				return "", false
			}
			var r rune
			for _, h := range []byte(p.s[p.i+2 : p.i+6]) {
				switch {
				case h >= '0' && h <= '9':
					r = r<<4 | rune(h-'0')
				case h >= 'a' && h <= 'f':
					r = r<<4 | rune(h-'a'+10)
				case h >= 'A' && h <= 'F':
					r = r<<4 | rune(h-'A'+10)
				default:
					return "", false
				}
			}
			if r >= 0xd800 && r <= 0xdfff {
				return "", false
			}
			b = utf8.AppendRune(b, r)
			p.i += 4
		default:
			return "", false
		}
		p.i += 2
	}
	return "", false
}

// int reads an integer of at most 18 digits (no sign but '-', no leading zero, no fraction or
// exponent).
func (p *fastParser) int() (int64, bool) {
	p.ws()
	neg := p.i < len(p.s) && p.s[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	var v int64
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 18 || n > 1 && p.s[start] == '0' {
		return 0, false
	}
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	return v, true
}

func (p *fastParser) intPtr() (*int64, bool) {
	v, ok := p.int()
	return &v, ok
}

func (p *fastParser) bool() (bool, bool) {
	p.ws()
	switch {
	case len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "true":
		p.i += 4
		return true, true
	case len(p.s)-p.i >= 5 && p.s[p.i:p.i+5] == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

func (p *fastParser) null() bool {
	p.ws()
	if len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// object reads an object, calling field for each key with the parser at its value.
func (p *fastParser) object(field func(key string) bool) bool {
	if !p.lit('{') {
		return false
	}
	if p.peek('}') {
		p.i++
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.lit(':') || !field(key) {
			return false
		}
		if p.lit(',') {
			continue
		}
		return p.lit('}')
	}
}

// partitionValues reads an object of strings and nulls.
func (p *fastParser) partitionValues() (PartitionValues, bool) {
	m := PartitionValues{}
	ok := p.object(func(k string) bool {
		if p.null() {
			m[k] = nil
			return true
		}
		v, ok := p.str()
		m[k] = &v
		return ok
	})
	return m, ok
}

// tags reads an object of strings.
func (p *fastParser) tags() (map[string]string, bool) {
	m := map[string]string{}
	ok := p.object(func(k string) bool {
		v, ok := p.str()
		m[k] = v
		return ok
	})
	return m, ok
}

// int32 reads an integer that fits an int32 (encoding/json refuses the others).
func (p *fastParser) int32() (int32, bool) {
	v, ok := p.int()
	if !ok || v < -1<<31 || v > 1<<31-1 {
		return 0, false
	}
	return int32(v), true
}

// deletionVector reads a deletion vector descriptor with the fields DeletionVector has.
func (p *fastParser) deletionVector() (*DeletionVector, bool) {
	dv := &DeletionVector{}
	var seen uint32
	ok := p.object(func(k string) bool {
		var ok bool
		switch k {
		case "storageType":
			dv.StorageType, ok = p.str()
			return ok && once(&seen, 1)
		case "pathOrInlineDv":
			dv.PathOrInlineDv, ok = p.str()
			return ok && once(&seen, 2)
		case "offset":
			var v int32
			v, ok = p.int32()
			dv.Offset = &v
			return ok && once(&seen, 4)
		case "sizeInBytes":
			dv.SizeInBytes, ok = p.int32()
			return ok && once(&seen, 8)
		case "cardinality":
			dv.Cardinality, ok = p.int()
			return ok && once(&seen, 16)
		}
		return false
	})
	return dv, ok
}

// once reports whether field bit has not been seen yet, and marks it.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (p *fastParser) add(a *Add) bool {
	var seen uint32
	return p.object(func(k string) bool {
		var ok bool
		switch k {
		case "path":
			a.Path, ok = p.str()
			return ok && once(&seen, 1)
		case "partitionValues":
			a.PartitionValues, ok = p.partitionValues()
			return ok && once(&seen, 2)
		case "size":
			a.Size, ok = p.int()
			return ok && once(&seen, 4)
		case "modificationTime":
			a.ModificationTime, ok = p.int()
			return ok && once(&seen, 8)
		case "dataChange":
			a.DataChange, ok = p.bool()
			return ok && once(&seen, 16)
		case "stats":
			a.Stats, ok = p.str()
			return ok && once(&seen, 32)
		case "tags":
			a.Tags, ok = p.tags()
			return ok && once(&seen, 64)
		case "baseRowId":
			a.BaseRowID, ok = p.intPtr()
			return ok && once(&seen, 128)
		case "defaultRowCommitVersion":
			a.DefaultRowCommitVersion, ok = p.intPtr()
			return ok && once(&seen, 256)
		case "clusteringProvider":
			a.ClusteringProvider, ok = p.str()
			return ok && once(&seen, 512)
		case "deletionVector":
			a.DeletionVector, ok = p.deletionVector()
			return ok && once(&seen, 1024)
		}
		return false
	})
}

func (p *fastParser) remove(r *Remove) bool {
	var seen uint32
	return p.object(func(k string) bool {
		var ok bool
		switch k {
		case "path":
			r.Path, ok = p.str()
			return ok && once(&seen, 1)
		case "deletionTimestamp":
			r.DeletionTimestamp, ok = p.intPtr()
			return ok && once(&seen, 2)
		case "dataChange":
			r.DataChange, ok = p.bool()
			return ok && once(&seen, 4)
		case "extendedFileMetadata":
			var v bool
			v, ok = p.bool()
			r.ExtendedFileMetadata = &v
			return ok && once(&seen, 8)
		case "partitionValues":
			r.PartitionValues, ok = p.partitionValues()
			return ok && once(&seen, 16)
		case "size":
			r.Size, ok = p.intPtr()
			return ok && once(&seen, 32)
		case "stats":
			r.Stats, ok = p.str()
			return ok && once(&seen, 64)
		case "tags":
			r.Tags, ok = p.tags()
			return ok && once(&seen, 128)
		case "baseRowId":
			r.BaseRowID, ok = p.intPtr()
			return ok && once(&seen, 256)
		case "defaultRowCommitVersion":
			r.DefaultRowCommitVersion, ok = p.intPtr()
			return ok && once(&seen, 512)
		case "deletionVector":
			r.DeletionVector, ok = p.deletionVector()
			return ok && once(&seen, 1024)
		}
		return false
	})
}
