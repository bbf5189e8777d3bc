# imgscan: `make demo` (offline sample scan) and `make test` (installs test deps, runs all).
CARGO ?= cargo
# Without protoc (Debian protobuf-compiler) the containerd source cannot be built, so
# `make build` / `make demo` leave it out rather than fail.
FEATURES ?= $(if $(shell command -v protoc 2>/dev/null),,--no-default-features --features yara)

.PHONY: all build test setup lint demo bench fuzz clean

all: build

build:
	$(CARGO) build --release $(FEATURES)

setup:
	bash scripts/setup-test.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: setup lint
	bash scripts/debian-rootfs.sh all >/dev/null
	$(CARGO) test --no-fail-fast

# Offline: builds the two sample OCI layouts by code, then scans them. The clean one
# must exit 0 and the malicious one 1; anything else fails the demo.
demo:
	$(CARGO) run -q --profile bench $(FEATURES) --example make_samples -- testdata/samples
	$(CARGO) run -q --profile bench $(FEATURES) -- scan --quiet oci-dir:testdata/samples/clean
	@$(CARGO) run -q --profile bench $(FEATURES) -- scan --quiet oci-dir:testdata/samples/malicious; \
	  code=$$?; echo "imgscan exited $$code (1 = findings at or above --fail-on: expected for this sample)"; \
	  [ $$code -eq 1 ]

# Figures, not pass/fail: the walker and the full scan on a Debian rootfs layer against
# gzip/libdeflate/zstd, the seed rule over 1,000,000 UDM events against serde_json alone,
# and name checks per second.
bench: setup
	bash scripts/bench-image.sh
	sh scripts/bench-cache.sh
	$(CARGO) bench --bench rules
	$(CARGO) bench --bench name
	$(CARGO) bench --bench logs
	sh scripts/bench-serve.sh
	RATE=2000 DURATION=10s FIRST=0 sh scripts/bench-serve.sh

# Coverage-guided fuzzing (nightly + cargo-fuzz; not part of `make test`): every target in
# fuzz/ for FUZZ_SECONDS (default 60) each, one at a time; see fuzz/run.sh. Then the
# filesystem view against `umoci unpack` on UMOCI_STACKS seeded random layer stacks
# (`make test` runs 200 of them).
UMOCI_STACKS ?= 5000
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	bash fuzz/run.sh
	IMGSCAN_UMOCI_STACKS=$(UMOCI_STACKS) $(CARGO) test --test umoci

clean:
	$(CARGO) clean
