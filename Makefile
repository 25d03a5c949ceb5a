# sendwise: `make run` (the service on the embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sendwise up

test: $(STAMP) chromium
	$(BIN)/ruff check app tasks tests celery_config.py
	$(BIN)/mypy app tasks celery_config.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check app tasks tests celery_config.py
	$(BIN)/mypy app tasks celery_config.py
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) var

# The dashboard's browser tests drive Debian's Chromium (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the browser test will be skipped"
