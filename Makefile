# Sensorium's entry points. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-uvloop test-faults bench setup venv system db-up db-down db-reset fmt lint typecheck clean

run: setup              ## set up everything and run the whole platform with a device simulator
	$(PY) -m scripts.run

test: setup             ## set up everything and run the test suite
	$(PY) -m pytest

test-uvloop: setup      ## the test suite on uvloop's event loop
	SENSORIUM_TEST_UVLOOP=1 $(PY) -m pytest

test-faults: setup      ## fault injection, full version: print the table and write it into docs/reliability.md
	SENSORIUM_FAULTS=full $(PY) -m pytest tests/faults -p no:cacheprovider -m 'not benchmark' --timeout=900

bench: setup            ## measure the workloads, write benchmarks/results/ and docs/performance.md
	$(PY) -m benchmarks $(BENCH_ARGS)

setup: system venv      ## install Debian packages, build TimescaleDB, create the virtualenv

system:
	bash scripts/install-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

db-up: setup            ## start the embedded database (it stays up until db-down)
	$(PY) -m scripts.db up

db-down:                ## stop the embedded database
	$(PY) -m scripts.db down

db-reset: setup         ## drop and recreate the embedded database (all data is lost)
	$(PY) -m scripts.db reset

fmt:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .local/build
