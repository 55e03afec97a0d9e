package maintenance

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if vacuumTmpl != nil {
		os.RemoveAll(filepath.Dir(vacuumTmpl.dir))
	}
	os.Exit(code)
}
