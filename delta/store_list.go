package delta

import (
	"strings"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startAfterHook returns a gocloud BeforeList hook that makes the server start a listing of
// prefix after the key startAfter, so a listing of _delta_log from a checkpoint reads the
// pages from there on, not the whole log: S3's StartAfter (Marker in the legacy list), GCS's
// StartOffset (inclusive: the caller drops startAfter itself, like every key <= startAfter).
// Azure's List Blobs has startFrom since service version 2026-02-06 (Azurite 3.37 too), and
// the hook sets it, but the SDK gocloud v0.47 lists with (azblob v1.8.0) leaves it out of the
// request: Azure listings read a prefix from its start (see listsFromStart). Backends with
// none (memblob, fileblob) answer no As and list from the start; so does a server that
// ignores the parameter: the caller's filter keeps the result right either way.
//
// The hook sees the request after blob.PrefixedBucket added the table prefix to the listing's
// prefix: the request's prefix ends with prefix, and what precedes it is the table prefix, in
// the driver's escaped form; the start key given to the server is that table prefix plus
// startAfter. It returns nil (no hook) when there is nothing to skip or when startAfter holds
// a character some driver escapes: the server compares the escaped names it stores, and only
// for keys without such characters is that the key order the caller filters by.
func startAfterHook(prefix, startAfter string) func(as func(any) bool) error {
	if startAfter == "" || startAfter < prefix || !plainKey(startAfter) {
		return nil
	}
	// full is the start key the server sees, from the prefix the driver put in its request
	// ("" when that prefix does not end with the listing's prefix: then no start is set).
	full := func(reqPrefix string) string {
		table, ok := strings.CutSuffix(reqPrefix, prefix)
		if !ok {
			return ""
		}
		return table + startAfter
	}
	return func(as func(any) bool) error {
		var v2 *s3.ListObjectsV2Input
		var v1 *s3.ListObjectsInput
		var q *storage.Query
		var az *container.ListBlobsHierarchyOptions
		switch {
		case as(&v2):
			if v2.ContinuationToken == nil && v2.StartAfter == nil && v2.Prefix != nil {
				if k := full(*v2.Prefix); k != "" {
					v2.StartAfter = &k
				}
			}
		case as(&v1):
			if v1.Marker == nil && v1.Prefix != nil {
				if k := full(*v1.Prefix); k != "" {
					v1.Marker = &k
				}
			}
		case as(&q):
			if q.StartOffset == "" {
				if k := full(q.Prefix); k != "" {
					// StartOffset is inclusive: the caller drops startAfter itself.
					q.StartOffset = k
				}
			}
		case as(&az):
			if az.StartFrom == nil && az.Prefix != nil {
				if k := full(*az.Prefix); k != "" {
					az.StartFrom = &k
				}
			}
		}
		return nil
	}
}

// plainKey reports whether no gocloud driver escapes a character of key: printable ASCII
// without the characters Azure escapes ("#%?\ and DEL), without "../" (escaped by every
// driver) and without "__0x" (the start of an escape sequence, itself escaped).
func plainKey(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '?' || c == '\\' {
			return false
		}
	}
	return !strings.Contains(key, "../") && !strings.Contains(key, "__0x")
}

// listsFromStart: gocloud v0.47's azureblob lists with the SDK's hierarchy pager, whose
// options drop StartFrom, so an Azure listing reads the prefix from its start; the log is
// listed in blocks of versions (listLogBlocks).
func (s *bucketStore) listsFromStart() bool { return s.kind == "azblob" }
