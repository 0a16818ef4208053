# Everything a fresh machine needs: `make demo` and `make test` both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test check dist bench fuzz clean signer fhir-examples browser sandbox-test

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
	$(BIN)/kneerules eval examples/dvt-same-day.json --explain

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

# The page tests (tests/test_pages.py) open the audit report and the rule book in Debian's
# chromium, driven through chromium-driver. Best effort: installed with apt when it can be
# (as root); without it those tests are skipped, saying why, and the build goes on. Pinned
# to the version tested; Debian's security archive keeps only the latest Chromium, so when
# the pin is gone the current one is installed instead.
CHROMIUM_VERSION := 156.0.8078.114-1~deb12u1

browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq >/dev/null 2>&1; \
	  apt-get install -y -qq --no-install-recommends chromium=$(CHROMIUM_VERSION) \
	    chromium-common=$(CHROMIUM_VERSION) chromium-driver=$(CHROMIUM_VERSION) >/dev/null 2>&1 \
	  || apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
	  || echo "make browser: chromium could not be installed; the page tests will be skipped"; \
	else echo "make browser: no apt-get as root; the page tests will be skipped"; fi

test: $(VENV) $(SIGNER_STAMP) fhir-examples browser
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

# The official CDS Hooks sandbox showing the kneerules card (tests/sandbox): SANDBOX_SRC is a
# checkout of github.com/cds-hooks/sandbox, built there with npm (npm ci --ignore-scripts,
# npm run build); Debian's chromium and chromium-driver drive it headless (no browser is
# downloaded; `make browser` installs them when it can). Skipped, saying why, when
# SANDBOX_SRC, npm or the browser is missing.
SANDBOX_SRC ?=
sandbox-test: $(VENV) browser
	SANDBOX_SRC="$(SANDBOX_SRC)" $(BIN)/pytest -p no:cacheprovider -rs -s tests/sandbox

clean:
	rm -rf $(VENV) build dist *.egg-info $(SIGNER)/node_modules .fuzz
# (the FHIR example cache, .cache/fhir, is kept: `rm -rf .cache` to fetch it again)
