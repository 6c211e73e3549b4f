# coinstream — `make help` lists the targets. Everything installs itself:
# the venv, pinned jars and Go-built binaries land in $(COINSTREAM_CACHE).
SHELL := /bin/bash
.DEFAULT_GOAL := help

export COINSTREAM_CACHE ?= $(HOME)/.cache/coinstream
export UV_CACHE_DIR ?= $(COINSTREAM_CACHE)/uv
export COINSTREAM_SHARED ?= $(abspath $(CURDIR)/../shared)
include src/coinstream/versions.env
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
UV := $(COINSTREAM_CACHE)/uv-$(UV_VERSION)/bin/uv
PYTEST := $(BIN)/pytest -p no:cacheprovider

# Each area adds its own test target to TEST_TARGETS in mk/<area>.mk.
TEST_TARGETS := test-unit test-ingest

##@ Start here

help: ## List the targets, by section
	@awk 'BEGIN {FS = ":.*?## "} /^##@ / {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_-]+:.*?## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' \
	  $(filter-out %.env,$(MAKEFILE_LIST))

$(UV):
	python3 -m venv $(COINSTREAM_CACHE)/uv-$(UV_VERSION)
	$(COINSTREAM_CACHE)/uv-$(UV_VERSION)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: requirements.lock pyproject.toml | $(UV)
	@test -x $(PY) || $(UV) venv -q --python python3.11 $(VENV)
	$(UV) pip sync -q --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $@

##@ Set-up

venv: $(VENV)/.synced ## Create the virtualenv from the lock file

# One lock per consumer, all hash-checked and resolved with the dev lock as constraint (shared
# packages keep one version): the dev venv (every extra + test tools), then each image's extras.
LOCK := $(UV) pip compile --generate-hashes --python-version 3.11 -q
lock: | $(UV) ## Re-resolve requirements.lock (dev) and each image's lock from pyproject.toml
	$(LOCK) pyproject.toml --extra dev -o requirements.lock
	$(LOCK) pyproject.toml --extra ingest --extra operator --extra dashboard -c requirements.lock \
	  -o images/app/requirements.lock
	$(LOCK) pyproject.toml -c requirements.lock -o images/spark/requirements.lock
	$(LOCK) pyproject.toml images/notebook/requirements.in --extra notebook -c requirements.lock \
	  -c images/notebook/requirements.lock -o images/notebook/requirements.lock

pin-jars: venv ## Resolve the Java components from Maven Central and pin every jar's SHA-256 (poms/*.lock)
	$(PY) -m coinstream.devstack.pins

##@ Develop

lint: venv ## ruff + mypy
	$(BIN)/ruff check src tests operators bench
	$(BIN)/ruff format --check src tests operators bench
	$(BIN)/mypy

fmt: venv ## Format and autofix
	$(BIN)/ruff format src tests operators bench
	$(BIN)/ruff check --fix src tests operators bench

##@ Test (make test runs every test-* target once)

test-unit: venv ## Fast tests, no services (tests/unit/<area>)
	$(PYTEST) tests/unit

test-ingest: venv ## Producer, backfill and the CLI against a real local Kafka broker (tests/system/{ingest,cli})
	$(PYTEST) tests/system/ingest tests/system/cli

##@ Generated files

# Generated files, each `path=generator module` (run as `python -m <module> <path>`): the event JSON
# Schema and the CRD from the models, the operator's RBAC rules, the chart's shared HDFS config.
GENERATED := \
  schemas/quote-v1.schema.json=coinstream.models.event_schema \
  schemas/quote-v1.avsc=coinstream.models.wire \
  charts/coinstream-crds/files/coinfeeds.coinstream.io.yaml=coinstream.models.crd \
  charts/coinstream-operator/files/clusterrole-rules.yaml=coinfeed_operator.rbac \
  charts/coinstream/files/hdfs-site.yaml=coinstream.platform.hdfs_config \
  charts/coinstream/files/trino-rules.json=coinstream.platform.trino_rules

generate: venv ## Regenerate every generated file (schemas, CRD, RBAC rules, HDFS chart config, Trino access rules)
	@for g in $(GENERATED); do $(PY) -m $${g#*=} $${g%%=*} && echo "wrote $${g%%=*}" || exit 1; done

check-generated: venv ## Fail when a committed generated file differs from what `make generate` writes
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for g in $(GENERATED); do f=$${g%%=*}; \
	  $(PY) -m $${g#*=} "$$tmp/$$f" || exit 1; \
	  diff -u "$$f" "$$tmp/$$f" || { echo "$$f is stale: run make generate and commit it"; exit 1; }; \
	done; echo "generated files are current"

##@ Run

demo: venv ## The embedded platform end to end on a simulated market
	$(BIN)/coinstream demo

##@ Benchmarks (results in bench/README.md)

bench-produce: venv ## Producer quotes/s against a raw kafka-python loop (and raw confluent-kafka; bench/README.md)
	$(PY) bench/produce.py

bench-backfill: venv ## Backfill wall time against the 30 calls/min floor of a rate-limited local server
	PYTHONPATH=. $(PY) bench/backfill.py

##@ Clean up

clean: ## Remove the venv and local state (not the download cache)
	rm -rf $(VENV) .state

include $(wildcard mk/*.mk)

##@ Everything

test: lint check-generated $(TEST_TARGETS) ## Everything CI runs

bench: bench-produce bench-backfill bench-operator bench-stream bench-hdfs bench-queries ## Every benchmark (bench/README.md has the results)

.PHONY: pin-jars help venv lock lint fmt generate check-generated test test-unit test-ingest demo bench bench-produce bench-backfill clean
