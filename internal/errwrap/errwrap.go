// Package errwrap wraps errors with what was being done to a table or object, naming its URL
// once: the layer that knows the URL names it, and the layers above do not repeat it.
package errwrap

import (
	"fmt"
	"strings"
)

// URL wraps err as "verb url: err", or as "verb: err" when err already names url (without
// the preposition that led to the URL: "export from" becomes "export").
func URL(verb, url string, err error) error {
	if url != "" && strings.Contains(err.Error(), url) {
		for _, p := range []string{" of", " from", " on", " into", " to", " in"} {
			if v, ok := strings.CutSuffix(verb, p); ok {
				verb = v
				break
			}
		}
		return fmt.Errorf("%s: %w", verb, err)
	}
	return fmt.Errorf("%s %s: %w", verb, url, err)
}
