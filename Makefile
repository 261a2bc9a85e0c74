# The two commands the README gives: `make run` and `make test`. CI calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := dutypwa
HOST ?= 127.0.0.1
PORT ?= 5000
HTMX_VERSION := 4.0.1
BARCODE_DETECTOR_VERSION := 3.2.2
# axe-core for the page-health crawl only (tests/vendor/, never served by the app).
AXE_CORE_VERSION := 4.10.3
# The zxing-wasm build barcode-detector pins (its package.json); `make vendor` checks it.
ZXING_WASM_VERSION := 3.1.3

.PHONY: run test test-dates browser install translations lint format bench vendor vendor-barcode-detector vendor-axe clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d dutypwa/translations

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# The service worker's unit tests need node_modules (fake-indexeddb), installed exactly
# from package-lock.json whenever that changes.
SW_MODULES := service-worker/node_modules/.installed
$(SW_MODULES): service-worker/package-lock.json service-worker/package.json
	npm ci --prefix service-worker --no-audit --no-fund
	touch $@

test: install $(SW_MODULES) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	npm test --prefix service-worker
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium, with a CJK font for what it renders: installed
# here where we can (root on Debian, as .ci/run), otherwise we say exactly what to install
# (without it the browser tests are skipped, loudly).
WQY_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
browser:
	@if ! command -v chromium >/dev/null || [ ! -e $(WQY_FONT) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium fonts-wqy-microhei for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else \
	    echo "The browser tests need Chromium and a Chinese font. Install them with:"; \
	    echo "    sudo apt-get install -y chromium fonts-wqy-microhei"; \
	    echo "(Debian/Ubuntu; elsewhere put a chromium binary on PATH). Until then they are skipped."; \
	  fi; \
	fi

# The date-sensitive server-side tests again at the calendar's edges, on SQLite, with the
# tests' frozen clock moved by DUTYPWA_TEST_TODAY (tests/clock.py): a month's last day,
# New Year's Eve late at night, a statutory holiday (National Day), 1 March of a non-leap
# year. tests/test_clock.py's canary fails if the setting did not reach the clock.
TEST_DATES := 2027-02-28 2026-12-31T23:30 2027-10-01 2027-03-01
DATE_TESTS := tests/test_clock.py tests/handover tests/test_escalation.py \
	tests/roster/test_roster.py tests/roster/test_requests.py tests/roster/test_comptime.py \
	tests/roster/test_comp_accrual.py tests/roster/test_ics.py tests/roster/test_all_hands.py \
	tests/roster/test_holiday_views.py
test-dates: install
	@status=0; for day in $(TEST_DATES); do \
	  echo "== DUTYPWA_TEST_TODAY=$$day"; \
	  env -u DUTYPWA_TEST_DATABASE_URL DUTYPWA_TEST_TODAY=$$day \
	    $(BIN)/python -m pytest -q -p no:cacheprovider $(DATE_TESTS) || status=1; \
	done; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-extract the user-facing strings and merge them into both catalogs.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o dutypwa/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i dutypwa/translations/messages.pot -d dutypwa/translations --ignore-obsolete --no-fuzzy-matching
	$(BIN)/python tools/fill_english.py

bench: install
	$(BIN)/python bench/coverage.py
	$(BIN)/python bench/nonconformities.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/flush.py
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/roster.py

# Vendored browser libraries, pinned, fetched from the npm registry and committed.
vendor:
	rm -rf /tmp/dutypwa-vendor && mkdir -p /tmp/dutypwa-vendor
	cd /tmp/dutypwa-vendor && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz
	mkdir -p dutypwa/static/vendor/htmx-$(HTMX_VERSION)
	cp /tmp/dutypwa-vendor/package/dist/htmx.min.js /tmp/dutypwa-vendor/package/LICENSE dutypwa/static/vendor/htmx-$(HTMX_VERSION)/
	$(MAKE) --no-print-directory vendor-barcode-detector

# barcode-detector's ES ponyfill bundles zxing-wasm's reader JS (it imports only
# ./zxing-exported.js), so at runtime it needs just its two modules and the reader .wasm
# of the zxing-wasm version it pins; scan.js points locateFile at our copy (no CDN).
# npm install resolves that pin (nested under barcode-detector/node_modules/ or hoisted).
BD_TMP := /tmp/dutypwa-vendor/barcode-detector
BD_DIR := dutypwa/static/vendor/barcode-detector-$(BARCODE_DETECTOR_VERSION)
ZXING_DIR := dutypwa/static/vendor/zxing-wasm-$(ZXING_WASM_VERSION)
vendor-barcode-detector:
	rm -rf $(BD_TMP) && mkdir -p $(BD_TMP)
	npm install --silent --prefix $(BD_TMP) --ignore-scripts --no-audit --no-fund barcode-detector@$(BARCODE_DETECTOR_VERSION)
	set -e; bd=$(BD_TMP)/node_modules/barcode-detector; \
	zx=$$bd/node_modules/zxing-wasm; [ -d $$zx ] || zx=$(BD_TMP)/node_modules/zxing-wasm; \
	pinned=$$(node -p "require('$$bd/package.json').dependencies['zxing-wasm']"); \
	found=$$(node -p "require('$$zx/package.json').version"); \
	[ "$$pinned" = "$(ZXING_WASM_VERSION)" ] && [ "$$found" = "$(ZXING_WASM_VERSION)" ] || { \
	  echo "barcode-detector pins zxing-wasm $$pinned, found $$found, expected $(ZXING_WASM_VERSION)"; exit 1; }; \
	sum=$$(sha256sum $$zx/dist/reader/zxing_reader.wasm | cut -d' ' -f1); \
	grep -q "\"$$sum\"" $$bd/dist/es/zxing-exported.js || { \
	  echo "zxing_reader.wasm ($$sum) is not the build the ponyfill expects"; exit 1; }; \
	rm -rf $(BD_DIR) $(ZXING_DIR) && mkdir -p $(BD_DIR) $(ZXING_DIR); \
	cp $$bd/dist/es/ponyfill.js $$bd/dist/es/zxing-exported.js $$bd/LICENSE $(BD_DIR)/; \
	cp $$zx/dist/reader/zxing_reader.wasm $$zx/LICENSE $(ZXING_DIR)/; \
	cp tools/zxing-cpp-LICENSE $(ZXING_DIR)/LICENSE.zxing-cpp  # the wasm is zxing-cpp (Apache-2.0)

# The accessibility checker the browser tests run (tests/e2e/health.py), pinned and
# committed under tests/vendor/ with its licences: npm pack from the registry, no CDN.
vendor-axe:
	rm -rf /tmp/dutypwa-vendor/axe && mkdir -p /tmp/dutypwa-vendor/axe
	cd /tmp/dutypwa-vendor/axe && npm pack --silent axe-core@$(AXE_CORE_VERSION) >/dev/null && tar xzf axe-core-$(AXE_CORE_VERSION).tgz
	rm -rf tests/vendor/axe-core-$(AXE_CORE_VERSION) && mkdir -p tests/vendor/axe-core-$(AXE_CORE_VERSION)
	cp /tmp/dutypwa-vendor/axe/package/axe.min.js /tmp/dutypwa-vendor/axe/package/LICENSE /tmp/dutypwa-vendor/axe/package/LICENSE-3RD-PARTY.txt tests/vendor/axe-core-$(AXE_CORE_VERSION)/

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
