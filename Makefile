# Atrium: the targets a newcomer can guess.
GO              ?= go
TOOLS           := $(CURDIR)/.tools
GOLANGCI        := $(TOOLS)/golangci-lint
GOLANGCI_VERSION := v2.15.0
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS         := -s -w -X github.com/atriumhq/atrium/core/buildinfo.Version=$(VERSION)

.PHONY: all build run test test-short lint fmt bench bench-tenancy clean tools

all: build

## build: bin/atriumd and bin/atrium
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/atriumd ./cmd/atriumd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/atrium ./cmd/atrium

## run: start atriumd with working defaults (a private PostgreSQL unless DATABASE_URL is set)
run: build
	./bin/atriumd

## test: the whole suite, race detector on, against a real PostgreSQL
## (ATRIUM_TEST_DATABASE_URL, the local server, or a private cluster started for the run)
test:
	$(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -race -count=1 ./...

## test-short: unit tests only, no database
test-short:
	$(GO) test -short -count=1 ./...

## lint: golangci-lint with the layer rules of docs/architecture.md
lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

## fmt: format the code as lint expects
fmt: $(GOLANGCI)
	$(GOLANGCI) fmt ./...

## bench: every go benchmark
bench:
	$(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -run='^$$' -bench=. -benchmem ./...

## bench-tenancy: tenant provisioning, scoping cost, and migration rollouts over 1,000 tenants
## (provisioning them takes a minute; ATRIUM_BENCH_TENANTS=N for another count)
ATRIUM_BENCH_TENANTS ?= 1000
bench-tenancy:
	ATRIUM_BENCH_TENANTS=$(ATRIUM_BENCH_TENANTS) $(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -run='^$$' \
		-bench='^Benchmark(ProvisionTenant|ScopedVsUnscopedLookup|RolloutNoop1000|RolloutOneTable1000)$$' -benchtime=2s -timeout=30m ./core/postgres

tools: $(GOLANGCI)

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

clean:
	rm -rf bin
