# `make search` and `make test` work on a fresh clone: both go through `make setup`, which (re)creates
# .venv only when requirements.txt, constraints.txt or setup.cfg changed since the last install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup search train test test-all lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps -e .
	touch $(STAMP)

search: setup
	$(BIN)/python search.py $(ARGS)

train: setup
	$(BIN)/python train.py $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench train.py search.py evaluate.py deploy.py
	$(BIN)/mypy src train.py search.py evaluate.py deploy.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
