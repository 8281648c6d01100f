# The README's two commands: `make run` and `make test`.
GO ?= go

.PHONY: run build test check fuzz bench loadtest

# run builds the daemon and runs it, rather than `go run`: go run exits 1
# whenever it is interrupted, even after the daemon shut down cleanly, so
# every Ctrl-C ended in a make error. ARGS passes flags: make run ARGS=--web-listen=:8443
run:
	$(GO) build -o bin/securechatd ./cmd/securechatd
	./bin/securechatd $(ARGS)

build:
	$(GO) build -o bin/ ./cmd/...

# test installs what the suite needs (redis-server, weechat-headless, irssi,
# prometheus, chromium) when missing, checks formatting and vet, then runs every test
# with the race detector and a short run of each fuzz target.
test:
	./.ci/install-deps
	$(MAKE) check
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run 'Stacks$$' ./ircd  # stack sizes, which -race changes
	$(MAKE) fuzz

check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Fuzz budgets are counts of runs, not durations: with a duration, Go 1.26's
# fuzz coordinator can report a spurious "context deadline exceeded" when
# its deadline meets a busy worker (golang/go#75804). FuzzSession runs a
# whole IRC session per input, so it gets a smaller count.
FUZZTIME ?= 100000x
FUZZTIME_SLOW ?= 1000x
FUZZ_SLOW = FuzzSession
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			budget=$(FUZZTIME); \
			case " $(FUZZ_SLOW) " in *" $$f "*) budget=$(FUZZTIME_SLOW);; esac; \
			echo "fuzz $$pkg $$f ($$budget)"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $$budget $$pkg || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# loadtest runs the load generator's scenarios against a fresh daemon with
# Redis history, three runs each, and prints the medians (BENCHMARKS.md).
loadtest:
	./deploy/loadtest.sh
