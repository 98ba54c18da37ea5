# gcbatch — the project's front door. Needs Go (1.26) and nothing else: modules come from the Go
# module proxy on first use.
GO      ?= go
BIN     ?= bin/gcbatch
FUZZTIME ?= 5s

.PHONY: all build test vet demo bench fuzz lint soak clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gcbatch

vet:
	$(GO) vet ./...

# Every test, with the race detector. CI runs this.
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

# The whole story against the built-in simulator, in about a minute.
demo: build
	./$(BIN) demo

# Every figure of design.md's "How fast and how small" as one table (BENCH_QUICK=1 for a short run).
bench: build
	$(GO) run ./cmd/gcbatch-bench -bin $(BIN)

# Each fuzz target for a few seconds (FUZZTIME=30s for longer).
fuzz:
	@set -e; grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . \
	  | sed -E 's#^(.*)/[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' | sort -u \
	  | while read -r pkg name; do \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
