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

COMPAT_VENV := .venv-airflow31
COMPAT_LOCK := ci/airflow-3.1-requirements.txt

.PHONY: help install deps-system lint typecheck unit compat compat-lock test demo up bench clean

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

# The deployment tests (tests/deployment/) run a private PostgreSQL server: Debian's package, installed
# here when its binaries are missing and we may (root, apt-get). Debian's own "main" cluster is not
# created (the tests make their own, on a free port). Elsewhere the tests skip, saying why.
PG_BINARIES := $(wildcard /usr/lib/postgresql/*/bin/initdb)
deps-system:
ifeq ($(PG_BINARIES),)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		mkdir -p /etc/postgresql-common && \
		{ grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf || \
		  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf; } && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y -qq \
			--no-install-recommends -o Dpkg::Options::=--force-confold postgresql; \
	else \
		echo "PostgreSQL is missing and cannot be installed here (needs root and apt-get): tests/deployment will skip."; \
	fi
endif

lint: install
	$(UV) run --frozen ruff check airflow_import_jobs tests example_dags scripts benchmarks
	$(UV) run --frozen ruff format --check airflow_import_jobs tests example_dags scripts benchmarks

typecheck: install
	$(UV) run --frozen mypy

unit: install deps-system
	$(UV) run --frozen pytest -q

# The oldest supported Airflow (3.1.x), pinned in its own lock file, runs the unit suite too:
# the ">=3.1" claim is tested, not assumed.
$(COMPAT_VENV)/.synced: $(UV) $(COMPAT_LOCK) pyproject.toml
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(COMPAT_VENV)
	VIRTUAL_ENV=$(COMPAT_VENV) $(UV) pip install --quiet --compile-bytecode -r $(COMPAT_LOCK)
	VIRTUAL_ENV=$(COMPAT_VENV) $(UV) pip install --quiet --compile-bytecode --no-deps -e .
	@touch $@

compat: $(COMPAT_VENV)/.synced
	$(COMPAT_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not e2e and not browser" \
		--ignore=tests/e2e --ignore=tests/browser --ignore=tests/test_bench_smoke.py --ignore=tests/test_packaging.py

# Regenerate the 3.1 lock after changing dependencies.
compat-lock: $(UV)
	echo "apache-airflow==3.1.8" > /tmp/aij-compat-constraint.txt
	$(UV) pip compile pyproject.toml --group dev --python-version 3.10 --no-header --quiet \
		--constraints /tmp/aij-compat-constraint.txt -o $(COMPAT_LOCK)

test: lint typecheck unit compat

demo: install
	$(UV) run --frozen python scripts/demo.py

up: install
	$(UV) run --frozen python scripts/demo.py --keep-running

bench: install
	$(UV) run --frozen python -m benchmarks.run

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
