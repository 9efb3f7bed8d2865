# Everyday targets. `make run` and `make test` install what they need (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint format bench bench-peers lock system-deps clean wheel-check \
	i18n-extract i18n-update i18n-compile widget-size swagger-ui

# `make run` installs only what the service needs; `make test` adds the test and
# lint tools. Each stamp is redone when pyproject.toml or constraints.txt change.
$(RUN_STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -c constraints.txt -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The wheel test builds without isolation: it needs this venv's setuptools current.
	$(PIP) --upgrade pip 'setuptools>=69' wheel
	$(PIP) -c constraints.txt -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/loginsvc serve

# Debian packages the tests drive for real: Chromium (browser tests), php-cli and
# WordPress with php-mysql (the plugin, end to end), redis-server and
# redis-sentinel (the Sentinel failover test). Installed only when missing.
system-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v php >/dev/null || missing="$$missing php-cli"; \
	test -f /usr/share/wordpress/wp-settings.php || missing="$$missing wordpress"; \
	php -m 2>/dev/null | grep -qi mysqli || missing="$$missing php-mysql"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	test -x /usr/bin/redis-sentinel || missing="$$missing redis-sentinel"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# axe-core (npm) is injected into the console pages by the browser tests.
tests/e2e/node_modules/axe-core/axe.min.js: tests/e2e/package.json
	npm install --prefix tests/e2e --no-audit --no-fund --silent
	@touch $@

test: $(STAMP) system-deps tests/e2e/node_modules/axe-core/axe.min.js
	@set +e; $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the run"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check loginsvc config tests bench migrations
	$(BIN)/ruff format --check loginsvc config
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format loginsvc config tests bench
	$(BIN)/ruff check --fix loginsvc config tests bench

bench: $(STAMP)
	$(BIN)/python bench/run

# loginsvc beside django-sesame, Flask-Security-Too, Better Auth and a trivial
# Flask app, in one run (see ../shared/bench-peers/README.md; VARIANTS, REPS,
# SKIP_SETUP, LOGINSVC_MODE and WORK pass through).
BENCH_PEERS ?= $(firstword $(wildcard ../shared/bench-peers ../../shared/bench-peers) ../shared/bench-peers)
bench-peers:
	$(BENCH_PEERS)/run

# Texts (see loginsvc/core/i18n.py). The .po files are the catalogs: the service
# compiles them in memory when it loads, so nothing compiled is committed.
CATALOGS := loginsvc/translations
i18n-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --sort-by-file --add-location=file \
	  --no-wrap --project loginsvc --copyright-holder "loginsvc" \
	  -o $(CATALOGS)/messages.pot .

i18n-update: $(STAMP)
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-wrap --ignore-obsolete

# Checks every catalog compiles (with statistics); the .mo files go to build/, for
# tools that want them; the service itself reads the .po files.
i18n-compile: $(STAMP)
	@set -e; for po in $(CATALOGS)/*/LC_MESSAGES/messages.po; do \
	  lang=$$(basename $$(dirname $$(dirname $$po))); mkdir -p build/translations/$$lang/LC_MESSAGES; \
	  $(BIN)/pybabel compile --statistics -l $$lang -i $$po -o build/translations/$$lang/LC_MESSAGES/messages.mo; \
	done

# Refresh the constraints file from the current virtualenv.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^loginsvc' > constraints.txt

# Swagger UI for /docs: the npm package swagger-ui-dist (Apache-2.0), vendored into
# the package's static files with its LICENSE and NOTICE.
SWAGGER_UI_VERSION ?= 5.35.0
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
	favicon-16x16.png favicon-32x32.png LICENSE NOTICE
swagger-ui:
	@tmp=$$(mktemp -d) && (cd $$tmp && npm pack -q swagger-ui-dist@$(SWAGGER_UI_VERSION) >/dev/null \
	  && tar xzf swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz) \
	  && for f in $(SWAGGER_UI_FILES); do cp $$tmp/package/$$f loginsvc/static/swagger-ui/; done \
	  && echo $(SWAGGER_UI_VERSION) > loginsvc/static/swagger-ui/VERSION; rc=$$?; rm -rf $$tmp; exit $$rc

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The storefront widget must stay under 10 kB gzipped (CONTRACT §10); prints its size.
widget-size:
	@raw=$$(wc -c < loginsvc/static/widget.js); gz=$$(gzip -9c loginsvc/static/widget.js | wc -c); \
	echo "widget.js: $$raw bytes, $$gz bytes gzipped (limit 10240)"; test $$gz -lt 10240
