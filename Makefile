# edgeagent: `make run` builds and runs the agent on the example; `make test` installs what is
# missing and runs every test (lint, unit and integration tests with the race detector, and the
# kernel lab).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO ?= go
BIN := hack/out/edgeagent
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG ?= hack/examples/edgeagent.yaml

.PHONY: build run deps test unit lint kernel-test bench bench-dns bench-bird kernel-bench fuzz

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/edgeagent

run: build
	$(BIN) run -c $(CONFIG)

deps:
	hack/install-deps.sh

test: deps lint unit kernel-test

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags kernellab ./...
	staticcheck ./...
	staticcheck -tags kernellab ./...

# The smoke test runs in the same boot so that a lab fault does not look like a tunnel failure.
kernel-test:
	hack/kernel-lab/run.sh ./hack/kernel-lab/smoketest -test.v --- ./reconcilers/tunnel -test.v -test.run Kernel

# Go benchmarks of the controller core and the DNS hot path.
bench:
	$(GO) test -run XXX -bench . -benchmem ./pkg/controller/ ./pkg/dnsserver/ ./pkg/source/file/

# dnsperf: edgeagent vs knot and nsd (static), vs gdnsd and PowerDNS (geo), side by side.
bench-dns:
	hack/install-deps.sh --bench
	hack/bench/dns.sh

# 1,000 new BIRD protocols: one batch vs one `configure` per session (the old agent's way).
bench-bird:
	hack/bench/bird.sh

# Short runs of every fuzz target.
fuzz:
	$(GO) test -run XXX -fuzz FuzzReplyAndProtocols -fuzztime 30s ./pkg/bird/
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime 30s ./pkg/source/file/
	$(GO) test -run XXX -fuzz FuzzParsePeerAPIJSON -fuzztime 30s ./pkg/config/
	$(GO) test -run XXX -fuzz FuzzParseYAML -fuzztime 30s ./pkg/config/
	$(GO) test -run XXX -fuzz FuzzHandle -fuzztime 30s ./pkg/dnsserver/

kernel-bench:
	hack/kernel-lab/run.sh ./reconcilers/tunnel -test.run XXX -test.bench Kernel -test.benchmem
