# The two commands the README gives: `make run` and `make test`. CI calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := dutypwa
HOST ?= 127.0.0.1
PORT ?= 5000
HTMX_VERSION := 4.0.1

.PHONY: run test install translations lint format bench vendor clean

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

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

bench: install
	$(BIN)/python bench/coverage.py

# Vendored browser libraries, pinned, fetched from the npm registry and committed.
vendor:
	rm -rf /tmp/dutypwa-vendor && mkdir -p /tmp/dutypwa-vendor
	cd /tmp/dutypwa-vendor && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz
	mkdir -p dutypwa/static/vendor/htmx-$(HTMX_VERSION)
	cp /tmp/dutypwa-vendor/package/dist/htmx.min.js /tmp/dutypwa-vendor/package/LICENSE dutypwa/static/vendor/htmx-$(HTMX_VERSION)/

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
