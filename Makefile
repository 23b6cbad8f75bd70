# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed

.PHONY: run serve serve-proxy test lint install bench browser-deps node-deps clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Serve the app on http://127.0.0.1:5000 with the control library and the demo loaded.
# The dev server speaks plain HTTP, so session cookies are not marked Secure here.
run: $(STAMP)
	$(FLASK) init-db
	$(FLASK) load-controls
	$(FLASK) demo
	SESSION_COOKIE_SECURE=0 SCHEDULER=inprocess MAIL_CONSOLE=1 $(FLASK) run --host 127.0.0.1 --port 5000

# Production: gunicorn with gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS, BIND, ...) on the configured
# DATABASE_URL and EVIDENCE_STORE; run the scheduler as its own process: `flask --app app scheduler`.
# gunicorn's threads must not face clients directly (a client trickling its headers holds a thread): run
# `make serve-proxy` beside it, nginx on PROXY_LISTEN in front of BIND, and set TRUSTED_PROXIES=1.
serve: $(STAMP)
	$(FLASK) init-db
	$(FLASK) load-controls
	$(BIN)/gunicorn -c gunicorn.conf.py

PROXY_LISTEN ?= 0.0.0.0:8080
PROXY_RUNTIME ?= $(CURDIR)/.nginx
serve-proxy:
	mkdir -p $(PROXY_RUNTIME)
	$(PY) -c 'import os, string, sys; print(string.Template(open("nginx.conf.in").read()).substitute(listen=sys.argv[1], upstream=os.environ.get("BIND", "127.0.0.1:8000").split(",")[0], runtime=sys.argv[2], max_body=int(os.environ.get("MAX_UPLOAD_MB", "100")) + 1))' $(PROXY_LISTEN) $(PROXY_RUNTIME) > $(PROXY_RUNTIME)/nginx.conf
	nginx -c $(PROXY_RUNTIME)/nginx.conf -p $(PROXY_RUNTIME) -e $(PROXY_RUNTIME)/error.log

# Lint, then every test, on SQLite (default) or on the database in DATABASE_URL.
test: $(STAMP) lint browser-deps node-deps
	$(BIN)/pytest -q

# The browser tests need Debian's Chromium: installed here when missing and we are root; otherwise say so
# (the tests then skip, and pytest's summary names them and why).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "NOTE: /usr/bin/chromium is missing and this is not root: the browser tests will be skipped" \
	    "(sudo apt-get install chromium)"; fi; \
	fi

# The identity providers the single sign-on tests start (oidc-provider), pinned by tests/node/package-lock.json;
# and xmlsec1, which checks SAML signatures (pysaml2), installed when missing and we are root.
NODE_STAMP := tests/node/node_modules/.installed
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)
	@if ! command -v xmlsec1 >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null; \
	  else echo "NOTE: xmlsec1 is missing and this is not root: SAML sign-in cannot work (sudo apt-get install xmlsec1)"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/bench_register.py

clean:
	rm -rf $(VENV) instance .pytest_cache
