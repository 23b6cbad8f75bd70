# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed

.PHONY: run serve test lint install bench browser-deps clean

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
serve: $(STAMP)
	$(FLASK) init-db
	$(FLASK) load-controls
	$(BIN)/gunicorn -c gunicorn.conf.py

# Lint, then every test, on SQLite (default) or on the database in DATABASE_URL.
test: $(STAMP) lint browser-deps
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

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/bench_register.py

clean:
	rm -rf $(VENV) instance .pytest_cache
