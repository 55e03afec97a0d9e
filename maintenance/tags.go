package maintenance

import (
	"cmp"
	"encoding/json"
	"slices"
)

// TagSources is the add tag in which ingest lists the (source, source_version) pairs a tile
// file holds (a JSON array of {"uri", "version"}). Optimize writes the union of the merged
// files' lists, so ingest still finds its sources from the log alone.
const TagSources = "deltaraster.sources"

type sourceTag struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// tagMerger merges the tags of the files of a bin. TagSources is the union of the inputs'
// lists, and is left out when any input lacks it or has one that does not parse (a reader then
// falls back to the files' stats or columns, as for a file another engine wrote). Any other tag
// is kept when every input has it with the same value.
type tagMerger struct {
	n           int
	other       map[string]string
	sources     map[sourceTag]struct{}
	sourcesLost bool
}

func (m *tagMerger) Add(tags map[string]string) {
	first := m.n == 0
	m.n++
	if first {
		m.other = map[string]string{}
		m.sources = map[sourceTag]struct{}{}
		for k, v := range tags {
			if k != TagSources {
				m.other[k] = v
			}
		}
	} else {
		for k, v := range m.other {
			if w, ok := tags[k]; !ok || w != v {
				delete(m.other, k)
			}
		}
	}
	if m.sourcesLost {
		return
	}
	raw, ok := tags[TagSources]
	var list []sourceTag
	if !ok || json.Unmarshal([]byte(raw), &list) != nil {
		m.sourcesLost, m.sources = true, nil
		return
	}
	for _, t := range list {
		m.sources[t] = struct{}{}
	}
}

// Tags returns the merged tags (nil when there are none).
func (m *tagMerger) Tags() map[string]string {
	out := map[string]string{}
	for k, v := range m.other {
		out[k] = v
	}
	if !m.sourcesLost && m.n > 0 {
		list := make([]sourceTag, 0, len(m.sources))
		for t := range m.sources {
			list = append(list, t)
		}
		slices.SortFunc(list, func(a, b sourceTag) int {
			return cmp.Or(cmp.Compare(a.URI, b.URI), cmp.Compare(a.Version, b.Version))
		})
		raw, _ := json.Marshal(list)
		out[TagSources] = string(raw)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
