# CassFS. `make help` lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
CACHE ?= $(HOME)/.cache/cassfs
# Packages whose tests need no server (fast feedback; `make test` runs everything).
UNIT_PKGS ?= ./pkg/store/... ./hack/...

.PHONY: help build test test-unit fuzz lint bench quickstart quickstart-stop servers-up servers-down servers-up-3 servers-status image e2e-local local-cluster-up local-cluster-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/csi-driver
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o bin/csi-driver ./cmd/csi-driver

test: ## the whole suite against real Cassandra, ZooKeeper and FUSE (what CI runs)
	hack/test.sh

test-unit: ## tests that need no server
	go test -count=1 $(UNIT_PKGS)

FUZZTIME ?= 20000x
fuzz: ## every fuzz target for FUZZTIME executions each (an execution count, e.g. 200000x; no server needed)
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags multinode ./test/multinode/
	@test -x $(CACHE)/bin/staticcheck || GOBIN=$(CACHE)/bin go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(CACHE)/bin/staticcheck ./...

bench: servers-up ## benchmarks beside their raw-gocql and local-directory baselines
	go test -run '^$$' -bench . -benchtime 3x -timeout 30m ./pkg/...

quickstart: ## start Cassandra + ZooKeeper and mount a real volume (see README)
	hack/quickstart.sh

quickstart-stop: ## unmount the quickstart volume and stop the servers
	hack/quickstart.sh stop

servers-up: ## single-node Cassandra and standalone ZooKeeper on loopback
	hack/deps.sh
	hack/cassandra.sh start 1
	hack/zookeeper.sh start 1

servers-up-3: ## three Cassandra nodes and a three-server ZooKeeper ensemble (stop the single ones first)
	hack/cassandra.sh start 3
	hack/zookeeper.sh start 3

servers-down: ## stop every local server
	hack/cassandra.sh stop
	hack/zookeeper.sh stop

servers-status: ## what runs
	-hack/cassandra.sh status
	-hack/zookeeper.sh status

e2e-local: ## e2e suite on a real single-node Kubernetes built here, no Docker (long cold build; not in `make test`)
	hack/e2e-local.sh

local-cluster-up: ## start the local single-node Kubernetes (hack/local-cluster.sh; KUBECONFIG: hack/local-cluster.sh env)
	hack/local-cluster.sh up

local-cluster-down: ## stop it
	hack/local-cluster.sh down

image: ## container image (needs Docker)
	docker build --build-arg VERSION=$(VERSION) -t cassfs/csi-driver:$(VERSION) .
