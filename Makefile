# Threadline: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH ?=

.PHONY: demo test lint typecheck pytest bench clean dovecot browsers

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python venv support missing; installing python3-venv"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: $(INSTALLED)
	$(BIN)/threadline demo

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(INSTALLED)
	$(BIN)/mypy

# The mail tests run a real Dovecot IMAP server (tests/mail_server_support.py).
dovecot:
	@command -v dovecot >/dev/null 2>&1 || test -x /usr/sbin/dovecot || { \
	  echo "dovecot missing; installing dovecot-imapd"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; }

# The browser tests drive Debian's Chromium and Firefox ESR through Playwright; no browser
# is downloaded.
browsers:
	@test -x /usr/bin/chromium && test -x /usr/bin/firefox-esr || { \
	  echo "installing Debian's chromium and firefox-esr"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium firefox-esr; }

# One worker per core; a module's tests stay on one worker (its live desk is shared).
pytest: $(INSTALLED) dovecot browsers
	$(BIN)/pytest -q -n auto --dist loadscope

test: lint typecheck pytest

# bench/desk.py times the desk's pages in Debian's Chromium.
bench: $(INSTALLED) browsers
	$(BIN)/python -m bench.run $(BENCH)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
