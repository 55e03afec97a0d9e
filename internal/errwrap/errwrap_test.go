package errwrap

import (
	"errors"
	"testing"
)

func TestURL(t *testing.T) {
	base := errors.New("boom")
	if got := URL("read table", "./t", base).Error(); got != "read table ./t: boom" {
		t.Errorf("got %q", got)
	}
	named := URL("commit version 0 of", "s3://b/t", base)
	if got := URL("create table", "s3://b/t", named).Error(); got != "create table: commit version 0 of s3://b/t: boom" {
		t.Errorf("got %q", got)
	}
	if got := URL("export from", "s3://b/t", named).Error(); got != "export: commit version 0 of s3://b/t: boom" {
		t.Errorf("got %q", got)
	}
	if !errors.Is(URL("x", "y", named), base) {
		t.Error("the chain is lost")
	}
}
