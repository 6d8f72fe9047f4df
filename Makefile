# Failover workspace tooling. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
CARGO ?= cargo
# Lambda architecture for `make package` (deploy default).
ARCH ?= arm64
# Function binaries packaged by `make package`.
FUNCTIONS ?= alarm-trigger operator

VENV := $(CURDIR)/.venv
MOTO_VERSION := 5.2.5
CARGO_LAMBDA_VERSION := 1.9.2
PINS := moto[server]==$(MOTO_VERSION) cargo-lambda==$(CARGO_LAMBDA_VERSION)
# Holds the pins the venv was last installed with.
TOOLS_STAMP := $(VENV)/.tools-pins

# Read by the test harness (tests/src) to find moto_server and cargo-lambda.
export FAILOVER_VENV := $(VENV)

ifeq ($(ARCH),arm64)
LAMBDA_ARCH_FLAG := --arm64
else ifeq ($(ARCH),x86_64)
LAMBDA_ARCH_FLAG := --x86-64
else ifeq ($(ARCH),x86-64)
LAMBDA_ARCH_FLAG := --x86-64
else
$(error ARCH must be arm64 or x86_64, not '$(ARCH)')
endif

.PHONY: help tools build test demo fmt lint package clean-tools

help:
	@echo "make tools        create .venv with $(PINS) (only when missing or pins changed)"
	@echo "make build        cargo build the workspace binaries (debug)"
	@echo "make test         tools + build, then fmt check, clippy -D warnings, cargo test"
	@echo "make demo         tools + build, then run the failover drill against moto"
	@echo "make fmt          cargo fmt --all"
	@echo "make lint         fmt check + clippy -D warnings"
	@echo "make package      cargo lambda build --release zip for ARCH=$(ARCH)"
	@echo "make clean-tools  remove .venv"

tools:
	@set -euo pipefail; \
	if [ -x "$(VENV)/bin/python" ] && [ -x "$(VENV)/bin/moto_server" ] \
	   && [ -x "$(VENV)/bin/cargo-lambda" ] \
	   && [ "$$(cat "$(TOOLS_STAMP)" 2>/dev/null)" = "$(PINS)" ]; then \
	  echo "tools: up to date ($(PINS))"; \
	  exit 0; \
	fi; \
	if [ ! -x "$(VENV)/bin/python" ]; then \
	  echo "tools: creating venv $(VENV)"; \
	  $(PYTHON) -m venv "$(VENV)"; \
	fi; \
	echo "tools: installing $(PINS)"; \
	"$(VENV)/bin/python" -m pip install --quiet --disable-pip-version-check $(PINS); \
	"$(VENV)/bin/moto_server" --help >/dev/null; \
	"$(VENV)/bin/cargo-lambda" lambda --version >/dev/null; \
	printf '%s' "$(PINS)" > "$(TOOLS_STAMP)"; \
	echo "tools: ready ($$("$(VENV)/bin/cargo-lambda" lambda --version))"

# Debug binaries with the workspace's normal (non-dev) features: these are the
# artifacts `cargo lambda watch` runs (via `cargo run --bin`) in the tests.
build:
	$(CARGO) build --workspace --bins

test: tools build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace

demo: tools build
	$(CARGO) run -q -p integration-tests --bin demo

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Release zips for deployment (target/lambda/<function>/bootstrap.zip).
# Cross-compiling for arm64 uses zig, which the venv's cargo-lambda pulls in.
package: tools
	PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda lambda build --release \
	  --output-format zip $(LAMBDA_ARCH_FLAG) $(addprefix --bin ,$(FUNCTIONS))

clean-tools:
	rm -rf "$(VENV)"
	@echo "tools: removed $(VENV)"
