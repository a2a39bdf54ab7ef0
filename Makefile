# The two commands in the README (`make demo`, `make test`) and a few more.
# Everything runs in a virtual environment in .venv, made on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.accord-installed

.PHONY: demo test lint docs check tox clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## demo: a guided tour of accord on real servers
demo: $(STAMP)
	$(BIN)/python -m examples.demo

## test: the whole test suite, in one environment (start services first: see README)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff and mypy --strict, as `tox -e lint` runs them
lint: $(STAMP)
	$(BIN)/ruff check accord tests benchmarks docs examples
	$(BIN)/ruff format --check accord tests benchmarks docs examples
	$(BIN)/mypy

## docs: the Sphinx site, warnings as errors, into docs/_build/html
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

check: lint docs

## tox: the full matrix (Python 3.10-3.13 x Django x Celery)
tox: $(STAMP)
	$(BIN)/tox run-parallel

clean:
	rm -rf $(VENV) .tox docs/_build .mypy_cache .ruff_cache .pytest_cache
