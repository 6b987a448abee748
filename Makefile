# The two commands: `make run` and `make test`. Each does all of its own set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run run-prod-local test lint bench bench-wrk bench-data bench-load bench-autopay rebuild-totals clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ .stamp-run

# The language catalogs (app/translations/*/LC_MESSAGES/messages.po) compiled for the app.
catalogs: | $(BIN)/python
	$(BIN)/python -m app.i18n

# After marking new text: extract it and add it to each catalog, then translate what is new.
messages: .stamp-run
	$(BIN)/pybabel extract -F babel.cfg -k N_ -o app/translations/messages.pot --no-location \
	  --sort-output --omit-header .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations -D messages \
	  --width 100

run: .stamp-run catalogs
	$(BIN)/monitorpay setup
	$(BIN)/monitorpay serve

# Many instances, locally: PostgreSQL and Redis (both already running on this machine), two app
# processes (uvicorn workers, each with its SMS worker and schedules) behind 127.0.0.1:8000.
LOCAL_PG := postgresql://postgres@127.0.0.1:5432/monitorpay_local
run-prod-local: .stamp-run catalogs
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='monitorpay_local'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE monitorpay_local"
	DATABASE_URL=$(LOCAL_PG) $(BIN)/monitorpay setup
	DATABASE_URL=$(LOCAL_PG) REDIS_URL=redis://127.0.0.1:6379/0 WEB_CONCURRENCY=2 \
	  AUTOPAY_DAILY_AT=06:00 RECONCILE_EVERY_SECONDS=60 $(BIN)/monitorpay serve

# A missing PostgreSQL, Redis or Chromium fails the suite (with how to start it) instead of
# skipping those tests; `make test REQUIRE_POSTGRES=0` (or _REDIS, _E2E) skips them knowingly.
REQUIRE_POSTGRES ?= 1
REQUIRE_REDIS ?= 1
REQUIRE_E2E ?= 1
test: export REQUIRE_POSTGRES := $(REQUIRE_POSTGRES)
test: export REQUIRE_REDIS := $(REQUIRE_REDIS)
test: export REQUIRE_E2E := $(REQUIRE_E2E)
test: .stamp-test catalogs
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

# Benchmarks (bench/README.md): data sets built once (bench/data.py, reused when present), then
# the server against a bare handler under wrk, AutoPay at 10k and 100k due, page weight, latency.
BENCH_DB ?= 100k
bench: .stamp-test bench-wrk
	$(BIN)/python bench/data.py 10k 100k sqlite-100k
	$(BIN)/python bench/load.py --db $(BENCH_DB) $(BENCH_ARGS)
	$(BIN)/python bench/autopay.py --db $(BENCH_DB)
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/latency.py

bench-wrk:
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)

bench-data: .stamp-test
	$(BIN)/python bench/data.py 10k 100k sqlite-100k

bench-load: .stamp-test bench-wrk
	$(BIN)/python bench/load.py --db $(BENCH_DB) $(BENCH_ARGS)

bench-autopay: .stamp-test
	$(BIN)/python bench/autopay.py --db $(BENCH_DB)

# Reports read the daily totals; after a bulk load or moving a client to another location:
rebuild-totals: .stamp-run
	$(BIN)/python -m app.store.daily_totals rebuild

clean:
	rm -rf $(VENV) .stamp-run .stamp-test
