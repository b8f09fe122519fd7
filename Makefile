# Every target that needs Python creates .venv and installs what it needs first, so
# `make run` and `make test` work on a fresh clone. `make run` and `make ask` install the
# runtime only (`pip install -e .`); `make test`, `make lint` and `make bench` add the dev
# extra (pytest, ruff, mypy, Playwright, the PostgreSQL driver): about a third of the size
# and time, so the first page is not kept waiting for the test toolchain.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
Q ?= Compare the trade-offs of SQLite and PostgreSQL for a small team's internal chat bot.

.PHONY: install run ask test lint bench clean

# Python 3.11's own pip installs a pyproject.toml project in editable mode: no pip upgrade.
$(BIN)/python:
	$(PY) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

# Everything, for working on heavy (the dev extra too).
install: $(DEV_STAMP)

# Binds 127.0.0.1 unless HEAVY_HOST says otherwise; its log says which address to open.
run: $(RUN_STAMP)
	$(BIN)/heavy serve

ask: $(RUN_STAMP)
	$(BIN)/heavy ask "$(Q)"

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: $(DEV_STAMP)
	$(BIN)/ruff check heavy_engine bots tests bench
	$(BIN)/mypy

bench: $(DEV_STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
