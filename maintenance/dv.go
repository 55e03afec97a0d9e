package maintenance

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/deltaraster/deltaraster/delta"
)

// z85 is the alphabet of the Z85 encoding the Delta protocol uses for deletion vector UUIDs.
const z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

var z85Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(z85); i++ {
		t[z85[i]] = int8(i)
	}
	return t
}()

// decodeZ85 decodes a Z85 string whose length is a multiple of 5.
func decodeZ85(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("z85: length %d is not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := 0; j < 5; j++ {
			d := z85Index[s[i+j]]
			if d < 0 {
				return nil, fmt.Errorf("z85: bad character %q", s[i+j])
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return nil, fmt.Errorf("z85: group %q out of range", s[i:i+5])
		}
		out = binary.BigEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}

// dvFileKey returns the store key of the file holding deletion vector dv, relative to the
// table root. ok is false when the vector has no file (inline). An absolute path that cannot
// be placed under the root is an error wrapping ErrUnresolvedPath. root is the table URL
// (Store.URL).
func dvFileKey(root string, dv *delta.DeletionVector) (key string, ok bool, err error) {
	if dv == nil {
		return "", false, nil
	}
	switch dv.StorageType {
	case "i":
		return "", false, nil
	case "u":
		p := dv.PathOrInlineDv
		if len(p) < 20 {
			return "", false, fmt.Errorf("deletion vector %q: want a prefix and a 20-character Z85 UUID", p)
		}
		prefix, enc := p[:len(p)-20], p[len(p)-20:]
		b, err := decodeZ85(enc)
		if err != nil {
			return "", false, fmt.Errorf("deletion vector %q: %w", p, err)
		}
		id, err := uuid.FromBytes(b)
		if err != nil {
			return "", false, fmt.Errorf("deletion vector %q: %w", p, err)
		}
		name := "deletion_vector_" + id.String() + ".bin"
		if prefix != "" {
			name = prefix + "/" + name
		}
		k, err := delta.FileKey(name)
		if err != nil {
			return "", false, fmt.Errorf("deletion vector %q: %w", p, err)
		}
		return k, true, nil
	case "p":
		k, ok, err := absoluteUnder(root, dv.PathOrInlineDv)
		if err != nil {
			return "", false, fmt.Errorf("deletion vector %q: %w: %w", dv.PathOrInlineDv, ErrUnresolvedPath, err)
		}
		if !ok {
			return "", false, fmt.Errorf("deletion vector %q: outside the table %s: %w", dv.PathOrInlineDv, root, ErrUnresolvedPath)
		}
		return k, true, nil
	}
	return "", false, fmt.Errorf("deletion vector storage type %q: unknown", dv.StorageType)
}

// absoluteUnder returns the key of the absolute URI p relative to the table root, or ok=false
// when p lies outside the root.
func absoluteUnder(root, p string) (string, bool, error) {
	norm := func(s string) (string, error) {
		if !strings.Contains(s, "://") {
			abs, err := filepath.Abs(s)
			if err != nil {
				return "", err
			}
			s = "file://" + filepath.ToSlash(abs)
		}
		u, err := url.Parse(s)
		if err != nil {
			return "", err
		}
		u.Scheme = strings.ToLower(u.Scheme)
		if u.Scheme == "file" && (u.Host == "localhost") {
			u.Host = ""
		}
		if u.Scheme == "s3a" || u.Scheme == "s3n" {
			u.Scheme = "s3" // Hadoop's names for S3, as Spark writes them
		}
		return u.Scheme + "://" + u.Host + path.Clean("/"+u.Path), nil
	}
	r, err := norm(root)
	if err != nil {
		return "", false, fmt.Errorf("table URL %q: %w", root, err)
	}
	q, err := norm(p)
	if err != nil {
		return "", false, fmt.Errorf("deletion vector path %q: %w", p, err)
	}
	if !strings.HasPrefix(q, strings.TrimSuffix(r, "/")+"/") {
		return "", false, nil
	}
	k, ok := normKey(strings.TrimPrefix(q, strings.TrimSuffix(r, "/")+"/"))
	return k, ok, nil
}
