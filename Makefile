# gcbatch — the project's front door. Needs Go (1.26): modules come from the Go module proxy on
# first use. `make test` also uses npm (shipped with Node.js) once, to fetch the public csv-spectrum
# test files and the getcourse-js-sdk client (for an interop test) into .cache/.
GO      ?= go
BIN     ?= bin/gcbatch
FUZZTIME ?= 5s
# One version for every binary of a build: the nearest tag (or the commit) from git describe.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

.PHONY: all build dist test vet vet-all tidy-check demo bench fuzz lint soak clean csv-spectrum js-sdk

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gcbatch

# Release binaries for every platform under dist/, one version stamped in all, plus SHA256SUMS.
# Pure Go (CGO_ENABLED=0), so Go alone cross-builds them.
dist:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=dist/gcbatch-$(VERSION)-$$os-$$arch$$ext; echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/gcbatch; \
	done
	cd dist && { command -v sha256sum >/dev/null && sha256sum gcbatch-* || shasum -a 256 gcbatch-*; } > SHA256SUMS && cat SHA256SUMS

vet:
	$(GO) vet ./...

# go vet as Windows and macOS builds see the code: OS-specific files must carry build tags.
vet-all: vet
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

# go.mod and go.sum say exactly what the code imports.
tidy-check:
	$(GO) mod tidy -diff

# Every test, with the race detector. CI runs this. The csv-spectrum files are read by
# importer's TestCSVSpectrum, which finds them through GCBATCH_CSV_SPECTRUM.
test: vet csv-spectrum js-sdk
	GCBATCH_CSV_SPECTRUM=$(abspath $(CSV_SPECTRUM)) GCBATCH_JS_SDK=$(abspath $(JS_SDK))/node_modules \
		$(GO) test -race -count=1 -timeout 15m ./...

# The public csv-spectrum suite (CSV files, each with the records it must read as), fetched with
# npm into a git-ignored cache once; it is not copied into the repository.
CSV_SPECTRUM_VERSION ?= 2.0.0
CSV_SPECTRUM := .cache/csv-spectrum
csv-spectrum: $(CSV_SPECTRUM)/package.json

$(CSV_SPECTRUM)/package.json:
	rm -rf $(CSV_SPECTRUM) && mkdir -p $(CSV_SPECTRUM)
	cd $(CSV_SPECTRUM) && npm pack --silent csv-spectrum@$(CSV_SPECTRUM_VERSION) >/dev/null \
		&& tar xf csv-spectrum-$(CSV_SPECTRUM_VERSION).tgz --strip-components=1 && rm csv-spectrum-$(CSV_SPECTRUM_VERSION).tgz

# The public getcourse-js-sdk (npm), a GetCourse client we did not write, for the interop test
# against `gcbatch sim --tls` (cmd/gcbatch TestInteropJSSDK); fetched once into a git-ignored cache.
JS_SDK_VERSION ?= 0.1.5
JS_SDK := .cache/js-sdk
js-sdk: $(JS_SDK)/node_modules/getcourse-js-sdk/package.json

$(JS_SDK)/node_modules/getcourse-js-sdk/package.json:
	mkdir -p $(JS_SDK) && npm install --silent --no-audit --no-fund --prefix $(JS_SDK) getcourse-js-sdk@$(JS_SDK_VERSION) >/dev/null

# The whole story against the built-in simulator, in about a minute.
demo: build
	./$(BIN) demo

# Every figure of design.md's "How fast and how small" as one table (BENCH_QUICK=1 for a short run).
bench: build
	$(GO) run ./cmd/gcbatch-bench -bin $(BIN)

# Each fuzz target for a few seconds (FUZZTIME=30s for longer). Go's fuzzing engine sometimes
# ends a run with "context deadline exceeded" when -fuzztime runs out while a worker is busy,
# without any failing input; such a target is run once more. A real finding (the engine writes
# the failing input under testdata/fuzz) fails at once.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . \
	  | sed -E 's#^(.*)/[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' | sort -u \
	  | while read -r pkg name; do \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		for try in 1 2; do \
			if $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) "$$pkg" >"$$out" 2>&1; then cat "$$out"; break; fi; \
			cat "$$out"; \
			if [ $$try = 2 ] || grep -q 'Failing input written to' "$$out" || ! grep -q 'context deadline exceeded' "$$out"; then exit 1; fi; \
			echo "fuzz $$pkg $$name: the engine timed out without a failing input; once more"; \
		done; \
	done

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin dist
