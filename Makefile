# Every target builds .venv itself, so a fresh clone needs nothing but Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kronobarn demo

# The whole suite: unit, integration (real broker, SQLite, PostgreSQL) and end to end.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/pytest

# The fast lane (under two minutes): the import contracts and the unit tests, no I/O.
check: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/kronobarn bench

clean:
	rm -rf $(VENV) var .pytest_cache
