# The commands the README and CI use. `make help` lists them.
VENV ?= .venv
PYTHON ?= python3.11
BIN = $(VENV)/bin
INI ?= config/kinto.ini
PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: help install install-test serve migrate test test-fast lint bench model-long soak test-reliability differential clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed  ## Create the venv and install the server

install-test: $(VENV)/.installed-test  ## Install what the tests need

migrate: install  ## Create or migrate the database schema of $(INI)
	$(BIN)/kinto-clone migrate --ini $(INI)

serve: migrate  ## Serve the API on 127.0.0.1:$(PORT) with $(INI) (SQLite under ./data/)
	$(BIN)/kinto-clone start --ini $(INI) --port $(PORT)

test: install-test  ## The whole suite on memory, SQLite and PostgreSQL, with a coverage report
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --cov --cov-report=term:skip-covered $(PYTEST_ARGS) tests

test-fast: install-test  ## The suite on the memory backend only, without the packaging test
	KINTO_CLONE_TEST_BACKENDS=memory $(BIN)/python -m pytest -q -x -p no:cacheprovider -m "not packaging" $(PYTEST_ARGS) tests

lint: install-test  ## ruff check, ruff format --check, and mypy on kinto_clone/ (setup.cfg)
	$(BIN)/ruff check kinto_clone tests bench
	$(BIN)/ruff format --check kinto_clone tests bench
	$(BIN)/mypy

test-reliability: install-test  ## nginx + 2 web heads, PostgreSQL outage, 20 s soak (figures printed)
	$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/reliability/test_web_heads.py tests/reliability/test_database_outage.py tests/reliability/test_soak.py

soak: install-test  ## Soak for SOAK_SECONDS (default 300): p50/p99 and RSS
	KINTO_CLONE_SOAK_SECONDS=$(or $(SOAK_SECONDS),300) $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/reliability/test_soak.py

model-long: install-test  ## The model-based test with 2000 examples per backend (~30 min)
	KINTO_CLONE_MODEL_EXAMPLES=2000 $(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/reliability/test_model.py

differential: install-test  ## Compare DIFF_SEQUENCES (1000) random sequences with the real Kinto 26.5.0
	KINTO_CLONE_DIFF_SEQUENCES=$(or $(DIFF_SEQUENCES),1000) KINTO_CLONE_DIFF_SECONDS=$(or $(DIFF_SECONDS),86400) \
	KINTO_CLONE_DIFF_SEED=$(or $(DIFF_SEED),$$(( $$(date +%s) % 1000000 * 1000 ))) \
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/differential/test_differential.py -k random

bench: install  ## Benchmark against the real Kinto 26.5.0 (see bench/README.md)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:  ## Remove the venv and local data
	rm -rf $(VENV) data
