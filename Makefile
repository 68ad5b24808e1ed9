# Two commands on a fresh machine: `make demo` and `make test`. Everything else installs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help install lint typecheck unit test e2e demo up bench clean

help:
	@echo "make demo   - run the example DAGs through a real local Airflow against the bundled simulator"
	@echo "make test   - lint, type-check and run every test suite (installs what it needs)"
	@echo "make up     - like demo, but keep Airflow running and print the UI address"
	@echo "make bench  - triggerer scale benchmark (writes BENCHMARKS.md)"

# uv itself comes from PyPI into a private tools venv: nothing global is touched.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

lint: install
	$(UV) run --frozen ruff check src tests example_dags
	$(UV) run --frozen ruff format --check src tests example_dags

typecheck: install
	$(UV) run --frozen mypy

unit: install
	$(UV) run --frozen pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
