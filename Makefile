# Everything a fresh machine needs: `make demo` and `make test` both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test check dist bench fuzz clean signer fhir-examples

# `make fuzz` runs the fuzz targets (fuzz/) for FUZZ_SECONDS in all; `make test` a short pass.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 24

# The service tests sign tokens as the reference CDS Hooks sandbox does: jsrsasign, by node.
SIGNER := tests/service/signer
SIGNER_STAMP := $(SIGNER)/node_modules/.installed
# The official FHIR R4 examples and the IPS examples (CC0), which the FHIR tests map.
# Pinned by version and by the tarball's sha512 integrity (as `npm view PKG@VER
# dist.integrity` reports it); fetched with npm once, then kept in $(FHIR_CACHE).
FHIR_CACHE := .cache/fhir
FHIR_EXAMPLES := \
	hl7.fhir.r4.examples@4.0.1=sha512-DXBdIZOeQaSKIgCU7w6HOC7sw/6BzylmipLkBW4f//pT+Bc94x+8LImwTdvaNThPJoOzpBzvxAzNqjeu3X/zLw== \
	hl7.fhir.uv.ips@2.0.0=sha512-4PWToJ9b1FgXsm9DIvHiU6HO9Z5m75jxk0e0MXOmhFlf2m2slk/d6RoiSYIChKJlvmtJ7GbRftt7PphlwmZcbQ==

$(VENV): $(STAMP)

# Editable in compat mode (a path entry), so that mypy outside the repository sees the types;
# every install line must say so, or the last one run wins.
EDITABLE := --config-settings editable_mode=compat

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,fhir,service,dask,parquet]' $(EDITABLE)
	touch $(STAMP)

# The demo needs the core alone: no extra, no test tools.
CORE_STAMP := $(VENV)/.core-installed
$(CORE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e . $(EDITABLE)
	touch $(CORE_STAMP)

demo: $(CORE_STAMP)
	$(BIN)/kneerules eval examples/dvt-emergency.json --explain

# A wheel (and sdist) in dist/: kneerules is not on PyPI, so this is how it is shipped.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

$(SIGNER_STAMP): $(SIGNER)/package.json $(SIGNER)/package-lock.json
	cd $(SIGNER) && npm ci --no-audit --no-fund --silent
	touch $@

signer: $(SIGNER_STAMP)

fhir-examples:
	tools/fetch-fhir-examples.sh $(FHIR_CACHE) $(FHIR_EXAMPLES)

test: $(VENV) $(SIGNER_STAMP) fhir-examples
	$(BIN)/ruff check kneerules tests bench fuzz tools
	$(BIN)/mypy
	$(BIN)/pytest
	$(BIN)/python -m fuzz.run $(FUZZ_SMOKE_SECONDS)

# The fast lane for the edit-test loop: lint, types and the tests not marked slow, on every
# core (under 90 s on a 2-core machine). `make test` stays the whole suite.
check: $(VENV) $(SIGNER_STAMP) fhir-examples
	$(BIN)/ruff check kneerules tests bench fuzz tools
	$(BIN)/mypy
	$(BIN)/pytest -m "not slow" -n auto -q

fuzz: $(VENV)
	$(BIN)/python -m fuzz.run $(FUZZ_SECONDS)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,fhir,service,dask,parquet,bench]' $(EDITABLE)
	touch $(BENCH_STAMP)

# Every figure of issues 7 and 17 (bench/run.py, under 5 minutes), then the integrations'.
bench: $(BENCH_STAMP) fhir-examples
	$(BIN)/python bench/run.py
	$(BIN)/python bench/fhir_mapping.py
	$(BIN)/python bench/service.py

clean:
	rm -rf $(VENV) build dist *.egg-info $(SIGNER)/node_modules .fuzz
# (the FHIR example cache, .cache/fhir, is kept: `rm -rf .cache` to fetch it again)
