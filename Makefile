# Everyday commands. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: demo test lint format bench install install-dev clean-state help

help:
	@echo "make demo    run the demo plant (simulator, Celery worker + beat, web) and print its URL"
	@echo "make test    run the whole test suite (then its TimescaleDB part on TimescaleDB)"
	@echo "make lint    ruff, mypy (the packages listed in pyproject.toml), import contracts (ARCHITECTURE.md),"
	@echo "             makemigrations --check"
	@echo "make bench   run the benchmarks in bench/"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Millwright needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) -m devtools.embedded run --profile demo -- $(PY) manage.py demo

# Three passes on PostgreSQL and TimescaleDB. First, every test but those marked `serial`, the test files spread over
# TEST_WORKERS pytest-xdist processes, each with embedded servers of its own (config/settings/test.py): the browser
# and worker tests mostly wait, so two processes on two cores finish in about half the time. Then the `serial` ones
# (end to end with real-time deadlines: a wall screen riding out restarts, a worker killed with -9, a demo machine
# alerting before it fails) alone, with the machine to themselves. Last, the tests marked `timescale` on a real
# TimescaleDB (tests/timescale/: Node.js + PGlite). Exit status 5 (no test selected, e.g. PYTEST_ARGS names tests
# outside a pass) is no failure.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]
	MILLWRIGHT_TEST_BACKEND=timescaledb $(PY) -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.ingest $(BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.query $(QUERY_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.acquisition $(ACQUISITION_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.acquisition_opcua $(OPCUA_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.failover $(FAILOVER_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.fanout $(FANOUT_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.live $(LIVE_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.oee $(OEE_BENCH_ARGS)
	$(PY) -m bench.pdm $(PDM_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.compression $(COMPRESSION_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.control $(CONTROL_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.scale $(SCALE_BENCH_ARGS)
	$(PY) -m devtools.embedded run --profile bench -- $(PY) -m bench.tag_scale $(TAG_SCALE_BENCH_ARGS)

clean-state:
	$(PY) -m devtools.embedded stop --profile demo || true
	rm -rf .millwright
