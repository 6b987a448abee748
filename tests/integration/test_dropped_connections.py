"""Dropped database connections are not errors to a person (issue 20 item 5), over real HTTP
against a `monitorpay serve` process on PostgreSQL.

Every backend of the app's database is terminated from the test's own connection while a payer
pays a link. The termination is made to land mid-request by holding a row lock the server's
payment transaction needs and waiting for the server to queue on it (an event seen in
`pg_stat_activity`), then terminating everything but our own connection:

- "claim": the account row is held, so the payment's claim is cut (nothing was charged): 503;
- "record": a vehicle row is held, so the payment is cut while the processor's answer is being
  recorded (the card was charged): the confirming page, never "nothing was charged";
- "storm": every backend is terminated again and again while the payment and the page after it
  are answered.

No answer is a 500, each link is paid at most once, and after reconcile the books balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app import i18n
from app.adapters.payments.sandbox import SandboxGateway
from app.clock import SystemClock
from app.domain import outcomes
from app.domain.errors import DomainError
from app.store.advisory import single_runner
from app.store.db import make_engine
from app.store.models import Client, Payment
from tests.books import check_books, sandbox_ledger
from tests.html import parse
from tests.integration.test_over_http import TIMEOUT, database, pay_form
from tests.servers import run_cli, send_links, server_env, start_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
TRIALS = int(os.environ.get("DROPPED_CONNECTION_TRIALS", "40"))
PHASES = ("claim", "record", "storm")
TERMINATE = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
# A server backend queued on a row lock: the request is inside its payment transaction.
# Inside a transaction (ours holds the lock) pg_stat_activity is read once and kept: each look
# clears that snapshot first, or it would never see the server arrive.
FRESH = "SELECT pg_stat_clear_snapshot()"
QUEUED = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
)
LOCKS = {
    "claim": "SELECT 1 FROM client WHERE id = $1 FOR UPDATE",
    "record": "SELECT 1 FROM vehicle WHERE client_id = $1 FOR NO KEY UPDATE",
}


@dataclass
class Trial:
    phase: str
    link_id: int
    answers: list[tuple[str, int]] = field(default_factory=list)  # (what, status)
    terminated: int = 0
    without_retry_after: int = 0  # 503 answers that do not say when to come back

    def saw(self, what: str, answer: httpx.Response) -> None:
        self.answers.append((what, answer.status_code))
        if answer.status_code == 503 and not answer.headers.get("retry-after"):
            self.without_retry_after += 1


async def links_for(url: str, count: int) -> list[tuple[int, int, str]]:
    """(client id, link id, token) for up to `count` clients, one link each (clients that take
    no payments or texts are skipped)."""
    async with database(url) as maker:
        async with maker() as s:
            ids = (await s.execute(select(col(Client.id)).order_by(col(Client.id)))).scalars()
        out: list[tuple[int, int, str]] = []
        for client_id in list(ids):
            if len(out) == count:
                break
            with contextlib.suppress(DomainError):  # no payments here, or opted out of texts
                [(link_id, token)] = await send_links(maker, [client_id or 0])
                out.append((client_id or 0, link_id, token))
    return out


async def until_queued(killer: asyncpg.Connection, posted: asyncio.Task[httpx.Response]) -> bool:
    """Wait for a server backend to queue on our lock (True), or for the answer (False)."""
    for _ in range(100_000):  # bounded: well past the request's own timeout
        if posted.done():
            return False
        await killer.execute(FRESH)
        if await killer.fetchval(QUEUED):
            return True
    return False


async def cut_when_queued(killer: asyncpg.Connection, posted: asyncio.Task[httpx.Response]) -> int:
    """Once the server queues on our lock, terminate every backend but ours."""
    if not await until_queued(killer, posted):
        return 0
    await killer.execute(FRESH)
    return int(await killer.fetchval(TERMINATE))


@contextlib.asynccontextmanager
async def holding(killer: asyncpg.Connection, phase: str, client_id: int) -> AsyncIterator[None]:
    """The phase's row lock, taken before the payment is posted and held until it is cut."""
    if phase not in LOCKS:
        yield
        return
    async with killer.transaction():
        await killer.execute(LOCKS[phase], client_id)
        yield


async def storm(killer: asyncpg.Connection, stop: asyncio.Event) -> int:
    """Terminate every backend, again and again, until `stop`."""
    total = 0
    while not stop.is_set():
        total += int(await killer.fetchval(TERMINATE))
        await asyncio.sleep(0)  # let the request being cut make progress
    return total


@contextlib.asynccontextmanager
async def storming(killer: asyncpg.Connection, trial: Trial) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(storm(killer, stop)) if trial.phase == "storm" else None
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            trial.terminated += await task


async def run_trial(
    c: httpx.AsyncClient, killer: asyncpg.Connection, client_id: int, token: str, trial: Trial
) -> None:
    form = await pay_form(c, token)
    async with storming(killer, trial):
        async with holding(killer, trial.phase, client_id):
            posted = asyncio.create_task(c.post(f"/pay/{token}", data=form, follow_redirects=False))
            if trial.phase in LOCKS:
                trial.terminated += await cut_when_queued(killer, posted)
        answer = await posted
        trial.saw("POST", answer)
        if answer.status_code == 303:  # the page the payer is sent to
            page = await c.get(answer.headers["location"], follow_redirects=False)
            trial.saw("GET after", page)


def wrong_answer(trial: Trial) -> bool:
    """What a payer must read when their payment is cut: the claim cut (nothing charged) is the
    503 page; the record cut (charged) is the confirming page, straight or after a redirect,
    or the receipt if the background check already applied it; never a 500 anywhere."""
    statuses = [status for _, status in trial.answers]
    if any(status >= 500 and status != 503 for status in statuses):
        return True
    if trial.phase == "claim":
        return statuses != [503]
    if trial.phase == "record":
        return statuses[0] != 202 and statuses not in ([303, 202], [303, 303])
    return False


async def links_paid(url: str) -> Counter[int]:
    """Settled payments per link."""
    async with database(url) as maker, maker() as s:
        rows = await s.execute(
            select(col(Payment.link_id)).where(col(Payment.status).in_(outcomes.SETTLED))
        )
        return Counter(int(link_id) for link_id in rows.scalars() if link_id is not None)


async def test_backends_terminated_during_link_payments_never_answer_500(
    db_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "sandbox-ledger.db"
    env = server_env(db_url, ledger)
    killer = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=5)
    trials: list[Trial] = []
    try:
        with start_server(env, tmp_path) as server:
            while len(trials) < TRIALS:  # rounds: a client's next link once the last is settled
                sent = await links_for(db_url, TRIALS - len(trials))
                assert sent, "no client could be sent a link"
                for client_id, link_id, token in sent:
                    trial = Trial(PHASES[len(trials) % len(PHASES)], link_id)
                    trials.append(trial)
                    async with httpx.AsyncClient(
                        base_url=server.url, timeout=TIMEOUT, trust_env=False
                    ) as c:
                        await run_trial(c, killer, client_id, token, trial)
                reconciled = run_cli(["reconcile"], env, tmp_path)
                assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
            log = server.log_tail(20_000)
    finally:
        await killer.close()

    said = Counter((t.phase, what, status) for t in trials for what, status in t.answers)
    assert not [t for t in trials if wrong_answer(t)], (said, log[-6000:])
    assert not [t for t in trials if t.without_retry_after], said
    assert all(t.terminated for t in trials), [t for t in trials if not t.terminated]
    assert "another operation is in progress" not in log, log[-4000:]
    assert "unhandled error" not in log, log[-4000:]  # no 500 was logged

    done = run_cli(["reconcile"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    paid = await links_paid(db_url)
    assert all(n <= 1 for n in paid.values()), paid
    assert paid, f"no link was paid at all: {said}"
    found = check_books(db_url, sandbox_ledger(SandboxGateway(SystemClock(), str(ledger))))
    assert not found, found


# -- one request each: a read retried, a write answered 503 in the reader's language ------------

LINK_ROW = "SELECT 1 FROM paymentlink WHERE id = $1 FOR NO KEY UPDATE"


async def cut_while_queued(
    killer: asyncpg.Connection, lock: str, key: int, request: Coroutine[Any, Any, httpx.Response]
) -> tuple[httpx.Response, int]:
    """Send `request` while holding `lock`; once the server queues on it, terminate every
    backend but ours, then let go. The answer, and how many backends were terminated."""
    async with killer.transaction():
        await killer.execute(lock, key)
        sent = asyncio.create_task(request)
        terminated = await cut_when_queued(killer, sent)
    return await sent, terminated


def lost_connection_lines(log: str, method: str) -> list[str]:
    return [
        line for line in log.splitlines() if f"event=db_connection_lost method={method}" in line
    ]


async def test_a_read_that_lost_its_connection_is_answered_by_a_second_run(
    db_url: str, tmp_path: Path
) -> None:
    [(_client_id, link_id, token)] = await links_for(db_url, 1)
    killer = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=5)
    try:
        with start_server(server_env(db_url, tmp_path / "ledger.db"), tmp_path) as server:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=TIMEOUT, trust_env=False
            ) as c:
                # The first open marks the link opened: an UPDATE of the row we hold.
                page, terminated = await cut_while_queued(
                    killer, LINK_ROW, link_id, c.get(f"/pay/{token}")
                )
            log = server.log_tail(20_000)
    finally:
        await killer.close()
    assert terminated, "the read was not cut"
    assert page.status_code == 200, (page.status_code, page.text[:800], log[-3000:])
    assert parse(page.text).csrf()  # the payment form itself, from the second run
    assert [" retry=True " in line for line in lost_connection_lines(log, "GET")] == [True], log


async def test_a_write_that_lost_its_connection_is_a_503_in_the_readers_language(
    db_url: str, tmp_path: Path
) -> None:
    [(client_id, _link_id, token)] = await links_for(db_url, 1)
    killer = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=5)
    try:
        with start_server(server_env(db_url, tmp_path / "ledger.db"), tmp_path) as server:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=TIMEOUT, trust_env=False
            ) as c:
                c.cookies.set(i18n.COOKIE, "es")  # the reader chose Español
                form = await pay_form(c, token)
                answer, terminated = await cut_while_queued(
                    killer,
                    LOCKS["claim"],
                    client_id,
                    c.post(f"/pay/{token}", data=form, follow_redirects=False),
                )
            log = server.log_tail(20_000)
    finally:
        await killer.close()
    assert terminated, "the payment was not cut"
    assert answer.status_code == 503, (answer.status_code, answer.text[:800])
    assert answer.headers["retry-after"] == "2"
    page = parse(answer.text)
    assert "Tenemos mucha actividad en este momento" in page.text("main"), answer.text[:1500]
    assert answer.headers.get("content-language", "es").startswith("es")
    assert [" retry=False " in line for line in lost_connection_lines(log, "POST")] == [True]
    assert "unhandled error" not in log, log[-3000:]


async def test_a_single_runner_whose_connection_was_lost_ends_quietly_and_frees_the_job(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    killer = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=5)
    try:
        async with single_runner(engine, "dropped-connection-job") as got:
            assert got
            assert await killer.fetchval(TERMINATE)  # the lock's connection among them
        async with single_runner(engine, "dropped-connection-job") as again:
            assert again  # the lock went with the terminated backend
    finally:
        await killer.close()
        await engine.dispose()
