package ingest

import (
	"encoding/json"

	"github.com/deltaraster/deltaraster/delta"
)

// SourceVersion is one (identity, version) pair of a data file: a source (its SourceID) and
// the source_version of its rows there.
type SourceVersion struct {
	ID      string
	Version string
}

// FileSources returns the (identity, version) pairs that the deltaraster.sources tag of a data
// file's add (or remove) lists, read from the log alone (see the package documentation,
// Exactly once); values written as given by earlier versions are turned into identities. ok is
// false when the tags hold no such tag or one that does not decode: a file another engine
// rewrote, whose sources only its data tells.
func FileSources(tags map[string]string) (pairs []SourceVersion, ok bool) {
	raw, found := tags[tagSources]
	if !found {
		return nil, false
	}
	var ts []sourceTag
	if json.Unmarshal([]byte(raw), &ts) != nil {
		return nil, false
	}
	var ids entryIDs
	pairs = make([]SourceVersion, len(ts))
	for i, t := range ts {
		pairs[i] = SourceVersion{ID: ids.id(t.URI), Version: t.Version}
	}
	return pairs, true
}

// ObjectVersion is the source_version Ingest records for a source described by info: for a
// local file (local true; info as a local delta.Store lists or stats it) its size and
// modification time, for an object its ETag as delta.Store.Stat gives it (List gives none),
// else its size and modification time. Ingest reads it from the source itself, with the same rule.
func ObjectVersion(info delta.ObjectInfo, local bool) string {
	if !local && info.ETag != "" {
		return info.ETag
	}
	return sizeTimeVersion(info.Size, info.ModTime.UnixNano())
}
