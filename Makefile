# deltaraster: `make demo` and `make test` work on a fresh Debian machine; both install what is
# missing first (once: later runs skip what is present).

GO        ?= go
DEMO_DIR  ?= $(CURDIR)/demo-table
APT_PKGS  := libgdal-dev gdal-bin
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all deps build test demo bench clean fmt vet

all: build

## deps: install the Debian packages the build and tests need, if any is missing.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go is not installed (want /usr/local/go)"; exit 1; }

build: deps
	$(GO) build -o bin/deltactl ./cmd/deltactl

## test: every test, the fuzz targets' seed corpora included.
test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...

## demo: build, then create a local table, commit a few versions and show it.
demo: build
	rm -rf $(DEMO_DIR)
	$(GO) run ./internal/tools/demowrite $(DEMO_DIR)
	./bin/deltactl info $(DEMO_DIR)
	./bin/deltactl history $(DEMO_DIR)
	./bin/deltactl files $(DEMO_DIR) --version 2

## bench: the benchmarks whose figures are in bench/RESULTS.md.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 5x -count 5 ./bench/

clean:
	rm -rf bin $(DEMO_DIR)
