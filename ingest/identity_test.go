package ingest

import (
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestSourceIdentity: every spelling of one object has one identity, without its connection
// parameters; the identity is its own identity; the URL opened keeps the parameters.
func TestSourceIdentity(t *testing.T) {
	const minio = "endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1"
	azureEnv := map[string]string{"AZURE_STORAGE_ACCOUNT": "devstoreaccount1", "AZURE_STORAGE_KEY": "k"}
	connEnv := map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
		"AccountKey=Eby8vdM02xNO==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}
	cases := []struct {
		name, in, want string
		env            map[string]string
		bucket, key    string // the bucket URL and key opened, when checked
	}{
		{name: "plain", in: "s3://b/k.tif", want: "s3://b/k.tif", bucket: "s3://b", key: "k.tif"},
		{name: "minio params", in: "s3://b/k.tif?" + minio, want: "s3://b/k.tif", bucket: "s3://b?" + minio, key: "k.tif"},
		{name: "params in another order, escaped",
			in:   "s3://b/k.tif?region=us-east-1&use_path_style=true&endpoint=http%3A%2F%2F127.0.0.1%3A9000",
			want: "s3://b/k.tif"},
		{name: "empty query", in: "s3://b/k.tif?", want: "s3://b/k.tif"},
		{name: "credentials in the user part", in: "s3://AKIA:secret@b/k.tif", want: "s3://b/k.tif", bucket: "s3://b"},
		{name: "scheme case", in: "S3://b/dir/k.tif", want: "s3://b/dir/k.tif"},
		{name: "s3a", in: "s3a://b/dir/k.tif?" + minio, want: "s3://b/dir/k.tif", bucket: "s3://b?" + minio, key: "dir/k.tif"},
		{name: "s3n", in: "s3n://b/dir/k.tif", want: "s3://b/dir/k.tif"},
		{name: "bucket case kept", in: "s3://Legacy-Bucket/k.tif", want: "s3://Legacy-Bucket/k.tif"},
		{name: "key case kept", in: "s3://b/K.TIF", want: "s3://b/K.TIF"},
		{name: "escaped space", in: "s3://b/a%20b.tif", want: "s3://b/a%20b.tif", key: "a b.tif"},
		{name: "raw space", in: "s3://b/a b.tif", want: "s3://b/a%20b.tif", key: "a b.tif"},
		{name: "escaped letters", in: "s3://b/%6B.tif", want: "s3://b/k.tif"},
		{name: "escaped UTF-8", in: "s3://b/sc%C3%A8ne.tif", want: "s3://b/scène.tif", key: "scène.tif"},
		{name: "raw UTF-8", in: "s3://b/scène.tif", want: "s3://b/scène.tif"},
		{name: "not UTF-8", in: "s3://b/%FF.tif", want: "s3://b/%FF.tif", key: "\xff.tif"},
		{name: "escaped slash is a slash", in: "s3://b/a%2Fk.tif", want: "s3://b/a/k.tif", key: "a/k.tif"},
		{name: "question mark in a key", in: "s3://b/a%3Fb.tif?region=x", want: "s3://b/a%3Fb.tif", key: "a?b.tif"},
		{name: "hash in a key", in: "s3://b/a%23b.tif", want: "s3://b/a%23b.tif", key: "a#b.tif"},
		{name: "percent in a key", in: "s3://b/100%25.tif", want: "s3://b/100%25.tif", key: "100%.tif"},
		{name: "plus is a plus", in: "s3://b/a+b.tif", want: "s3://b/a+b.tif", key: "a+b.tif"},
		{name: "escaped plus", in: "s3://b/a%2Bb.tif", want: "s3://b/a+b.tif"},
		{name: "keys are not cleaned", in: "s3://b/a//./../k.tif", want: "s3://b/a//./../k.tif", key: "a//./../k.tif"},
		{name: "gcs params", in: "gs://b/k.tif?access_id=x&private_key_path=/secret.pem&anonymous=true", want: "gs://b/k.tif"},
		{name: "mem", in: "mem://b/dir/k.tif?x=1", want: "mem://b/dir/k.tif", bucket: "mem://b?x=1", key: "dir/k.tif"},
		{name: "azblob, account from the environment", env: azureEnv,
			in: "azblob://c/k.tif?protocol=http&domain=127.0.0.1:10000", want: "azblob://devstoreaccount1@c/k.tif",
			bucket: "azblob://c?protocol=http&domain=127.0.0.1:10000", key: "k.tif"},
		{name: "azblob, account from a connection string", env: connEnv, in: "azblob://c/k.tif",
			want: "azblob://devstoreaccount1@c/k.tif", bucket: "azblob://c"},
		{name: "azblob, account in the URL over the environment", env: azureEnv,
			in: "azblob://c/k.tif?storage_account=Other&domain=127.0.0.1:10000", want: "azblob://other@c/k.tif",
			bucket: "azblob://c?storage_account=Other&domain=127.0.0.1:10000"},
		{name: "azblob, the identity's spelling", env: azureEnv, in: "azblob://acct@c/k.tif",
			want: "azblob://acct@c/k.tif", bucket: "azblob://c?storage_account=acct"},
		{name: "azblob, both spellings of one account", in: "azblob://acct@c/k.tif?storage_account=ACCT",
			want: "azblob://acct@c/k.tif"},
		{name: "azblob, no account anywhere", in: "azblob://c/k.tif?protocol=http", want: "azblob://c/k.tif"},
		{name: "absolute path", in: "/x/y.tif", want: "/x/y.tif"},
		{name: "unclean path", in: "/x//z/../y.tif", want: "/x/y.tif"},
		{name: "file URL", in: "file:///x/y.tif", want: "/x/y.tif"},
		{name: "file URL, one slash", in: "file:/x/y.tif", want: "/x/y.tif"},
		{name: "file URL, localhost", in: "file://LOCALHOST/x/./y.tif", want: "/x/y.tif"},
		{name: "file URL, scheme case", in: "FILE:///x/y.tif", want: "/x/y.tif"},
		{name: "file URL, escaped", in: "file:///x/a%20b.tif", want: "/x/a b.tif"},
		{name: "path with what looks like escapes", in: "/x/a%20b.tif", want: "/x/a%20b.tif"},
		{name: "path with a question mark", in: "/x/a?b.tif", want: "/x/a?b.tif"},
		{name: "path with ://", in: "/x/s3://b.tif", want: "/x/s3:/b.tif"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := envOf(c.env)
			loc, err := parseSource(c.in, env)
			if err != nil {
				t.Fatalf("parseSource(%q): %v", c.in, err)
			}
			if loc.id != c.want {
				t.Errorf("identity of %q = %q, want %q", c.in, loc.id, c.want)
			}
			if c.bucket != "" && loc.bucketURL != c.bucket {
				t.Errorf("bucket URL of %q = %q, want %q", c.in, loc.bucketURL, c.bucket)
			}
			if c.key != "" && loc.key != c.key {
				t.Errorf("key of %q = %q, want %q", c.in, loc.key, c.key)
			}
			if strings.HasPrefix(c.want, "/") && loc.local != c.want {
				t.Errorf("local path of %q = %q, want %q", c.in, loc.local, c.want)
			}
			again, err := parseSource(loc.id, env)
			if err != nil || again.id != loc.id {
				t.Errorf("identity of identity %q = %v, %v", loc.id, again, err)
			}
			if isIdentity(c.in) && loc.id != c.in {
				t.Errorf("isIdentity(%q), but its identity is %q", c.in, loc.id)
			}
		})
	}
}

func TestSourceIdentityRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, in := range []string{"y.tif", "./y.tif", "sub/../y.tif"} {
		got, err := SourceID(in)
		if want := filepath.Join(dir, "y.tif"); err != nil || got != want {
			t.Errorf("SourceID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSourceIdentityErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"s3://b",
		"s3://b/",
		"s3://b/dir/",
		"s3:///k.tif",
		"s3://b/k.tif#part",
		"s3://b/k.tif#",
		"s3://b/%zz.tif",
		"http://h/k.tif",
		"file://host/x.tif",
		"file://",
		"/x/dir/",
		"dir/",
		"azblob://acct:key@c/k.tif",
		"azblob://a@c/k.tif?storage_account=b",
		"azblob://c/k.tif?storage_account=",
	} {
		if id, err := parseSource(in, envOf(nil)); err == nil {
			t.Errorf("parseSource(%q) = %q, want an error", in, id.id)
		}
	}
}

// TestIsIdentity: the shortcut that skips parsing holds for the common identities, and only
// for strings that are their own identity (see also TestSourceIdentity).
func TestIsIdentity(t *testing.T) {
	for v, want := range map[string]bool{
		"s3://b/k.tif": true, "gs://my-bucket.example/a/b/scène 1.tif": false, "mem://b/dir/k.tif": true,
		"/x/y.tif": true, "s3://b/scène.tif": true, "s3://B_b/K.TIF": true,
		"/x//y.tif": false, "/x/y/": false, "/x/./y.tif": false,
		"s3://b/k.tif?endpoint=x": false, "s3://b/a%20b.tif": false, "S3://b/k.tif": false,
		"s3a://b/k.tif": false, "s3://u@b/k.tif": false, "s3://b:9000/k.tif": false, "s3://b/": false,
		"s3://b/k#x": false, "s3://b/\xff.tif": false, "s3://b/a\tb": false, "s3://b/a\x7fb": false,
		"s3://b/a b":            false,
		"azblob://acct@c/k.tif": false, "file:///x/y.tif": false, "y.tif": false, "": false,
	} {
		if got := isIdentity(v); got != want {
			t.Errorf("isIdentity(%q) = %v, want %v", v, got, want)
		}
		if isIdentity(v) {
			if id, err := parseSource(v, envOf(nil)); err != nil || id.id != v {
				t.Errorf("isIdentity(%q), but parseSource gives %v, %v", v, id, err)
			}
		}
	}
}

func TestEscapeKey(t *testing.T) {
	for in, want := range map[string]string{
		"a/b.tif":     "a/b.tif",
		"a b":         "a%20b",
		"a\tb\x7f":    "a%09b%7F",
		"%?#":         "%25%3F%23",
		"é+&=;,@:!$'": "é+&=;,@:!$'",
		"\xff\xfe":    "%FF%FE",
	} {
		if got := escapeKey(in); got != want {
			t.Errorf("escapeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRangeMayHold: min/max statistics of the source column are read as leaving room for the
// spellings earlier versions wrote (with a query, file://, an azblob URL without the account).
func TestRangeMayHold(t *testing.T) {
	ids := func(s ...string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	cases := []struct {
		lo, hi string
		ids    map[string]bool
		want   bool
	}{
		{"s3://b/k.tif", "s3://b/k.tif", ids("s3://b/k.tif"), true},
		{"s3://b/a.tif", "s3://b/z.tif", ids("s3://b/k.tif"), true},
		{"s3://b/l.tif", "s3://b/z.tif", ids("s3://b/k.tif"), false},
		{"s3://b/a.tif", "s3://b/j.tif", ids("s3://b/k.tif"), false},
		// One file holding only the spelling with connection parameters: min = max = it.
		{"s3://b/k.tif?endpoint=x", "s3://b/k.tif?endpoint=x", ids("s3://b/k.tif"), true},
		{"s3://b/k.tif?a", "s3://b/k.tif?z", ids("s3://b/k.tif"), true},
		{"s3://b/k.tifx", "s3://b/k.tifz", ids("s3://b/k.tif"), false},
		{"file:///x/y.tif", "file:///x/y.tif", ids("/x/y.tif"), true},
		{"file://localhost/x/y.tif", "file://localhost/x/y.tif", ids("/x/y.tif"), true},
		{"file:///x/z.tif", "file:///x/z.tif", ids("/x/y.tif"), false},
		{"azblob://c/k.tif?domain=d", "azblob://c/k.tif?domain=d", ids("azblob://acct@c/k.tif"), true},
		{"azblob://c/l.tif", "azblob://c/l.tif", ids("azblob://acct@c/k.tif"), false},
		{"s3://b/z", "s3://b/z", ids("s3://b/a", "s3://b/z"), true},
	}
	for _, c := range cases {
		if got := rangeMayHold(c.lo, c.hi, c.ids); got != c.want {
			t.Errorf("rangeMayHold(%q, %q, %v) = %v, want %v", c.lo, c.hi, c.ids, got, c.want)
		}
	}
}
