# `make run`: set up and serve the catalog, API and pages on the embedded default.
# `make test`: set up (system packages included) and run the whole suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite uses for real: PostgreSQL and Redis servers,
# docker-compose to validate the compose file (no Docker engine runs here), and Chromium,
# which Playwright drives for the page tests (no browser is downloaded).
SYSTEM_PACKAGES := postgresql redis-server docker-compose chromium
# The gateway benchmark's fixed-answer upstream and its load generator.
BENCH_PACKAGES := nginx-light wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check bench install system-packages migrate seed clean vendor docs docs-serve

run: seed
	$(BIN)/modelyard keys dev
	$(BIN)/modelyard serve

test: install system-packages check
	$(BIN)/pytest

check: install docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The manual (docs/, mkdocs.yml): --strict fails on a broken link or a page missing from the
# nav; `check` builds it too, so CI does.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: install
	$(BIN)/mkdocs serve

# Slow benchmarks and soak tests, on demand. -n 0: in one process, alone on the machine (the
# suite's parallel workers would skew the figures, and -s shows them only without workers).
bench: install
	$(MAKE) system-packages SYSTEM_PACKAGES="$(SYSTEM_PACKAGES) $(BENCH_PACKAGES)"
	$(BIN)/pytest -n 0 -m slow -s tests/perf

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# llama-cpp-python compiles for ~8 minutes the first time; pip's cache serves it after that.
# The editable install also compiles the privacy scan's C extension (setup.py) in place.
$(STAMP): pyproject.toml setup.py router/privacy/_runs.c | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-packages:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

migrate: install
	$(BIN)/modelyard db upgrade

seed: migrate
	$(BIN)/modelyard catalog seed
	$(BIN)/modelyard router fit-bundled

# The pages' browser libraries, from npm at the versions web/frontend/package-lock.json pins,
# copied with their licences into web/static/vendor (committed: serving needs no npm).
VENDOR := web/static/vendor
NODE_MODULES := web/frontend/node_modules
vendor:
	cd web/frontend && npm ci --no-audit --no-fund
	cp $(NODE_MODULES)/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp $(NODE_MODULES)/htmx.org/LICENSE $(VENDOR)/htmx.LICENSE
	cp $(NODE_MODULES)/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js
	cp $(NODE_MODULES)/chart.js/LICENSE.md $(VENDOR)/chart.js.LICENSE.md

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
