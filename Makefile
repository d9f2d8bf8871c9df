# Atrium: the targets a newcomer can guess.
GO              ?= go
TOOLS           := $(CURDIR)/.tools
GOLANGCI        := $(TOOLS)/golangci-lint
GOLANGCI_VERSION := v2.15.0
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS         := -s -w -X github.com/atriumhq/atrium/core/buildinfo.Version=$(VERSION)

.PHONY: all build plugins run test test-short soak test-many-tenants lint fmt bench bench-tenancy bench-load clean tools proto

all: build

## build: bin/atriumd, bin/atrium and the first-party plugins in bin/plugins/
build: plugins
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/atriumd ./cmd/atriumd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/atrium ./cmd/atrium

# The first-party plugins: each ./plugins/<name> builds to bin/plugins/<name>.
PLUGINS := projects documents

## plugins: the first-party plugin binaries, bin/plugins/<name> (register them with POST /api/v1/plugins)
plugins:
	@mkdir -p bin/plugins
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o bin/plugins/$$p ./plugins/$$p"; \
		$(GO) build -trimpath -ldflags '-s -w' -o bin/plugins/$$p ./plugins/$$p || exit 1; \
	done

## run: start atriumd with working defaults (a private PostgreSQL unless DATABASE_URL is set)
run: build
	./bin/atriumd

## test: the whole suite, race detector on, against a real PostgreSQL
## (ATRIUM_TEST_DATABASE_URL, the local server, or a private cluster started for the run)
test:
	$(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -race -count=1 -timeout 25m ./...

## test-short: unit tests only, no database
test-short:
	$(GO) test -short -count=1 ./...

## soak: half an hour of steady mixed load on a core and a plugin; fails unless goroutines,
## heap, open files, database connections and the plugin's memory stay flat
## (ATRIUM_SOAK_DURATION=10m for another length)
ATRIUM_SOAK_DURATION ?= 30m
soak:
	ATRIUM_SOAK_DURATION=$(ATRIUM_SOAK_DURATION) $(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -run='^TestSoak$$' \
		-count=1 -v -timeout=2h ./core/app

## test-many-tenants: 1,000 tenants sending requests at once against a pool of 20: each is
## answered (its data or a 503 with Retry-After), none hangs, all are served afterwards
## (creating the tenants takes minutes; ATRIUM_TEST_TENANTS=N for another count)
ATRIUM_TEST_TENANTS ?= 1000
test-many-tenants:
	ATRIUM_TEST_TENANTS=$(ATRIUM_TEST_TENANTS) $(GO) run ./cmd/atrium dev with-postgres -- $(GO) test -run='^TestManyTenantsAtOnce$$' \
		-count=1 -v -timeout=1h ./core/app

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
		-bench='^Benchmark(ProvisionTenant|ScopedVsUnscopedLookup|ScopingCPU|RolloutNoop1000|RolloutOneTable1000)$$' -benchtime=2s -timeout=30m ./core/postgres

## bench-load: Atrium and, when POCKETBASE_URL (with POCKETBASE_EMAIL and POCKETBASE_PASSWORD)
## names a PocketBase you started, PocketBase under the same load from outside, in turns:
## ATRIUM_BENCH_ROUNDS rounds (default 3); prints the medians with their ratios. atriumd is
## started on a scratch database; BENCH_LOAD_FLAGS passes --duration, --rate, --clients
ATRIUM_BENCH_ROUNDS ?= 3
bench-load: build
	ATRIUM_BENCH_ROUNDS=$(ATRIUM_BENCH_ROUNDS) ./bin/atrium dev with-postgres -- ./bin/atrium dev bench-load $(BENCH_LOAD_FLAGS)

## proto: regenerate the plugin wire protocol (sdk/internal/wire) from its .proto
## (protoc from Debian's protobuf-compiler; the Go plugins from the module proxy into .tools)
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
PROTO_DIR                  := sdk/internal/wire
PROTO_GENERATED            := atrium.pb.go atrium_grpc.pb.go
PROTO_OUT                  ?= $(PROTO_DIR)
proto: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	PATH=$(TOOLS):$$PATH protoc -I $(PROTO_DIR) \
		--go_out=$(PROTO_OUT) --go_opt=paths=source_relative \
		--go-grpc_out=$(PROTO_OUT) --go-grpc_opt=paths=source_relative \
		$(PROTO_DIR)/atrium.proto

.PHONY: check-tidy check-proto

## check-tidy: fail, showing the diff, if go.mod or go.sum is not what `go mod tidy` makes
check-tidy:
	$(GO) mod tidy -diff

## check-proto: fail, showing the diff, if the committed wire code is not what `make proto`
## makes from atrium.proto now (generated into a scratch directory; the tree is left alone)
check-proto:
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
		$(MAKE) --no-print-directory proto PROTO_OUT="$$out" && \
		status=0 && for f in $(PROTO_GENERATED); do \
			diff -u "$(PROTO_DIR)/$$f" "$$out/$$f" || status=1; \
		done && \
		if [ $$status -ne 0 ]; then echo "check-proto: $(PROTO_DIR) is stale: run make proto and commit"; fi && \
		exit $$status

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

tools: $(GOLANGCI)

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

clean:
	rm -rf bin
