"""What an operator watches (issue 22 item 4): /metrics (HTTP by route template, the money from
the database, the last AutoPay run, reconcile rounds), /readyz, and LOG_FORMAT=json.

Litestar's HTTP metrics live in the process-wide Prometheus registry, shared by every app a
test session builds: tests compare a scrape after with one before."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.clock import FixedClock
from app.logs import JsonFormatter, fields
from app.main import create_app
from app.services import autopay, reconcile, runs
from app.services.sms_worker import deliver_due
from app.settings import Settings
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Payment
from tests.conftest import make_settings
from tests.integration.test_pay import make_link, submit
from tests.integration.test_security_headers import prod_settings

Maker = async_sessionmaker[AsyncSession]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[Maker]:
    """The test's own sessions, apart from the app's pool (the test client's event loop)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line of the test, as LOG_FORMAT=json writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


async def scrape(c: AsyncTestClient[Any], **headers: str) -> Samples:
    r = await c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def http_requests(samples: Samples, method: str, path: str, status: int) -> float:
    return value(
        samples,
        "monitorpay_http_requests_total",
        method=method,
        path=path,
        status_code=str(status),
        app_name="monitorpay",
    )


@BOTH
async def test_metrics_after_a_payment_count_it_by_route_template_and_in_the_money(
    client: AsyncTestClient[Any], app: Litestar, own_maker: Maker, json_log: io.StringIO
) -> None:
    before = await scrape(client)
    token = await make_link(app, maker=own_maker)
    r = await submit(client, token, card="success")
    assert r.status_code == 303
    after = await scrape(client)

    template = "/pay/{token}"
    assert (
        http_requests(after, "POST", template, 303)
        == http_requests(before, "POST", template, 303) + 1
    )
    assert (
        http_requests(after, "GET", template, 200)
        >= http_requests(before, "GET", template, 200) + 1
    )
    durations = "monitorpay_http_request_duration_seconds_count"
    timed = {"method": "POST", "path": template, "status_code": "303", "app_name": "monitorpay"}
    assert value(after, durations, **timed) == value(before, durations, **timed) + 1
    label_values = {v for _, labels in after for _, v in labels}
    assert not any(token in v for v in label_values)  # a link token never becomes a label

    assert value(after, "monitorpay_payments_24h", channel="link", status="succeeded") == 1
    for status in ("pending", "unknown"):  # present, at 0: an alert has its series
        assert ("monitorpay_payments_unresolved", frozenset({("status", status)})) in after
        assert value(after, "monitorpay_payments_unresolved", status=status) == 0
        assert value(after, "monitorpay_payments_unresolved_oldest_age_seconds", status=status) == 0
    assert value(after, "monitorpay_metrics_database_read_ok") == 1
    # the receipt waits for the worker (the link's text went out: not counted)
    assert value(after, "monitorpay_texts", status="queued") == 1
    assert value(after, "monitorpay_texts", status="failed") == 0
    # the worker hands it to the provider: the process's send counter moves, the queue empties
    state = app.state
    assert await deliver_due(own_maker, state.sms, state.clock, state.box) == 1
    sent = await scrape(client)
    sends = "monitorpay_text_sends_total"
    assert value(sent, sends, outcome="sent") == value(after, sends, outcome="sent") + 1
    assert value(sent, "monitorpay_texts", status="queued") == 0
    # the payment's lines in the JSON log carry the id of the request that charged
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    charging = next(x for x in lines if x.get("event") == "charging")
    assert charging["request_id"] == r.headers["x-request-id"]
    assert charging["channel"] == "link" and charging["logger"] == "monitorpay.payments"
    ours = [json.dumps(x) for x in lines if x["logger"].startswith("monitorpay")]  # not httpx's
    assert ours and not any(token in line for line in ours)


@BOTH
async def test_an_unknown_payment_shows_its_age_until_it_is_resolved(
    client: AsyncTestClient[Any], app: Litestar, own_maker: Maker, clock: FixedClock
) -> None:
    token = await make_link(app, maker=own_maker)
    r = await submit(client, token, card="success")
    assert r.status_code == 303
    async with own_maker() as s:
        payment = (
            await s.execute(select(Payment).where(col(Payment.channel) == "link"))
        ).scalar_one()
    # The same payment seen as its processor's answer was lost 10 minutes ago (the shape the
    # alert is written for); the metric reads only the status and the time.
    async with own_maker() as s:
        row = await s.get(Payment, payment.id)
        assert row is not None
        row.status, row.created_at = "unknown", clock.now() - timedelta(minutes=10)
        await s.commit()
    samples = await scrape(client)
    unknown = {"status": "unknown"}
    assert value(samples, "monitorpay_payments_unresolved", **unknown) == 1
    assert value(samples, "monitorpay_payments_unresolved_oldest_age_seconds", **unknown) == 600
    assert value(samples, "monitorpay_payments_unresolved", status="pending") == 0
    assert value(samples, "monitorpay_payments_24h", channel="link", status="unknown") == 1
    async with own_maker() as s:  # as reconcile would find it: charged
        row = await s.get(Payment, payment.id)
        assert row is not None
        row.status = "succeeded"
        await s.commit()


async def test_the_last_autopay_run_is_read_from_the_database(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock
) -> None:
    finished = "monitorpay_autopay_last_run_finished_timestamp_seconds"
    assert value(await scrape(client), finished) == 0  # never ran
    report = await autopay.run(app.state.sessionmaker, app.state.gateway, clock, "Demo")
    samples = await scrape(client)
    assert value(samples, finished) == clock.now().timestamp()
    for name in ("due", "charged", "failed", "errors"):
        assert value(samples, f"monitorpay_autopay_last_run_{name}") == getattr(report, name)
    # the next day's run (from cron, another process) is the last one
    tomorrow = clock.now() + timedelta(days=1)
    later = autopay.RunReport(due=3, charged=2, failed=1)
    await runs.record_autopay(app.state.sessionmaker, tomorrow, later)
    samples = await scrape(client)
    assert value(samples, finished) == tomorrow.timestamp()
    got = {
        n: value(samples, f"monitorpay_autopay_last_run_{n}") for n in ("due", "charged", "failed")
    }
    assert got == {"due": 3, "charged": 2, "failed": 1}


async def test_reconcile_rounds_are_counted_in_the_process(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    before = await scrape(client)
    done = reconcile.Report()
    done.payments["succeeded"] += 2
    runs.reconcile_done(done, clock.now())
    runs.reconcile_done(reconcile.Report(skipped=True), clock.now())
    runs.reconcile_failed()
    after = await scrape(client)
    for outcome in ("ok", "skipped", "failed"):
        name = "monitorpay_reconcile_runs_total"
        assert value(after, name, outcome=outcome) == value(before, name, outcome=outcome) + 1
    paid = ("monitorpay_reconcile_payments_total", "succeeded")
    assert value(after, paid[0], result=paid[1]) == value(before, paid[0], result=paid[1]) + 2
    last = "monitorpay_reconcile_last_success_timestamp_seconds"
    assert value(after, last) == clock.now().timestamp()


@pytest.fixture
async def prod_metrics(db_url: str, clock: FixedClock) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = prod_settings(db_url).model_copy(update={"metrics_token": "scrape-me-0123456789"})
    async with AsyncTestClient(
        app=create_app(settings, clock=clock), base_url="https://pay.example.test"
    ) as c:
        yield c


async def test_metrics_in_production_need_the_bearer_token(
    prod_metrics: AsyncTestClient[Any], db_url: str, clock: FixedClock
) -> None:
    assert (await prod_metrics.get("/metrics")).status_code == 404
    wrong = {"Authorization": "Bearer scrape-me-012345678"}
    assert (await prod_metrics.get("/metrics", headers=wrong)).status_code == 404
    right = {"Authorization": "Bearer scrape-me-0123456789"}
    r = await prod_metrics.get("/metrics", headers=right)
    assert r.status_code == 200 and "monitorpay_payments_24h" in r.text
    assert "set-cookie" not in r.headers  # no session, no CSRF cookie for a scrape
    # no token configured: not found, whatever is sent
    async with AsyncTestClient(app=create_app(prod_settings(db_url), clock=clock)) as c:
        assert (await c.get("/metrics")).status_code == 404
        assert (await c.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 404


async def test_metrics_are_open_in_development(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200 and "set-cookie" not in r.headers


@BOTH
async def test_metrics_say_when_the_database_did_not_answer(
    db_url: str, tmp_path: Any, clock: FixedClock
) -> None:
    async with AsyncTestClient(
        app=create_app(make_settings(unreachable(db_url, tmp_path)), clock=clock)
    ) as c:
        before = await scrape(c)
        assert (await c.get("/healthz")).status_code == 503
        samples = await scrape(c)
    assert value(samples, "monitorpay_metrics_database_read_ok") == 0
    # the HTTP figures are still there, the 5xx of the outage among them
    assert http_requests(samples, "GET", "/healthz", 503) == (
        http_requests(before, "GET", "/healthz", 503) + 1
    )
    assert "monitorpay_payments_unresolved" not in {name for name, _ in samples}


def unreachable(db_url: str, tmp_path: Any) -> str:
    if db_url.startswith("postgresql"):
        return "postgresql+asyncpg://postgres@127.0.0.1:1/monitorpay"  # nothing listens there
    return f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/monitorpay.db"


async def ready(settings: Settings, clock: FixedClock) -> tuple[int, dict[str, Any]]:
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as c:
        r = await c.get("/readyz")
        assert "set-cookie" not in r.headers
        return r.status_code, r.json()


@BOTH
async def test_ready_when_the_database_and_redis_answer(
    db_url: str, redis_url: str, clock: FixedClock
) -> None:
    status, body = await ready(make_settings(db_url, redis_url=redis_url), clock)
    assert (status, body) == (200, {"ready": True, "database": "ok", "redis": "ok"})
    status, body = await ready(make_settings(db_url), clock)  # no Redis configured: not checked
    assert (status, body) == (200, {"ready": True, "database": "ok"})


@BOTH
async def test_not_ready_without_redis(db_url: str, clock: FixedClock) -> None:
    settings = make_settings(db_url, redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    status, body = await ready(settings, clock)
    assert status == 503
    assert body == {"ready": False, "database": "ok", "redis": "failed", "failed": ["redis"]}


@BOTH
async def test_not_ready_without_the_database(
    db_url: str, tmp_path: Any, clock: FixedClock
) -> None:
    status, body = await ready(make_settings(unreachable(db_url, tmp_path)), clock)
    assert status == 503
    assert body == {"ready": False, "database": "failed", "failed": ["database"]}


def test_log_format_json_writes_one_object_a_line_with_the_pairs_as_fields() -> None:
    program = (
        "import logging\n"
        "from app.logs import configure_logging\n"
        # as uvicorn leaves them: its own handler on 'uvicorn', the access log off (cli.py)
        "server = logging.getLogger('uvicorn')\n"
        "server.addHandler(logging.StreamHandler())\n"
        "server.propagate = False\n"
        "access = logging.getLogger('uvicorn.access')\n"
        "access.handlers, access.propagate = [], False\n"
        "configure_logging('INFO', 'json')\n"
        "logging.getLogger('uvicorn.error').info('Application startup complete.')\n"
        "access.info('GET /pay/SECRET-TOKEN 200')\n"
        "log = logging.getLogger('monitorpay.payments')\n"
        "log.info('payment_id=%s event=%s note=\"%s\"', 7, 'succeeded', 'two words')\n"
        "log.debug('event=hidden')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    log.exception('event=failed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 3  # one object a line; the traceback is inside its line
    server, first, second = lines
    assert server["logger"] == "uvicorn.error" and "SECRET-TOKEN" not in done.stderr
    assert first["level"] == "INFO" and first["logger"] == "monitorpay.payments"
    assert first["message"] == 'payment_id=7 event=succeeded note="two words"'
    assert (first["payment_id"], first["event"], first["note"]) == ("7", "succeeded", "two words")
    assert first["time"].endswith("+00:00")
    assert second["event"] == "failed" and "ZeroDivisionError" in second["exc_info"]


def test_text_stays_the_default_format() -> None:
    program = (
        "import logging\n"
        "from app.logs import configure_logging\n"
        "configure_logging('INFO')\n"
        "logging.getLogger('monitorpay.x').info('event=hello')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr.rstrip().endswith("level=INFO logger=monitorpay.x event=hello")


def test_fields_never_replace_the_line_and_take_the_first_of_a_key() -> None:
    assert fields("a=1 b=x a=2 (c=3) d=") == {"a": "1", "b": "x", "c": "3", "d": ""}
    record = logging.LogRecord("monitorpay.t", logging.INFO, "f", 1, "level=X logger=Y", (), None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"]) == ("INFO", "monitorpay.t")
