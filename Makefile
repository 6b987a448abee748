# The two commands: `make run` and `make test`. Each does all of its own set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ .stamp-run

run: .stamp-run
	$(BIN)/monitorpay setup
	$(BIN)/monitorpay serve

test: .stamp-test
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: .stamp-test
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .stamp-run .stamp-test
