# Trellis — top-level entry points. Each target installs missing Debian packages first.
#   make test            build (RelWithDebInfo) and run every test through ctest
#   make test-sanitize   the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz            build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make bench           the side-by-side proxy benchmark (bench/run.py)
#   make demo            the shop: trellisd, seven sidecars, a canary and a rollback (Ctrl-C stops)

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz

.PHONY: all deps build test build-sanitize test-sanitize build-fuzz fuzz bench demo format clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300

build-sanitize: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DTRELLIS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j$(JOBS)

test-sanitize: build-sanitize
	@cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TRELLIS_SANITIZED=1 ctest --output-on-failure -j$(JOBS) --timeout 600

build-fuzz: deps
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTRELLIS_FUZZ=ON -DTRELLIS_SANITIZE=ON >/dev/null
	@cmake --build $(FUZZ_DIR) -j$(JOBS) --target trellis_fuzz_all

fuzz: build-fuzz
	@bash scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

bench: build
	@/usr/bin/python3 bench/run.py --build-dir $(BUILD_DIR)

demo: build
	@/usr/bin/python3 scripts/demo_mesh.py --build-dir $(BUILD_DIR)

format:
	@find src tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
