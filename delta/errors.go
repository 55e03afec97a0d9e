package delta

import (
	"errors"
	"fmt"
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
