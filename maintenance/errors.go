package maintenance

import "errors"

var (
	// ErrRetentionTooShort means a vacuum asked for a retention below the table's
	// delta.deletedFileRetentionDuration without VacuumOptions.ForceRetention.
	ErrRetentionTooShort = errors.New("maintenance: retention shorter than the table's deletedFileRetentionDuration")
	// ErrTableChanged means the table's protocol or metadata changed while an optimize ran: what
	// it wrote may no longer fit the table, so it stops and commits nothing more.
	ErrTableChanged = errors.New("maintenance: table protocol or metadata changed during the operation")
	// ErrBadOption means an option value is invalid (a cluster column that is not in the data
	// files, a negative size).
	ErrBadOption = errors.New("maintenance: invalid option")
	// ErrUnresolvedPath means a file the log needs (a deletion vector's) could not be placed
	// under the table root: vacuum cannot tell whether the listing holds it, so it stops
	// rather than risk deleting it.
	ErrUnresolvedPath = errors.New("maintenance: file of the log not resolvable under the table root")
)
