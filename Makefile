# kcs — see README.md. Every target works from a fresh clone with only Go
# installed; tools come from go.mod's tool directives.
GO      ?= go
BIN     ?= bin/kcs
BENCH_OUT ?= bench.out
# Packages with goroutines run under the race detector in `make test`; the
# object layer's concurrency is raced by in-process clusters in ./node.
RACE_PKGS := ./erasure/... ./node/... ./s3api/...

.PHONY: all build run test lint unit bench benchstat fuzz soak check hostile recovery redundancy clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kcs

# run: a local three-site development cluster (see README); Ctrl-C stops it.
run: build
	./$(BIN) dev --dir kcs-dev

# test: lint, then every package's tests, the concurrent ones with -race.
test: lint unit

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The end-to-end tests in cmd/kcs build the kcs binary and run real server
# processes against the aws CLI, boto3 and the Go SDKs; the race detector
# would only slow the clients there (the servers are separate processes).
unit:
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m ./cmd/... ./bench/...

# bench: every benchmark at GOMAXPROCS=1 (three runs, medians taken), the
# pipelines again at GOMAXPROCS=2, listing cost against a million versions
# under a prefix and a metadata commit through three-node Raft (node/meta),
# then the table of MB/s and ratios.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 3 ./bench > $(BENCH_OUT)
	$(GO) test -run '^$$' -bench '(Put|Get)/pipeline' -benchmem -cpu 2 -count 3 ./bench >> $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'ListingWithVersions' -benchtime 50x -cpu 1 -count 3 ./node/meta >> $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'RaftCommit' -benchtime 2000x -count 3 ./node/meta >> $(BENCH_OUT)
	@grep -E '^(goos|goarch|cpu|Benchmark)' $(BENCH_OUT)
	@$(GO) run ./bench/benchtable $(BENCH_OUT)

# benchstat: compare two saved `make bench` outputs, e.g.
#   make bench BENCH_OUT=old.out; (change code); make bench BENCH_OUT=new.out
#   make benchstat OLD=old.out NEW=new.out
benchstat:
	$(GO) tool benchstat $(OLD) $(NEW)

# soak: the faults-under-load test (kill -9 of nodes and of the Raft leader,
# damaged shard files, while clients write and delete) for SOAK_DURATION;
# `make test` runs it for 25 s. Every acknowledged write must read back.
SOAK_DURATION ?= 10m
soak:
	KCS_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -timeout 0 -run '^TestE2EFaultsUnderLoad$$' -v ./cmd/kcs

# check: the consistency checker, Jepsen's method (TestE2ELinearizable):
# clients put, create (If-None-Match: *), delete, get and list many keys
# through every node while a seeded schedule kills -9 nodes and the Raft
# leader, pauses (SIGSTOP) the leader and a follower, takes a site down and
# fills a data drive and a metadata drive (tmpfs mounts; needs root, else
# skipped) for CHECK_DURATION; then every key is read through every node
# after the GC grace and porcupine checks each key's history for
# linearizability. `make test` runs 45 s of it with kills and pauses.
# KCS_SEED=N replays a run's schedule; a failed run leaves histories,
# visualizations and server logs in $$KCS_CHECK_OUT (default: a kcs-check-*
# directory in the temporary directory).
CHECK_DURATION ?= 10m
check:
	KCS_CHECK_DURATION=$(CHECK_DURATION) $(GO) test -count=1 -timeout 0 -run '^TestE2ELinearizable$$' -v ./cmd/kcs

# hostile: the hostile-load test at full scale (TestE2EHostileLoad): while
# one tenant works normally, thousands of stalled POST forms, PUTs and unread
# GETs, XML element floods, header floods, inline-part floods and bucket
# floods hit three real servers; descriptors and memory stay bounded, the
# attacks get errors, the tenant's p99 stays within 3x. `make test` runs it
# at a quarter of the scale.
hostile:
	KCS_HOSTILE_SCALE=1 $(GO) test -count=1 -timeout 0 -run '^TestE2EHostileLoad$$' -v ./cmd/kcs

# recovery: the disaster recovery tests with RECOVERY_SCALE times the
# objects — a metadata backup restored into a new cluster given the old
# drives (every object read back), and two of three sites destroyed and
# the survivor recovered (what survives read back, the loss report exactly
# the rest). `make test` runs both at scale 1.
RECOVERY_SCALE ?= 20
recovery:
	KCS_RECOVERY_SCALE=$(RECOVERY_SCALE) $(GO) test -count=1 -timeout 0 -run '^TestE2E(MetaBackupRestore|RecoverFromLosingTheMajority)$$' -v ./cmd/kcs

# redundancy: full redundancy at a larger scale (TestE2EReprotect with
# REDUNDANCY_OBJECTS objects written while a site is down, then every one
# re-coded back to full protection when it returns, checked on disk), and
# the drain-and-remove and spread tests. `make test` runs them with 24.
REDUNDANCY_OBJECTS ?= 1000
redundancy:
	KCS_REDUNDANCY_OBJECTS=$(REDUNDANCY_OBJECTS) $(GO) test -count=1 -timeout 0 -run '^TestE2E(Reprotect|DrainAndRemove|Spread)$$' -v ./cmd/kcs

# fuzz: run each fuzz target for FUZZTIME (the seed corpus alone runs in `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./erasure -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./node/crypt -run '^$$' -fuzz '^FuzzDecryptReader$$' -fuzztime $(FUZZTIME)
	$(GO) test ./node/crypt -run '^$$' -fuzz '^FuzzDecryptWriter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./s3api/sigv4 -run '^$$' -fuzz '^FuzzChunkedDecoder$$' -fuzztime $(FUZZTIME)
	$(GO) test ./s3api/sigv2 -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(BENCH_OUT)
