# Everything a fresh machine needs: `make demo` and `make test` both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(VENV)
	$(BIN)/kneerules eval examples/dvt-emergency.json --explain

test: $(VENV)
	$(BIN)/ruff check kneerules kneerules_plugins tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
