# Two entry points: `make run` and `make test`. Both set everything up idempotently first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB := web
WEB_INPUTS := $(shell find $(WEB)/src $(WEB)/public $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig*.json \
	src/turbodraft/models/manifest.json -type f 2>/dev/null)

.PHONY: setup run test lint typecheck test-python test-web browsers chromium clean lock

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

# Debian's browsers for the real-browser tests: Chromium (tests/browser), Firefox ESR and WebKitGTK's WebDriver
# on an Xvfb display (tests/crossbrowser); never a browser download of Playwright's or Puppeteer's own.
# Each entry is <program>:<package>; only the missing packages are installed.
BROWSER_PACKAGES := chromium:chromium firefox-esr:firefox-esr WebKitWebDriver:webkit2gtk-driver Xvfb:xvfb
browsers:
	@missing=""; for entry in $(BROWSER_PACKAGES); do \
	  command -v "$${entry%%:*}" >/dev/null || missing="$$missing $${entry#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Browsers for the tests are missing: sudo apt-get install$$missing" >&2; exit 1; fi; fi

chromium: browsers

lint: setup
	$(BIN)/ruff check src tests bench devtools
	cd $(WEB) && npm run lint

typecheck: setup
	$(BIN)/mypy
	cd $(WEB) && npm run typecheck

test-web: setup
	cd $(WEB) && npm test

test-python: setup browsers
	$(BIN)/pytest

test: lint typecheck test-web test-python test-worker

# Re-pin the Python dependencies after changing pyproject.toml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^turbodraft' > requirements.lock

clean:
	rm -rf $(VENV) $(WORKER_VENV) $(WEB)/node_modules $(WEB)/dist
