# Atrium: the region's lycées keep working when their internet link is down.
# `make` or `make help` lists the targets.

GO       ?= go
BIN      := bin/atrium
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DEMO_DIR ?= demo-region
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Programs the benchmarks compare Atrium with, installed in bin/tools.
NATS_SERVER := github.com/nats-io/nats-server/v2@v2.15.2
# Packages whose tests run whole regions; they get a longer timeout.
TEST_TIMEOUT ?= 12m

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/atrium
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/atrium

demo: build ## run a whole region here (3 central nodes, 2 edges); Ctrl-C stops it
	./$(BIN) demo --dir $(DEMO_DIR)

test: ## run every test (what CI runs)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

check: ## gofmt, go vet, staticcheck, go mod tidy diff, dependency rules
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@cp go.mod /tmp/atrium-go.mod.bak; cp go.sum /tmp/atrium-go.sum.bak; $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/atrium-go.mod.bak || ! cmp -s go.sum /tmp/atrium-go.sum.bak; then \
	    cp /tmp/atrium-go.mod.bak go.mod; cp /tmp/atrium-go.sum.bak go.sum; echo 'go mod tidy changes go.mod/go.sum'; exit 1; fi
	$(GO) test -count=1 -run 'Dependencies' ./internal/deptest/

bench-tools: ## install the programs the benchmarks compare with (nats-server) in bin/tools
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(NATS_SERVER)

bench: bench-tools ## measure catch-up, outbox drain, leader-failover write gap and directory import (see docs/benchmarks.md)
	@echo '== edge catch-up: records/s applied at an edge, 100k changed records, real central + QUIC'
	$(GO) test -run '^$$' -bench 'BenchmarkEdgeCatchUp' -benchtime 1x -timeout 20m ./internal/regiontest/
	@echo '== catch-up after a disconnect: Atrium edge against a NATS JetStream mirror on a leaf node, 100k records'
	$(GO) test -run '^$$' -bench 'BenchmarkCatchUpVsJetStream' -benchtime 1x -timeout 20m ./internal/regiontest/
	@echo '== outbox drain: edge commands/s committed by a three-node central'
	$(GO) test -run '^$$' -bench 'BenchmarkOutboxDrain' -benchtime 1x -timeout 20m ./internal/regiontest/
	$(GO) test -run '^$$' -bench 'BenchmarkRaftCeiling' -benchtime 1x -timeout 20m ./internal/regiontest/
	@echo '== write gap when the raft leader is killed'
	$(GO) test -run '^$$' -bench 'BenchmarkLeaderFailover' -benchtime 1x -timeout 20m ./internal/regiontest/
	@echo '== directory import: persons/s and peak heap, a region-size AAF Complet set (375k persons)'
	$(GO) test -run '^$$' -bench 'BenchmarkDirectoryImport' -benchtime 1x -timeout 30m ./internal/regiontest/
	@echo '== authenticated pages/s and p99 at an edge with its link cut, 64 users, 32 requests in flight (then 64)'
	$(GO) test -run '^$$' -bench 'BenchmarkEdgePages' -benchtime 1x -timeout 20m ./internal/regiontest/ -args -pages.inflight 32
	$(GO) test -run '^$$' -bench 'BenchmarkEdgePages' -benchtime 1x -timeout 20m ./internal/regiontest/ -args -pages.inflight 64
	@echo '== region recovery: 200 edges with 2,000 changes waiting each way reconnect at once, central API p99 meanwhile'
	$(GO) test -run '^$$' -bench 'BenchmarkRegionRecovery' -benchtime 1x -timeout 60m ./internal/regiontest/

chaos: ## kill -9 nodes and cut WAN links for 10 minutes while clients write; writes chaos-report.md
	$(GO) test -count=1 -v -run TestChaos -timeout 40m ./internal/chaos/ -args -chaos.duration 10m -chaos.report $(CURDIR)/chaos-report.md

fuzz: ## fuzz the wire decoder for a minute
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./replication/

clean: ## remove build output and the default demo directory
	rm -rf bin $(DEMO_DIR)

.PHONY: help build demo test check bench bench-tools chaos fuzz clean
