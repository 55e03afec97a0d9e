package delta

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrNotFound means an object does not exist in the store.
	ErrNotFound = errors.New("delta: object not found")
	// ErrExist means a put-if-absent lost: the key already exists.
	ErrExist = errors.New("delta: object already exists")
	// ErrConflict means a concurrent commit conflicts with this transaction.
	ErrConflict = errors.New("delta: concurrent commit conflicts")
	// ErrCommitUnknown means a commit's put failed in a way that leaves its outcome unknown (it
	// may have landed) and reading the version back could not tell.
	ErrCommitUnknown = errors.New("delta: commit outcome unknown")
	// ErrAfterCommit is matched by the error of a commit that landed when only the work after it
	// failed (the post-commit hook's checkpoint or .crc, reading the new version back): the
	// commit stands and must not be made again. The error is an *AfterCommitError.
	ErrAfterCommit = errors.New("delta: committed; the work after the commit failed")
	// ErrUnsupportedFeature means the table needs a protocol feature this library lacks.
	ErrUnsupportedFeature = errors.New("delta: unsupported feature")
	// ErrVersionNotFound means the requested version or timestamp is outside the log.
	ErrVersionNotFound = errors.New("delta: version not found")
	// ErrNotATable means there is no Delta log at the URL.
	ErrNotATable = errors.New("delta: not a delta table")
	// ErrTableExists means a create found a table already there.
	ErrTableExists = errors.New("delta: table already exists")
	// ErrInvalidPath means an action's path escapes the table root.
	ErrInvalidPath = errors.New("delta: path escapes the table root")
	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("delta: corrupt log")
)

// AfterCommitError is the error of a commit that landed at Version when the work after it
// failed with Err. It matches ErrAfterCommit and Err.
type AfterCommitError struct {
	Version int64
	Err     error
}

func (e *AfterCommitError) Error() string {
	return fmt.Sprintf("after committing version %d: %v", e.Version, e.Err)
}

func (e *AfterCommitError) Unwrap() []error { return []error{ErrAfterCommit, e.Err} }

// CorruptError reports a log file that cannot be used: unreadable, malformed or inconsistent.
type CorruptError struct {
	Path    string // key of the file, relative to the table root
	Version int64  // the log version the file belongs to, -1 if none
	Err     error
}

func (e *CorruptError) Error() string {
	if e.Version >= 0 {
		return fmt.Sprintf("%s (version %d): %v", e.Path, e.Version, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

func corrupt(path string, version int64, format string, args ...any) error {
	return &CorruptError{Path: path, Version: version, Err: fmt.Errorf(format, args...)}
}

// Errors of a store that cannot be used at all, whatever the operation: each is wrapped in a
// *StoreError that names the URL and what to set.
var (
	// ErrNoBucket means the bucket (an Azure container) of a table URL does not exist.
	ErrNoBucket = errors.New("delta: bucket does not exist")
	// ErrAccessDenied means the service refused the credentials, or found none.
	ErrAccessDenied = errors.New("delta: access denied")
	// ErrUnreachable means the service did not answer: a refused connection, an unknown host,
	// or no answer within the request time limit.
	ErrUnreachable = errors.New("delta: store unreachable")
	// ErrNoRegion means an s3:// URL has no AWS region, from the environment or the URL.
	ErrNoRegion = errors.New("delta: no region")
)

// StoreError reports a store that cannot be used as configured: Kind is one of ErrNoBucket,
// ErrAccessDenied, ErrUnreachable and ErrNoRegion. Its message is one line that names the URL,
// what went wrong and what to set, such as
//
//	s3://b/t: cannot reach http://127.0.0.1:9 (connection refused): check AWS_ENDPOINT_URL or ?endpoint=
//
// errors.Is matches Kind, and the service's own error (Err) when there is one.
type StoreError struct {
	URL    string // the table or object URL, as given
	Kind   error
	Detail string // what went wrong, such as "bucket b does not exist", without the URL
	Hint   string // what to do, such as "set AWS_REGION or add ?region= to the URL"
	Err    error  // the service's or the SDK's error, or nil
}

func (e *StoreError) Error() string {
	msg := e.URL + ": " + e.Detail
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

func (e *StoreError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// notATableError is ErrNotATable with a message that says what is at the URL.
type notATableError struct{ msg string }

func (e *notATableError) Error() string        { return e.msg }
func (e *notATableError) Is(target error) bool { return target == ErrNotATable }

// notATable is the error for a store that holds no Delta log: a local directory that does
// not exist says so, anything else is "not a Delta table".
func notATable(s Store) error {
	if l, ok := s.(*localStore); ok {
		if _, err := os.Stat(l.dir); errors.Is(err, os.ErrNotExist) {
			return &notATableError{fmt.Sprintf("%s does not exist (%s)", l.url, ErrNotATable)}
		}
	}
	return &notATableError{fmt.Sprintf("%s: no Delta log in %s (%s)", s.URL(), LogDir, ErrNotATable)}
}
