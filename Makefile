# Everything a fresh machine needs: `make demo` and `make test` both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean signer

# The service tests sign tokens as the reference CDS Hooks sandbox does: jsrsasign, by node.
SIGNER := tests/service/signer
SIGNER_STAMP := $(SIGNER)/node_modules/.installed

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,service]'
	touch $(STAMP)

demo: $(VENV)
	$(BIN)/kneerules eval examples/dvt-emergency.json --explain

$(SIGNER_STAMP): $(SIGNER)/package.json $(SIGNER)/package-lock.json
	cd $(SIGNER) && npm ci --no-audit --no-fund --silent
	touch $@

signer: $(SIGNER_STAMP)

test: $(VENV) $(SIGNER_STAMP)
	$(BIN)/ruff check kneerules plugins tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/service.py

clean:
	rm -rf $(VENV) build dist *.egg-info $(SIGNER)/node_modules
