# Thin wrapper around CMake.  `make run` and `make test` install what they
# need (Debian packages, pinned npm test tools) first; both are idempotent.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all build deps test-deps bench-deps npm-deps run test unit asan fuzz fuzz-smoke bench clean format install

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

# The test peers plus nginx, for `make bench` only.
bench-deps:
	@scripts/deps.sh bench

# Node.js and the npm packages: the MCP servers `make run` fronts.
npm-deps:
	@scripts/deps.sh npm

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

run: build npm-deps
	scripts/run.sh $(BUILD)/mcpgate

# The whole suite; then all of it again under ASan and UBSan; then every fuzz
# driver for a few seconds on its corpus, so that none of them rots.
test: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j2
	$(MAKE) asan
	$(MAKE) fuzz-smoke

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMCPGATE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j2

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DMCPGATE_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)

FUZZ_SECONDS ?= 10
fuzz-smoke: fuzz
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# Token issuance (bench/run.sh), then the gateway (bench/gateway.sh).
bench: build bench-deps
	bench/run.sh
	bench/gateway.sh

# Installs the program, libmcpgate (shared and static), include/mcpgate/ and
# mcpgate.pc under PREFIX; DESTDIR is honoured for staged installs.
PREFIX ?= /usr/local
install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
