# Failover workspace tooling. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
CARGO ?= cargo
# Lambda architecture for `make package` (deploy default).
ARCH ?= arm64
# Function binaries packaged by `make package`.
FUNCTIONS ?= alarm-trigger operator reconciler

VENV := $(CURDIR)/.venv
MOTO_VERSION := 5.2.5
CARGO_LAMBDA_VERSION := 1.9.2
# scripts/moto_server.py's CBOR codec (CloudWatch speaks rpcv2-cbor; moto does not).
CBOR2_VERSION := 6.3.0
PINS := moto[server]==$(MOTO_VERSION) cargo-lambda==$(CARGO_LAMBDA_VERSION) cbor2==$(CBOR2_VERSION)
# Holds the pins the venv was last installed with.
TOOLS_STAMP := $(VENV)/.tools-pins
# checkov has its own venv: its dependencies conflict with moto's.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(CURDIR)/.tools/checkov

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

.PHONY: help bench bench-switch fuzz reliability tools build test demo report-check fmt lint lint-infra infra-docs package clean-tools local-up local-down failover failback status pause resume approve decline

help:
	@echo "make tools        create .venv with $(PINS) (only when missing or pins changed)"
	@echo "make build        cargo build the workspace binaries (debug)"
	@echo "make test         tools + build, then fmt check, clippy -D warnings, cargo test"
	@echo "make demo         tools + build, then the failover drill through the Lambda runtime [SCENARIO=quorum|blocked|flapping|split|staggered|control-plane-outage|runbook]"
	@echo "make report-check render the drill's HTML report in headless Chromium (screenshot + DOM check)"
	@echo "make bench        release functions: cold start, latency and AWS calls per event, RSS, zip size, storm, reconciler, then the switch benchmarks (target/bench/)"
	@echo "make bench-switch the switch benchmarks only: deciding event per mode, reconciler at 1,000 services, region-wide event; emulator vs modelled network"
	@echo "make reliability  the full alarm storm (100 services, 16 processes), fault injection, crash at every step, fuzzing"
	@echo "make fuzz         the event-parsing properties with FUZZ_CASES=$(FUZZ_CASES) cases each (at most FUZZ_SECONDS=$(FUZZ_SECONDS) s)"
	@echo "make fmt          cargo fmt --all"
	@echo "make lint         fmt check + clippy -D warnings"
	@echo "make lint-infra   terraform fmt -check (when terraform is on PATH), checkov $(CHECKOV_VERSION) over infra/ (zero failed checks)"
	@echo "make infra-docs   regenerate the inputs/outputs tables in infra/README.md and infra/modules/*/README.md"
	@echo "make package      cargo lambda build --release zip for ARCH=$(ARCH)"
	@echo "make clean-tools  remove .venv"
	@echo "make local-up     start a local stack (moto + functions) in the background; make local-down stops it"
	@echo "make status [SERVICE=checkout]                                   failoverctl status: the table, or one service in detail"
	@echo "make failover SERVICE=checkout REASON='...' [DRY_RUN=1] [FORCE=1] [REQUESTED_BY=...]"
	@echo "make failback SERVICE=checkout REASON='...' [DRY_RUN=1] [FORCE=1] [REQUESTED_BY=...]"
	@echo "make pause    SERVICE=checkout REASON='...' [UNTIL=2026-11-23T06:00:00Z]"
	@echo "make resume   SERVICE=checkout REASON='...'"
	@echo "make approve  SERVICE=checkout STEP=promote-db REASON='...'   (make decline: the same, ends the workflow)"
	@echo "               operator targets run failoverctl --yes (cli/) against the local stack, or the deployed"
	@echo "               function with FUNCTION_NAME=... [AWS_PROFILE=...] [AWS_REGION=...]; exit 0 done, 1 refused, 2 usage, 3 unreachable"

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

test: tools build lint-infra
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@# Debug builds keep the engine's futures (SDK calls inside) at full size on the stack of
	@# the test thread that polls them; 2 MiB (libtest's default) is too tight for the
	@# deciding path with a workflow. Release builds are far smaller.
	RUST_MIN_STACK=8388608 $(CARGO) test --workspace

# The failover drill: a whole incident through the real Lambda runtime against moto, a
# timeline and an RTO report (target/drill/report.{json,html}). Exit 0: the drill held.
# SCENARIO=quorum (default) | blocked | flapping | split | staggered | control-plane-outage | runbook
SCENARIO ?= quorum
demo: tools build
	$(CARGO) run -q -p integration-tests --bin demo -- --scenario $(SCENARIO)

# The event-parsing properties (arbitrary JSON, arbitrary detail/alarmData under both shapes,
# mutated fixtures: never a panic, every error short) with many more cases than make test.
# Bounded by FUZZ_CASES per property and by FUZZ_SECONDS in all.
FUZZ_CASES ?= 20000
FUZZ_SECONDS ?= 600
fuzz:
	FUZZ_CASES=$(FUZZ_CASES) timeout $(FUZZ_SECONDS) $(CARGO) test -p failover --test events_and_catalog never_panic

# The reliability runs in full (make test has the short forms): the alarm storm (100
# services x 3 observers, up to 30 copies of each event, 16 processes), the fault
# injection and the crash at every step with their reports, then the fuzzing.
reliability: tools build
	$(CARGO) run -q -p integration-tests --bin storm
	$(CARGO) test -p integration-tests --test faults --test crash -- --nocapture
	$(MAKE) --no-print-directory fuzz

# Benchmarks (target/bench/results.json and a table): the release functions as shipped
# (target/lambda/<f>/bootstrap.zip, built for x86_64: this machine runs them) through a
# Lambda Runtime API on loopback against moto. Every build here is without AWS-LC's
# CPU-jitter entropy (.cargo/config.toml); `bench --tls-probe <bootstrap>` shows what it
# would cost. Never fails on a timing. Last, the switch benchmarks (issue 15: the deciding
# event per switch mode, the reconciler at 1,000 services, a region-wide event; on the
# emulator and under the tap's modelled network), the engine in process: the harness is
# therefore built optimised (release without LTO, in target/bench-harness, apart from the
# shipped builds). `make bench-switch` runs only those.
BENCH_HARNESS = CARGO_TARGET_DIR=target/bench-harness CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 $(CARGO) run -q --release -p integration-tests --bin bench --
bench: tools build
	$(MAKE) --no-print-directory package ARCH=x86_64
	$(BENCH_HARNESS)

bench-switch: tools
	$(BENCH_HARNESS) --switch

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# terraform fmt when a terraform binary is on PATH (no providers needed); checkov always.
lint-infra:
	@set -euo pipefail; \
	if command -v terraform >/dev/null 2>&1; then \
	  echo "lint-infra: terraform fmt -check -recursive infra ($$(terraform version 2>/dev/null | head -1))"; \
	  terraform fmt -check -recursive infra || { echo "lint-infra: run terraform fmt -recursive infra" >&2; exit 1; }; \
	else echo "lint-infra: no terraform on PATH, skipping terraform fmt -check"; fi; \
	if [ "$$(cat "$(CHECKOV_VENV)/.pin" 2>/dev/null)" != "$(CHECKOV_VERSION)" ]; then \
	  echo "tools: installing checkov==$(CHECKOV_VERSION) into $(CHECKOV_VENV)"; \
	  rm -rf "$(CHECKOV_VENV)"; mkdir -p "$(dir $(CHECKOV_VENV))"; \
	  $(PYTHON) -m venv "$(CHECKOV_VENV)"; \
	  "$(CHECKOV_VENV)/bin/python" -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION); \
	  printf '%s' "$(CHECKOV_VERSION)" > "$(CHECKOV_VENV)/.pin"; \
	fi; \
	HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
	"$(CHECKOV_VENV)/bin/checkov" --directory infra --framework terraform --quiet --compact \
	  --skip-download --download-external-modules false

# Rewrites the generated inputs and outputs tables of infra/README.md and each
# infra/modules/*/README.md (make test fails while one is stale).
infra-docs:
	UPDATE_INFRA_DOCS=1 $(CARGO) test -q -p integration-tests --test infra

# Release zips for deployment (target/lambda/<function>/bootstrap.zip).
# Cross-compiling for arm64 uses zig, which the venv's cargo-lambda pulls in.
package: tools
	PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda lambda build --release \
	  --output-format zip $(LAMBDA_ARCH_FLAG) $(addprefix --bin ,$(FUNCTIONS))

clean-tools:
	rm -rf "$(VENV)"
	@echo "tools: removed $(VENV)"

LOCAL_STACK_ENV := $(CURDIR)/target/local/stack.env
LOCAL_STACK_LOG := $(CURDIR)/target/local/stack.log

# A local stack for the operator targets: moto with the example service `checkout`, and the
# functions under cargo lambda watch. Runs in the background until `make local-down`.
local-up: tools build
	@mkdir -p target/local
	@if [ -f "$(LOCAL_STACK_ENV)" ]; then echo "local stack already up ($(LOCAL_STACK_ENV))"; exit 0; fi; \
	$(CARGO) build -q -p integration-tests --bin local-stack; \
	nohup "$(CURDIR)/target/debug/local-stack" > "$(LOCAL_STACK_LOG)" 2>&1 & \
	for i in $$(seq 1 120); do \
	  if [ -f "$(LOCAL_STACK_ENV)" ]; then cat "$(LOCAL_STACK_LOG)"; exit 0; fi; sleep 0.5; \
	done; \
	echo "local stack did not start; log: $(LOCAL_STACK_LOG)"; tail -20 "$(LOCAL_STACK_LOG)"; exit 1

local-down:
	@if [ -f "$(LOCAL_STACK_ENV)" ]; then \
	  kill $$(sed -n 's/^PID=//p' "$(LOCAL_STACK_ENV)") 2>/dev/null || true; \
	  for i in $$(seq 1 40); do [ -f "$(LOCAL_STACK_ENV)" ] || break; sleep 0.25; done; \
	  rm -f "$(LOCAL_STACK_ENV)"; echo "local stack stopped"; \
	else echo "no local stack running"; fi

# Operator actions: failoverctl (cli/; `cargo run -q --bin failoverctl -- --help`) against
# the local stack, or the deployed function with FUNCTION_NAME (AWS_PROFILE and AWS_REGION
# choose the account and region). make is not interactive, so the actions pass --yes;
# failoverctl still prints the dry run's plan first. The variables reach the recipe through
# the environment, so a REASON with quotes in it arrives as typed.
# Exit codes: 0 done, 1 refused, 2 usage, 3 unreachable.
export SERVICE REASON REQUESTED_BY DRY_RUN FORCE UNTIL STEP FUNCTION_NAME
# Without -p: the same feature resolution as `make build`, so it reuses those artifacts.
FAILOVERCTL := $(CARGO) run -q --bin failoverctl --
# failoverctl's arguments from the variables, collected in "$$@".
OPERATOR_ARGS := set --; \
	if [ -n "$$FUNCTION_NAME" ]; then set -- "$$@" --function-name "$$FUNCTION_NAME"; fi; \
	if [ -n "$$SERVICE" ]; then set -- "$$@" "$$SERVICE"; fi; \
	if [ -n "$$REASON" ]; then set -- "$$@" --reason "$$REASON"; fi; \
	if [ -n "$$REQUESTED_BY" ]; then set -- "$$@" --requested-by "$$REQUESTED_BY"; fi; \
	if [ -n "$$UNTIL" ]; then set -- "$$@" --until "$$UNTIL"; fi; \
	if [ -n "$$STEP" ]; then set -- "$$@" --step "$$STEP"; fi; \
	case "$$DRY_RUN" in 1|true|yes) set -- "$$@" --dry-run;; esac; \
	case "$$FORCE" in 1|true|yes) set -- "$$@" --force;; esac;

failover failback pause resume approve decline:
	@$(OPERATOR_ARGS) $(FAILOVERCTL) $@ "$$@" --yes

status:
	@set --; \
	if [ -n "$$FUNCTION_NAME" ]; then set -- "$$@" --function-name "$$FUNCTION_NAME"; fi; \
	if [ -n "$$SERVICE" ]; then set -- "$$@" "$$SERVICE"; fi; \
	$(FAILOVERCTL) status "$$@"

# Renders the drill's HTML report in headless Chromium: a screenshot (target/drill/report.png)
# and a check that the timeline is in the rendered DOM (target/drill/report.dom.html).
# Installs Debian's chromium when /usr/bin/chromium is missing (apt-get, as root) and runs
# the demo first when there is no report yet.
CHROMIUM ?= /usr/bin/chromium
DRILL_DIR := $(CURDIR)/target/drill
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync

report-check:
	@set -euo pipefail; \
	if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "report-check: $(CHROMIUM) is missing; as root: apt-get install -y chromium" >&2; exit 1; \
	  fi; \
	  echo "report-check: installing chromium (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "report-check: chromium present ($$("$(CHROMIUM)" --version 2>/dev/null))"; fi; \
	if [ ! -f "$(DRILL_DIR)/report.html" ]; then \
	  echo "report-check: no report yet, running the demo"; $(MAKE) --no-print-directory demo; \
	fi; \
	profile=$$(mktemp -d); trap 'rm -rf "$$profile"' EXIT; \
	rm -f "$(DRILL_DIR)/report.png"; \
	echo "report-check: screenshot of file://$(DRILL_DIR)/report.html"; \
	timeout 120 "$(CHROMIUM)" $(CHROMIUM_FLAGS) --user-data-dir="$$profile" \
	  --screenshot="$(DRILL_DIR)/report.png" --window-size=1280,1600 \
	  "file://$(DRILL_DIR)/report.html" > "$(DRILL_DIR)/chromium.log" 2>&1 || true; \
	timeout 120 "$(CHROMIUM)" $(CHROMIUM_FLAGS) --user-data-dir="$$profile" --dump-dom \
	  "file://$(DRILL_DIR)/report.html" > "$(DRILL_DIR)/report.dom.html" 2>> "$(DRILL_DIR)/chromium.log"; \
	dom="$(DRILL_DIR)/report.dom.html"; \
	rows=$$(grep -o 'class="tl-event ' "$$dom" | wc -l); \
	marks=$$(grep -o 'class="tl-mark"' "$$dom" | wc -l); \
	fail=0; \
	grep -q 'id="timeline-chart"' "$$dom" || { echo "report-check: FAIL: no timeline chart (svg#timeline-chart) in the rendered DOM" >&2; fail=1; }; \
	grep -q 'id="summary"' "$$dom" || { echo "report-check: FAIL: no summary in the rendered DOM" >&2; fail=1; }; \
	[ "$$rows" -ge 10 ] || { echo "report-check: FAIL: $$rows timeline rows (tr.tl-event) in the rendered DOM" >&2; fail=1; }; \
	[ "$$marks" -ge 5 ] || { echo "report-check: FAIL: $$marks chart marks (g.tl-mark) in the rendered DOM" >&2; fail=1; }; \
	[ -s "$(DRILL_DIR)/report.png" ] || { echo "report-check: FAIL: no screenshot; see $(DRILL_DIR)/chromium.log" >&2; fail=1; }; \
	[ "$$fail" = 0 ] || exit 1; \
	echo "report-check: ok: the rendered DOM has the timeline chart ($$marks marks) and $$rows timeline rows"; \
	echo "report-check: screenshot $(DRILL_DIR)/report.png ($$(stat -c %s "$(DRILL_DIR)/report.png") bytes), DOM $$dom"
