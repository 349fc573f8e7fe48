# otel-scaffold: `make demo` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Caches shared by every render the tests compile, kept outside the checkout.
CACHE_DIR ?= $(HOME)/.cache/otel-scaffold
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/cargo-target
# The renders are compiled once or twice each: incremental data (tens of GB across the test
# tiers' many crates) would cost disk and buy nothing.
export CARGO_INCREMENTAL ?= 0
export GOTOOLCHAIN ?= local
PYTEST_ARGS ?=
DEMO_DIR ?= build/demo

.PHONY: install lint format test test-unit test-compile contract e2e demo demo-trace bench collector golden template-check clean

# setuptools announces every editable install with an "Editable installation" notice (not a
# deprecation); the filter hides that one message, any other warning still shows.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation:UserWarning' $(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check scaffold tests benchmarks setup.py
	$(BIN)/ruff format --check scaffold tests benchmarks setup.py
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix scaffold tests benchmarks
	$(BIN)/ruff format scaffold tests benchmarks

# The whole suite: lint, unit, render + compile and the contract tier, then end to end on its
# own (its latency figures must not compete with compiles). .ci/run calls this. loadgroup keeps
# each xdist group (the contract tier) on one worker, so its services are built once.
test: lint
	$(BIN)/pytest -n 2 --dist loadgroup -m 'not e2e' $(PYTEST_ARGS)
	$(MAKE) e2e

# A generated Go service calls a generated Rust service; a real collector receives both.
e2e: install
	rm -f build/e2e-figures.json
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)
	@cat build/e2e-figures.json

test-unit: install
	$(BIN)/pytest -m 'not compile' $(PYTEST_ARGS)

test-compile: install
	$(BIN)/pytest -n 2 --dist loadgroup -m 'compile and not e2e' $(PYTEST_ARGS)

# The telemetry contract: Go and Rust services of one policy against the semantic conventions,
# the policy and each other (docs/telemetry-contract.md). Figures in build/contract-figures.json.
contract: install
	$(BIN)/pytest -m contract $(PYTEST_ARGS)
	@cat build/contract-figures.json

# Render a Go and a Rust service from the bundled templates, without a single prompt.
demo: install
	rm -rf $(DEMO_DIR)
	mkdir -p $(DEMO_DIR)
	$(BIN)/scaffold new payments-api --lang go --defaults --data boundaries='[http_client, grpc_server, grpc_client, database, messaging]' --dest $(DEMO_DIR)/payments-api
	$(BIN)/scaffold new ledger --lang rust --defaults --dest $(DEMO_DIR)/ledger
	@echo "Demo services are in $(DEMO_DIR)/: see their README.md"

# Build and run the demo services, call Go -> Rust once, and let `scaffold dev` show the one trace
# across both (exit 0 when it arrived). Needs Go and Rust; the first run builds the collector.
demo-trace: demo
	bash scripts/demo-trace.sh $(DEMO_DIR)

# Benchmarks that print figures: --help start-up and scaffold new vs copier, the generated
# middleware, fleet upgrade vs a serial copier update loop.
bench: install
	$(BIN)/python benchmarks/bench_help.py
	$(BIN)/python benchmarks/bench_new.py
	$(BIN)/python benchmarks/bench_middleware.py
	$(BIN)/python benchmarks/bench_fleet.py

# Build (or reuse) the OpenTelemetry Collector of collector/manifest.yaml, cached in $(CACHE_DIR).
collector:
	SCAFFOLD_CACHE=$(CACHE_DIR) bash collector/build.sh

# Re-render the golden snapshots in tests/golden after an intended template change; review with git diff.
golden: install
	UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py
	git diff --stat -- tests/golden

# Prove the bundled templates on a pairwise matrix of combinations.
template-check: install
	$(BIN)/scaffold template check --jobs 2 --json build/template-check.json

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
