package delta

import (
	"fmt"
	"strconv"
	"strings"
)

// Log layout, relative to the table root.
const (
	LogDir            = "_delta_log/"
	SidecarDir        = LogDir + "_sidecars/"
	LastCheckpointKey = LogDir + "_last_checkpoint"
)

// LogFileKind says what a file in _delta_log is.
type LogFileKind int

// The kinds of log files.
const (
	KindUnknown LogFileKind = iota
	KindCommit
	KindCheckpoint          // classic single-file checkpoint
	KindMultiPartCheckpoint // one part of a multi-part checkpoint
	KindUUIDCheckpoint      // V2 checkpoint top-level file, JSON or Parquet
	KindCRC
	KindCompacted
	KindLastCheckpoint
)

func (k LogFileKind) String() string {
	switch k {
	case KindCommit:
		return "commit"
	case KindCheckpoint:
		return "checkpoint"
	case KindMultiPartCheckpoint:
		return "multi-part checkpoint"
	case KindUUIDCheckpoint:
		return "v2 checkpoint"
	case KindCRC:
		return "crc"
	case KindCompacted:
		return "compacted commits"
	case KindLastCheckpoint:
		return "_last_checkpoint"
	}
	return "unknown"
}

// LogFile is a parsed _delta_log file name.
type LogFile struct {
	Kind       LogFileKind
	Version    int64  // the version; for compacted files the first version
	EndVersion int64  // compacted files: the last version, inclusive
	Part       int    // multi-part: 1-based part number
	Parts      int    // multi-part: number of parts
	UUID       string // V2 checkpoint: the UUID
	Ext        string // V2 checkpoint: "json" or "parquet"
}

// IsCheckpoint reports whether the file is any kind of checkpoint.
func (f LogFile) IsCheckpoint() bool {
	return f.Kind == KindCheckpoint || f.Kind == KindMultiPartCheckpoint || f.Kind == KindUUIDCheckpoint
}

// Name formats the file's name, relative to _delta_log.
func (f LogFile) Name() string {
	switch f.Kind {
	case KindCommit:
		return fmt.Sprintf("%020d.json", f.Version)
	case KindCheckpoint:
		return fmt.Sprintf("%020d.checkpoint.parquet", f.Version)
	case KindMultiPartCheckpoint:
		return fmt.Sprintf("%020d.checkpoint.%010d.%010d.parquet", f.Version, f.Part, f.Parts)
	case KindUUIDCheckpoint:
		return fmt.Sprintf("%020d.checkpoint.%s.%s", f.Version, f.UUID, f.Ext)
	case KindCRC:
		return fmt.Sprintf("%020d.crc", f.Version)
	case KindCompacted:
		return fmt.Sprintf("%020d.%020d.compacted.json", f.Version, f.EndVersion)
	case KindLastCheckpoint:
		return "_last_checkpoint"
	}
	return ""
}

// Key is the file's key relative to the table root.
func (f LogFile) Key() string { return LogDir + f.Name() }

// CommitKey is the key of commit v.
func CommitKey(v int64) string { return LogFile{Kind: KindCommit, Version: v}.Key() }

// CheckpointKey is the key of the classic checkpoint at v.
func CheckpointKey(v int64) string { return LogFile{Kind: KindCheckpoint, Version: v}.Key() }

// CRCKey is the key of the .crc file of v.
func CRCKey(v int64) string { return LogFile{Kind: KindCRC, Version: v}.Key() }

// ParseLogName parses a file name in _delta_log (no directory). ok is false for names that are
// not log files; such files are ignored by readers.
func ParseLogName(name string) (f LogFile, ok bool) {
	if name == "_last_checkpoint" {
		return LogFile{Kind: KindLastCheckpoint, Version: -1}, true
	}
	if len(name) < 21 || name[20] != '.' {
		return LogFile{}, false
	}
	v, ok := parseDigits(name[:20])
	if !ok {
		return LogFile{}, false
	}
	rest := name[21:]
	switch rest {
	case "json":
		return LogFile{Kind: KindCommit, Version: v}, true
	case "crc":
		return LogFile{Kind: KindCRC, Version: v}, true
	case "checkpoint.parquet":
		return LogFile{Kind: KindCheckpoint, Version: v}, true
	}
	if strings.HasSuffix(rest, ".compacted.json") && len(rest) == 20+len(".compacted.json") {
		end, ok := parseDigits(rest[:20])
		if !ok || end < v {
			return LogFile{}, false
		}
		return LogFile{Kind: KindCompacted, Version: v, EndVersion: end}, true
	}
	cp, found := strings.CutPrefix(rest, "checkpoint.")
	if !found {
		return LogFile{}, false
	}
	// Multi-part: checkpoint.%010d.%010d.parquet
	if len(cp) == 10+1+10+len(".parquet") && cp[10] == '.' && strings.HasSuffix(cp, ".parquet") {
		part, ok1 := parseDigits(cp[:10])
		parts, ok2 := parseDigits(cp[11:21])
		if ok1 && ok2 && part >= 1 && part <= parts && parts <= 1<<31-1 {
			return LogFile{Kind: KindMultiPartCheckpoint, Version: v, Part: int(part), Parts: int(parts)}, true
		}
		return LogFile{}, false
	}
	// V2: checkpoint.<uuid>.json|parquet
	for _, ext := range []string{"json", "parquet"} {
		if id, found := strings.CutSuffix(cp, "."+ext); found && isUUID(id) {
			return LogFile{Kind: KindUUIDCheckpoint, Version: v, UUID: id, Ext: ext}, true
		}
	}
	return LogFile{}, false
}

// ParseLogKey parses a key relative to the table root ("_delta_log/<name>").
func ParseLogKey(key string) (LogFile, bool) {
	name, found := strings.CutPrefix(key, LogDir)
	if !found || strings.Contains(name, "/") {
		return LogFile{}, false
	}
	return ParseLogName(name)
}

func parseDigits(s string) (int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && len(s) > 0
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
