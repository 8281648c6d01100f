# The README's two commands: `make run` and `make test`.
GO ?= go

.PHONY: run build test check fuzz bench loadtest

run:
	$(GO) run ./cmd/securechatd

build:
	$(GO) build -o bin/ ./cmd/...

# test installs what the suite needs (redis-server, weechat-headless,
# prometheus) when missing, checks formatting and vet, then runs every test
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

FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# loadtest runs the load generator's scenarios against a fresh daemon with
# Redis history, three runs each, and prints the medians (BENCHMARKS.md).
loadtest:
	./deploy/loadtest.sh
