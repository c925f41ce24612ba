# StrikeVM developer entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
FIXTURES ?= $(if $(STRIKEVM_FIXTURES),$(STRIKEVM_FIXTURES),$(abspath ../shared))

.PHONY: run test lint unit conformance bench fuzz clean

$(STAMP): pyproject.toml setup.py src/strikevm/finance/_bsm_native.c src/strikevm/vm/precompiles/_bn254_native.c src/strikevm/vm/_analysis_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/strikevm node

test: $(STAMP) $(NODE_STAMP) lint
	$(BIN)/pytest -q -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

conformance: $(STAMP)
	$(BIN)/strikevm statetest $(FIXTURES)/conformance/state_tests

bench: $(STAMP)
	$(BIN)/strikevm bench $(FIXTURES)/bench-data

fuzz: $(STAMP)
	$(BIN)/python -m strikevm.tools.fuzz --programs 10000 --seed 1

clean:
	rm -rf $(VENV) node_modules build src/*.egg-info
