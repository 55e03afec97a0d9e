package maintenance

import (
	"encoding/json"
	"slices"
)

// geoKey is the Parquet key-value metadata key of GeoParquet.
const geoKey = "geo"

// geoMerger unions the GeoParquet "geo" metadata of the files merged into one: the document
// of the first file, with each geometry column's bbox the union of the inputs' bboxes and its
// geometry_types the union of theirs. A bbox missing from any input is left out (unknown); an
// empty geometry_types (any type) anywhere stays empty.
type geoMerger struct {
	doc     map[string]any
	missing bool                 // some input had no usable geo metadata
	bbox    map[string][]float64 // column -> union bbox; nil value = unknown
	types   map[string][]string  // column -> union of types; nil value = any
}

func (g *geoMerger) Add(raw string, ok bool) {
	var doc map[string]any
	if !ok || json.Unmarshal([]byte(raw), &doc) != nil {
		g.missing = true
		return
	}
	cols, _ := doc["columns"].(map[string]any)
	if g.doc == nil {
		g.doc = doc
		g.bbox, g.types = map[string][]float64{}, map[string][]string{}
		for name, c := range cols {
			cm, _ := c.(map[string]any)
			g.bbox[name] = floats(cm["bbox"])
			g.types[name] = stringsOf(cm["geometry_types"])
		}
		return
	}
	for name := range g.bbox {
		cm, _ := cols[name].(map[string]any)
		b := floats(cm["bbox"])
		if u := g.bbox[name]; u != nil && b != nil && len(b) == len(u) {
			h := len(u) / 2
			for i := range u {
				if i < h {
					u[i] = min(u[i], b[i])
				} else {
					u[i] = max(u[i], b[i])
				}
			}
		} else {
			g.bbox[name] = nil
		}
		t := stringsOf(cm["geometry_types"])
		if u := g.types[name]; u != nil && t != nil {
			for _, x := range t {
				if !slices.Contains(u, x) {
					u = append(u, x)
				}
			}
			slices.Sort(u)
			g.types[name] = u
		} else {
			g.types[name] = nil
		}
	}
}

// String returns the merged document; ok is false when no input had geo metadata.
func (g *geoMerger) String() (string, bool) {
	if g.doc == nil {
		return "", false
	}
	cols, _ := g.doc["columns"].(map[string]any)
	for name, c := range cols {
		cm, _ := c.(map[string]any)
		if cm == nil {
			continue
		}
		if b := g.bbox[name]; b != nil && !g.missing {
			cm["bbox"] = b
		} else {
			delete(cm, "bbox")
		}
		if t := g.types[name]; t != nil {
			cm["geometry_types"] = t
		} else {
			cm["geometry_types"] = []string{}
		}
	}
	raw, err := json.Marshal(g.doc)
	if err != nil {
		return "", false
	}
	return string(raw), true
}

// floats returns v as a bbox ([]float64 of even length >= 4), or nil.
func floats(v any) []float64 {
	a, ok := v.([]any)
	if !ok || len(a) < 4 || len(a)%2 != 0 {
		return nil
	}
	out := make([]float64, len(a))
	for i, x := range a {
		f, ok := x.(float64)
		if !ok {
			return nil
		}
		out[i] = f
	}
	return out
}

// stringsOf returns v as a non-empty list of strings, or nil.
func stringsOf(v any) []string {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil
	}
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, ok := x.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
