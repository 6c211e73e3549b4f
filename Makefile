# coinstream — `make help` lists the targets. Everything installs itself:
# the venv, pinned jars and Go-built binaries land in $(COINSTREAM_CACHE).
SHELL := /bin/bash
.DEFAULT_GOAL := help

export COINSTREAM_CACHE ?= $(HOME)/.cache/coinstream
export UV_CACHE_DIR ?= $(COINSTREAM_CACHE)/uv
export COINSTREAM_SHARED ?= $(abspath $(CURDIR)/../shared)
UV_VERSION := 0.9.9
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
UV := $(COINSTREAM_CACHE)/uv-$(UV_VERSION)/bin/uv
PYTEST := $(BIN)/pytest -p no:cacheprovider

# Each area adds its own test target to TEST_TARGETS in mk/<area>.mk.
TEST_TARGETS := test-unit test-ingest

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(COINSTREAM_CACHE)/uv-$(UV_VERSION)
	$(COINSTREAM_CACHE)/uv-$(UV_VERSION)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: requirements.lock pyproject.toml | $(UV)
	@test -x $(PY) || $(UV) venv -q --python python3.11 $(VENV)
	$(UV) pip sync -q --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $@

venv: $(VENV)/.synced ## Create the virtualenv from the lock file

lock: | $(UV) ## Re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock -q

pin-jars: venv ## Resolve the Java components from Maven Central and pin every jar's SHA-256 (poms/*.lock)
	$(PY) -m coinstream.devstack.jars

lint: venv ## ruff + mypy
	$(BIN)/ruff check src tests operators bench
	$(BIN)/ruff format --check src tests operators bench
	$(BIN)/mypy

fmt: venv ## Format and autofix
	$(BIN)/ruff format src tests operators bench
	$(BIN)/ruff check --fix src tests operators bench

test-unit: venv ## Fast tests, no services (tests/unit/<area>)
	$(PYTEST) tests/unit

test-ingest: venv ## Producer, backfill and the CLI against a real local Kafka broker (tests/system/{ingest,cli})
	$(PYTEST) tests/system/ingest tests/system/cli

schemas: venv ## Regenerate schemas/ from the models (a unit test fails when they drift)
	$(PY) -c "import json; from coinstream.models import quote_json_schema; \
	  print(json.dumps(quote_json_schema(), indent=2, sort_keys=True))" > schemas/quote-v1.schema.json

demo: venv ## The embedded platform end to end on a simulated market
	$(BIN)/coinstream demo

bench-produce: venv ## Producer quotes/s against a raw kafka-python loop (record in bench/README.md)
	$(PY) bench/produce.py

clean: ## Remove the venv and local state (not the download cache)
	rm -rf $(VENV) .state

include $(wildcard mk/*.mk)

test: lint $(TEST_TARGETS) ## Everything CI runs

bench: bench-produce bench-operator bench-stream bench-hdfs ## Every benchmark (bench/README.md has the results)

.PHONY: pin-jars help venv lock lint fmt schemas test test-unit test-ingest demo bench bench-produce clean
