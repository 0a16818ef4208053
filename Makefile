# Everything a fresh machine needs: `make demo` and `make test` both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench fuzz clean

# `make fuzz` runs the fuzz targets (fuzz/) for FUZZ_SECONDS in all; `make test` a short pass.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 24

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: $(VENV)
	$(BIN)/kneerules eval examples/dvt-emergency.json --explain

test: $(VENV)
	$(BIN)/ruff check kneerules kneerules_plugins tests bench fuzz
	$(BIN)/mypy
	$(BIN)/pytest
	$(BIN)/python -m fuzz.run $(FUZZ_SMOKE_SECONDS)

fuzz: $(VENV)
	$(BIN)/python -m fuzz.run $(FUZZ_SECONDS)

bench: $(VENV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .fuzz
