package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// SourceID returns the identity of a source: the string the table holds for it (the source
// column, the deltaraster.sources tag, commitInfo). It names the object's location alone, so
// that every spelling of one object is one source:
//
//   - a local path, relative or absolute, or a file:// URL (file:/p, file:///p,
//     file://localhost/p): the absolute, cleaned path, /data/scenes/a.tif (symbolic links are
//     not resolved; a relative path is made absolute against the working directory);
//   - an object URL: scheme://bucket/key, with the scheme in lower case, s3a:// and s3n://
//     (Hadoop's names) read as s3://, the key percent-decoded and written again with only %,
//     ?, #, spaces, control characters and bytes that are not UTF-8 escaped;
//   - azblob: azblob://account@container/key, the account being the URL's storage_account
//     parameter (or its user part, the identity's own spelling), else AZURE_STORAGE_ACCOUNT,
//     else the AccountName of AZURE_STORAGE_CONNECTION_STRING, as gocloud chooses it; without
//     any, azblob://container/key.
//
// Everything else is a connection parameter and is left out: the query (endpoint, region,
// use_path_style, protocol, domain, anything else), user information, and the host of an
// endpoint. Bucket names and keys keep their case; keys are not cleaned (a//b and a/b are two
// S3 keys). A URL that names no object (no key, or a key ending in /), a local path ending in
// /, a fragment (# must be escaped as %23 in a key) and an unsupported scheme are errors.
//
// SourceID(SourceID(s)) == SourceID(s) under the same environment and working directory.
func SourceID(source string) (string, error) {
	loc, err := parseSource(source, os.Getenv)
	if err != nil {
		return "", err
	}
	return loc.id, nil
}

// sourceLoc is a source URI parsed: its identity and how to reach it.
type sourceLoc struct {
	id    string // the identity (see SourceID)
	local string // the absolute, cleaned path of a local file; "" for objects
	// bucketURL is what gocloud opens the object's bucket with: the scheme (s3 for s3a, s3n),
	// the bucket and the connection parameters of the URL as given.
	bucketURL string
	key       string
}

// parseSource parses a source URI; getenv reads the environment (the azblob account).
func parseSource(source string, getenv func(string) string) (*sourceLoc, error) {
	if source == "" {
		return nil, errors.New("empty source URI")
	}
	if strings.HasPrefix(source, "/") || (!strings.Contains(source, "://") && !hasSchemePrefix(source, "file:")) {
		return localLoc(source)
	}
	u, err := url.Parse(source)
	if err != nil {
		return nil, fmt.Errorf("parse URI: %w", err)
	}
	if u.Opaque != "" {
		return nil, fmt.Errorf("URI %s:%s: want %s://BUCKET/KEY", u.Scheme, u.Opaque, u.Scheme)
	}
	if u.Fragment != "" || strings.HasSuffix(source, "#") {
		return nil, errors.New("URI has a fragment (#...): escape # as %23 in a file name or key")
	}
	// url.Parse has lowered the scheme.
	switch u.Scheme {
	case "file":
		if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
			return nil, fmt.Errorf("file URI with host %q", u.Host)
		}
		if u.Path == "" {
			return nil, errors.New("file URI names no file")
		}
		return localLoc(u.Path)
	case "s3", "s3a", "s3n", "gs", "azblob", "mem":
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want a path, file, s3, gs, azblob or mem)", u.Scheme)
	}
	scheme := u.Scheme
	if scheme == "s3a" || scheme == "s3n" {
		scheme = "s3"
	}
	if u.Host == "" {
		return nil, errors.New("URI names no bucket")
	}
	key := strings.TrimPrefix(u.Path, "/")
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, errors.New("URI names no object")
	}
	q := u.Query()
	id := scheme + "://"
	if scheme == "azblob" {
		account, err := azureAccount(u, q, getenv)
		if err != nil {
			return nil, err
		}
		if account != "" {
			id += account + "@"
		}
		if u.User != nil && q.Get("storage_account") == "" {
			// The identity's own spelling: open the account it names.
			q.Set("storage_account", u.User.Username())
			u.RawQuery = q.Encode()
		}
	}
	id += u.Host + "/" + escapeKey(key)
	bu := url.URL{Scheme: scheme, Host: u.Host, RawQuery: u.RawQuery}
	return &sourceLoc{id: id, bucketURL: bu.String(), key: key}, nil
}

func hasSchemePrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func localLoc(p string) (*sourceLoc, error) {
	if strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("path %s ends in /: it names a directory, not a file", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("make %s absolute: %w", p, err)
	}
	return &sourceLoc{id: abs, local: abs}, nil
}

// azureAccount is the storage account of an azblob URL, in lower case (Azure's account names
// are): its storage_account parameter or its user part (both, they must agree), else the
// environment's as gocloud reads it; "" when none is set.
func azureAccount(u *url.URL, q url.Values, getenv func(string) string) (string, error) {
	var account string
	if vs, ok := q["storage_account"]; ok {
		if len(vs) != 1 || vs[0] == "" {
			return "", errors.New("azblob URI: give storage_account once, not empty")
		}
		account = vs[0]
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return "", errors.New("azblob URI holds a password: give credentials in the environment (AZURE_STORAGE_KEY, ...), never in a source URI")
		}
		name := u.User.Username()
		if account != "" && !strings.EqualFold(account, name) {
			return "", fmt.Errorf("azblob URI names two accounts, %q and %q", name, account)
		}
		account = name
	}
	if account == "" {
		account = getenv("AZURE_STORAGE_ACCOUNT")
	}
	if account == "" {
		cs := getenv("AZURE_STORAGE_CONNECTION_STRING")
		if cs == "" {
			cs = getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
		}
		for part := range strings.SplitSeq(cs, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "AccountName" {
				account = v
				break
			}
		}
	}
	return strings.ToLower(account), nil
}

// escapeKey writes an object key for a URI: %, ?, # (which would end or change the path),
// spaces, control characters and bytes that are not UTF-8 are percent-escaped; the rest,
// non-ASCII letters included, is kept as it is.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); {
		r, n := utf8.DecodeRuneInString(key[i:])
		if (r == utf8.RuneError && n == 1) || r <= ' ' || r == 0x7f || r == '%' || r == '?' || r == '#' {
			for _, c := range []byte(key[i : i+n]) {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			}
		} else {
			b.WriteString(key[i : i+n])
		}
		i += n
	}
	return b.String()
}

// entryIDs gives the identity of source values read from a table (tags, the source column).
// Tables written before identities existed hold sources as they were given (with connection
// parameters, relative paths, file:// URLs): such a value is read as that spelling, against
// this process's environment and working directory; a value that does not parse is its own
// identity. Identities are cached, up to a bound, as the same values repeat across files.
type entryIDs struct {
	m map[string]string
}

const entryIDCacheSize = 4096

func (c *entryIDs) id(v string) string {
	if isIdentity(v) {
		return v // what this version writes: no need to parse it
	}
	if id, ok := c.m[v]; ok {
		return id
	}
	id := v
	if loc, err := parseSource(v, os.Getenv); err == nil {
		id = identityOf(v, loc)
	}
	if c.m == nil || len(c.m) >= entryIDCacheSize {
		c.m = make(map[string]string)
	}
	c.m[v] = id
	return id
}

// isIdentity reports, without parsing v as a URI, that v is its own identity, for the values
// identities most often are: a clean absolute path, or an s3, gs or mem URL whose bucket is
// made of letters, digits, '.', '-' and '_', and whose key needs no escape. False says nothing.
func isIdentity(v string) bool {
	if strings.HasPrefix(v, "/") {
		return !strings.HasSuffix(v, "/") && filepath.Clean(v) == v
	}
	var rest string
	for _, p := range []string{"s3://", "gs://", "mem://"} {
		if r, ok := strings.CutPrefix(v, p); ok {
			rest = r
			break
		}
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return false
	}
	for _, c := range []byte(bucket) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	for _, r := range key {
		if r == utf8.RuneError || r <= ' ' || r == 0x7f || r == '%' || r == '?' || r == '#' {
			return false
		}
	}
	return true
}

// spellingPrefixes are the strings a table written before identities existed may hold for
// identity id (the common spellings): id itself and id followed by a query (connection
// parameters); file:// and file://localhost before a local path; an azblob URL without its
// account. Used to prune by min/max statistics only; spellings outside these (relative paths,
// other percent-encodings, an upper-case scheme) are found through the deltaraster.sources tag,
// not through statistics.
func spellingPrefixes(id string) []string {
	out := []string{id}
	switch {
	case strings.HasPrefix(id, "/"):
		out = append(out, "file://"+id, "file://localhost"+id)
	case strings.HasPrefix(id, "azblob://"):
		if d := dropAzureAccount(id); d != id {
			out = append(out, d)
		}
	}
	return out
}

// dropAzureAccount removes the account of an azblob identity.
func dropAzureAccount(id string) string {
	rest, ok := strings.CutPrefix(id, "azblob://")
	if !ok {
		return id
	}
	if at, slash := strings.Index(rest, "@"), strings.Index(rest, "/"); at >= 0 && at < slash {
		return "azblob://" + rest[at+1:]
	}
	return id
}

// rangeMayHold reports whether a string column whose values lie in [lo, hi] may hold a
// spelling of one of the identities.
func rangeMayHold(lo, hi string, ids map[string]bool) bool {
	for id := range ids {
		for _, p := range spellingPrefixes(id) {
			if p >= lo && p <= hi {
				return true
			}
			// Some p + "?" + query lies in [lo, hi].
			pq := p + "?"
			if hi >= pq && (lo <= pq || strings.HasPrefix(lo, pq)) {
				return true
			}
		}
	}
	return false
}
