# Set-up is part of every target: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test unit integration lint crds demo e2e bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

lint: setup
	$(BIN)/ruff check operator tests demo images bench
	$(BIN)/mypy
	$(BIN)/mypy -p images.serving
	$(BIN)/lint-imports

crds: setup
	$(BIN)/qwenops crds --output crds/qwenops.io_qwendeployments.yaml
	cp crds/qwenops.io_qwendeployments.yaml charts/qwenops/crds/

demo: setup
	$(BIN)/python demo/run.py

bench: setup
	$(BIN)/python bench/false_alarms.py
	$(BIN)/python bench/rollback.py --runs 10

e2e: setup
	$(BIN)/pytest tests/e2e -rs

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
