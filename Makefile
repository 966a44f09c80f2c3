# pg2neo: the two commands a newcomer needs are `make demo` and `make test`; the rest are for
# developers. Builds go to build/<kind>: debug (ASan+UBSan, what tests use), release (-O2, what
# benchmarks and the demo use), fuzz (clang + libFuzzer), valgrind (no sanitizers).
SHELL := /bin/bash
.DEFAULT_GOAL := build
JOBS ?= $(shell nproc)
CMAKE_GEN := -G Ninja
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
MINUTES ?= 10

.PHONY: build debug release fuzz-build valgrind-build setup test unit demo bench soak fuzz valgrind \
        services-up services-down clean install uninstall

setup:
	@scripts/setup

build debug: setup
	@cmake -S . -B build/debug $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DP2N_SANITIZE=ON >/dev/null
	@cmake --build build/debug -j $(JOBS)

release: setup
	@cmake -S . -B build/release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DP2N_TESTS=OFF \
	  -DCMAKE_C_FLAGS_RELEASE="-O2 -g -DNDEBUG" >/dev/null
	@cmake --build build/release -j $(JOBS)

# Everything a fresh machine needs, then unit + integration + fuzz-corpus tests against real
# servers. The CTest summary is the last thing printed. Servers started here are stopped here.
test: build
	@scripts/run-tests build/debug

unit: build
	@cd build/debug && ctest -L 'unit|fuzz' --output-on-failure -j $(JOBS)

demo: release
	@scripts/demo

bench: release
	@scripts/setup --with-bench
	@scripts/bench

soak: release
	@scripts/soak $(MINUTES)

fuzz-build: setup
	@CC=clang cmake -S . -B build/fuzz $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DP2N_FUZZ=ON >/dev/null
	@cmake --build build/fuzz -j $(JOBS)

# Runs every fuzz target for FUZZ_SECONDS each, starting from (and adding to) a scratch copy of
# the committed corpus.
fuzz: fuzz-build
	@scripts/fuzz $(FUZZ_SECONDS)

valgrind-build: setup
	@cmake -S . -B build/valgrind $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build/valgrind -j $(JOBS)

valgrind: valgrind-build
	@scripts/run-tests build/valgrind --valgrind

services-up:
	@scripts/services up
services-down:
	@scripts/services down

install: release
	@cmake -S . -B build/release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --install build/release --prefix $(PREFIX)

uninstall:
	@cmake --build build/release --target uninstall

clean:
	rm -rf build
