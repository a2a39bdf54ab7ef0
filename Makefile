# The two commands in the README (`make demo`, `make test`) and a few more.
# Everything runs in a virtual environment in .venv, made on first use.
#
# `make test` needs Debian packages a fresh machine lacks (ZooKeeper's jars
# and a JRE for the ZooKeeper tests, the MariaDB client headers to build
# mysqlclient): scripts/require-debian-packages installs them when run as root
# with apt, and otherwise stops, naming the command to run. `make demo` needs
# none of them.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.accord-demo-installed
DEV_STAMP := $(VENV)/.accord-dev-installed
TEST_PACKAGES := libzookeeper-java default-jre-headless libmariadb-dev pkg-config chromium chromium-driver

.PHONY: demo test lint docs check tox clean system-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@scripts/require-debian-packages "make test" $(TEST_PACKAGES)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

system-packages:
	@scripts/require-debian-packages "make test" $(TEST_PACKAGES)

## demo: a guided tour of accord on real servers
demo: $(DEMO_STAMP)
	$(BIN)/python -m examples.demo

## test: the whole test suite, in one environment
test: system-packages $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff and mypy --strict, as `tox -e lint` runs them
lint: $(DEV_STAMP)
	$(BIN)/ruff check accord tests benchmarks docs examples
	$(BIN)/ruff format --check accord tests benchmarks docs examples
	$(BIN)/mypy

## docs: the Sphinx site, warnings as errors, into docs/_build/html
docs: $(DEV_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

check: lint docs

## tox: the full matrix (Python 3.10-3.13 x Django x Celery)
tox: system-packages $(DEV_STAMP)
	$(BIN)/tox run-parallel

clean:
	rm -rf $(VENV) .tox docs/_build .mypy_cache .ruff_cache .pytest_cache
