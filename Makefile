# imgscan: `make demo` (offline sample scan) and `make test` (installs test deps, runs all).
CARGO ?= cargo

.PHONY: all build test setup lint demo bench clean

all: build

build:
	$(CARGO) build --release

setup:
	bash scripts/setup-test.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: setup lint
	$(CARGO) test --all-targets

clean:
	$(CARGO) clean
