# The two commands a new user needs: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean-venv

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,postgres]"
	touch $(STAMP)

## demo: set up and run the main job on the embedded SQLite default (V=1: every output)
demo: $(STAMP)
	$(PY) -m disburse.entry.demo $(if $(V),-v)

## test: set up and run the whole test suite (DISBURSE_TEST_DATABASE_URL selects PostgreSQL)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff, strict mypy on the four packages, and the import contracts (setup.cfg [importlinter])
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --config-file setup.cfg disburse beneficiaries bank_adapters reconciliation migrations
	$(VENV)/bin/lint-imports setup.cfg

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean-venv:
	rm -rf $(VENV)
