# Two entry points: `make run` and `make test`. Both set everything up idempotently first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB := web
WEB_INPUTS := $(shell find $(WEB)/src $(WEB)/public $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig*.json \
	src/turbodraft/models/manifest.json -type f 2>/dev/null)

.PHONY: setup run test lint typecheck test-python test-web chromium clean lock

include mk/worker.mk

$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(WEB_INPUTS)
	cd $(WEB) && npm run build

setup: $(BIN)/.installed $(WEB)/dist/index.html

run: setup
	$(BIN)/turbodraft serve

# Debian's Chromium for the browser tests; never a browser download of Playwright's own.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

lint: setup
	$(BIN)/ruff check src tests bench devtools
	cd $(WEB) && npm run lint

typecheck: setup
	$(BIN)/mypy
	cd $(WEB) && npm run typecheck

test-web: setup
	cd $(WEB) && npm test

test-python: setup chromium
	$(BIN)/pytest

test: lint typecheck test-web test-python test-worker

# Re-pin the Python dependencies after changing pyproject.toml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^turbodraft' > requirements.lock

clean:
	rm -rf $(VENV) $(WORKER_VENV) $(WEB)/node_modules $(WEB)/dist
