# `make search` and `make test` work on a fresh clone: both go through `make setup`, which (re)creates
# .venv only when requirements*.txt, constraints.txt or setup.cfg changed since the last install.
# requirements-ood.txt (the out-of-domain evaluation set, kdnas.data.out_of_domain) goes in with --no-deps: only
# its gettext catalogs are read, nothing imports it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup postgres search train test test-all lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-ood.txt constraints.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps -e .
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps --no-compile -r requirements-ood.txt
	touch $(STAMP)

# The candidate store's PostgreSQL tests start a throw-away server from Debian's postgresql package: install it
# when missing and we may (root with apt-get, as in CI); elsewhere those tests are skipped, saying why.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's postgresql (for the store tests)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } \
	      || echo "apt-get install postgresql failed: the store tests will say why they cannot start a server"; \
	  else echo "PostgreSQL is not installed: its store tests will be skipped (apt-get install postgresql)"; fi; }

search: setup
	$(BIN)/python search.py $(ARGS)

train: setup
	$(BIN)/python train.py $(ARGS)

test: setup postgres
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench train.py search.py evaluate.py deploy.py
	$(BIN)/mypy src train.py search.py evaluate.py deploy.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
