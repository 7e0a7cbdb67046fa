# Set-up and everyday commands. Each target builds its own virtual environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CODE   := digest subscribers tests benchmarks

.PHONY: venv demo test lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "digest needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# Node tools for the tests (Prism, the providers' contract mock), pinned in package-lock.json.
# Without npm the contract tests skip and say so; CI has Node and runs them.
NODE_STAMP := node_modules/.stamp

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund && touch $(NODE_STAMP); \
	else \
		echo "npm not found: the provider contract tests will skip (install Node 20 and npm)"; \
	fi

## demo: ingest the bundled demo corpus into the embedded SQLite store and list it
demo: $(STAMP)
	$(BIN)/digest demo

## lint: formatting, lint rules and types
lint: $(STAMP)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/ruff check $(CODE)
	$(BIN)/mypy

## format: rewrite the code in the house format
format: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

## test: lint, then the whole test suite (with Prism from npm for the contract tests)
test: lint $(NODE_STAMP)
	$(BIN)/pytest

## bench: the measurement scripts (figures, not pass/fail)
bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_throughput.py
	$(BIN)/python benchmarks/extraction_accuracy.py
	$(BIN)/python benchmarks/summary_rouge.py
	$(BIN)/python benchmarks/related_links.py
	$(BIN)/python benchmarks/render_throughput.py
	$(BIN)/python benchmarks/message_build.py
	$(BIN)/python benchmarks/subscriber_import.py

clean:
	rm -rf $(VENV) node_modules data test-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
