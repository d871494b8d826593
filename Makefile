# finsent: two commands do all setup on a fresh machine.
#   make run   - build .venv, start the local Kafka + Elasticsearch, run the daemon
#   make test  - build .venv, lint + type-check, unit and integration tests (real servers)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= deploy/finsent.local.yaml

.PHONY: venv run test lint unit stack-up stack-down stack-status clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "finsent needs Python 3.11+ (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/finsent stack up -c $(CONFIG)
	$(BIN)/finsent run -c $(CONFIG)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

unit: venv
	$(BIN)/pytest tests --ignore=tests/integration

test: lint
	$(BIN)/pytest tests

stack-up: venv
	$(BIN)/finsent stack up -c $(CONFIG)

stack-down: venv
	$(BIN)/finsent stack down -c $(CONFIG)

stack-status: venv
	$(BIN)/finsent stack status -c $(CONFIG)

clean:
	-$(BIN)/finsent stack down -c $(CONFIG)
	rm -rf $(VENV) .stack .mypy_cache .ruff_cache .pytest_cache
