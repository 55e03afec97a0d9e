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
)
