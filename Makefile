# Every target that needs Python creates .venv and installs the project first,
# so `make run` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
Q ?= Compare the trade-offs of SQLite and PostgreSQL for a small team's internal chat bot.

.PHONY: install run ask test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Binds 127.0.0.1 unless HEAVY_HOST says otherwise; its log says which address to open.
run: install
	$(BIN)/heavy serve

ask: install
	$(BIN)/heavy ask "$(Q)"

test: install
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: install
	$(BIN)/ruff check heavy_engine bots tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
