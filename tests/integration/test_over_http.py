"""The Secure Payment page over real HTTP, against real server processes (`monitorpay serve`),
on SQLite and PostgreSQL: many devices at once, two instances, and a process killed between
charging the card and recording it.

The test process plays the staff (links are sent with the PLUS Web service against the server's
database), the payers (httpx, one cookie jar each) and, in Stripe mode, Stripe itself
(`FakeStripe` on 127.0.0.1). "At the gateway" means the sandbox's ledger file, or the fake's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.sandbox import SandboxGateway
from app.clock import SystemClock
from app.domain import outcomes
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Payment, PaymentAllocation, PaymentLink
from tests.fakes.fake_stripe import FakeStripe
from tests.html import parse
from tests.servers import (
    ServerProcess,
    client_id_of,
    run_cli,
    send_links,
    server_env,
    start_server,
)

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TIMEOUT = httpx.Timeout(20.0)  # a request not answered in 20 s is a hang
# Not stalled: while the payments are in flight a page without the database keeps being
# answered (a server that serialised the payments, or blocked its loop on one, answers it once
# or twice in that window), and one that needs the database is answered too (its turn for a
# pooled connection comes: no deadlock), 200 every time. How many /healthz answers fit in the
# window depends on the pool's queue and the machine (6 to 109 seen), so only "some"; latencies
# are reported, never asserted.
MIN_ANSWERS_IN_FLIGHT = {"/healthz": 1, "/plus/login": 10}
SUCCESS_CARD = "4242424242424242"

# stripe 16 hands httpx the form body as a str (`data=`), which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


# -- helpers ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def send_link_to(
    url: str, account: str = "100002", vehicle: str = "F-150"
) -> tuple[int, str]:
    async with database(url) as maker:
        [sent] = await send_links(
            maker, [await client_id_of(maker, account)], vehicle_label=vehicle
        )
    return sent


@dataclass(frozen=True)
class LinkFacts:
    link_status: str
    claim_payment_id: int | None
    statuses: Counter[str]  # of the link's payments
    succeeded_refs: list[str | None]
    succeeded_amounts: list[int]
    allocated_cents: int  # allocations of the succeeded payment(s)
    link_total_cents: int
    payment_in_flight: int | None
    unresolved_anywhere: int  # pending or unknown payments in the whole database


async def link_facts(url: str, link_id: int) -> LinkFacts:
    async with database(url) as maker, maker() as s:
        link = await s.get(PaymentLink, link_id)
        assert link is not None
        pays = list(
            (await s.execute(select(Payment).where(col(Payment.link_id) == link_id)))
            .scalars()
            .all()
        )
        ok = [p for p in pays if p.status in outcomes.SETTLED]
        allocated = (
            await s.execute(
                select(func.coalesce(func.sum(PaymentAllocation.amount_cents), 0)).where(
                    col(PaymentAllocation.payment_id).in_([p.id for p in ok] or [-1])
                )
            )
        ).scalar_one()
        client = await s.get(Client, link.client_id)
        assert client is not None
        unresolved = (
            await s.execute(
                select(func.count())
                .select_from(Payment)
                .where(col(Payment.status).in_(outcomes.UNRESOLVED))
            )
        ).scalar_one()
        return LinkFacts(
            link_status=link.status,
            claim_payment_id=link.claim_payment_id,
            statuses=Counter(p.status for p in pays),
            succeeded_refs=[p.processor_ref for p in ok],
            succeeded_amounts=[p.amount_cents for p in ok],
            allocated_cents=int(allocated),
            link_total_cents=link.total_cents,
            payment_in_flight=client.payment_in_flight,
            unresolved_anywhere=int(unresolved),
        )


def gateway_charges(ledger: Path) -> int:
    """Charges that went through at the sandbox processor (its own ledger file)."""
    return SandboxGateway(SystemClock(), str(ledger)).successful_charge_count


async def pay_form(
    c: httpx.AsyncClient, token: str, payment_method: str | None = None
) -> dict[str, str]:
    """What a phone does before Make Payment: load the page (CSRF cookie and token), hand the
    card to the sandbox's tokenizer (card.js), keep the reference."""
    r = await c.get(f"/pay/{token}")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    form = {"_csrf_token": parse(r.text).csrf(), "terms": "accepted"}
    if payment_method is None:
        t = await c.post(
            "/sandbox/payment_methods",
            json={"number": SUCCESS_CARD, "exp": "12/30", "cvc": "123", "postal_code": "78701"},
        )
        assert t.status_code == 200, t.text
        payment_method = str(t.json()["id"])
    form["payment_method"] = payment_method
    return form


@dataclass
class Answer:
    status: int | None  # None: no response (an error, below)
    location: str
    seconds: float
    error: str = ""


async def submit(c: httpx.AsyncClient, token: str, form: dict[str, str]) -> Answer:
    start = time.perf_counter()
    try:
        r = await c.post(f"/pay/{token}", data=form, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Answer(None, "", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    return Answer(r.status_code, r.headers.get("location", ""), time.perf_counter() - start)


@contextlib.asynccontextmanager
async def payers(urls: list[str], count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` phones, each with its own cookie jar and connections, spread over `urls`."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=urls[i % len(urls)], timeout=TIMEOUT, trust_env=False)
            )
            for i in range(count)
        ]


async def probe(
    url: str, path: str, stop: asyncio.Event, seen: list[tuple[str, int, float]]
) -> None:
    """GET `path` again and again until `stop` (bounded), recording status and latency."""
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, trust_env=False) as c:
        for _ in range(10_000):
            if stop.is_set():
                return
            start = time.perf_counter()
            try:
                status = (await c.get(path)).status_code
            except httpx.HTTPError:
                status = 0
            seen.append((path, status, time.perf_counter() - start))


async def until(check: Callable[[], bool], within: float, what: str) -> None:
    """Poll `check` (a cheap look at state), bounded by `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.01)


def summary(answers: list[Answer]) -> str:
    codes = Counter(a.status for a in answers)
    errors = Counter(a.error.split(":")[0] for a in answers if a.error)
    slowest = max((a.seconds for a in answers), default=0.0)
    return f"statuses={dict(codes)} errors={dict(errors)} slowest={slowest:.2f}s"


def assert_charged_once(facts: LinkFacts, charges: int, said: str) -> None:
    assert charges == 1, f"{charges} charges at the gateway; {said}"
    assert facts.statuses == Counter({"succeeded": 1}), (facts, said)
    assert facts.link_status == "paid" and facts.claim_payment_id is None, facts
    assert facts.payment_in_flight is None and facts.unresolved_anywhere == 0, facts
    assert facts.allocated_cents == facts.link_total_cents == facts.succeeded_amounts[0], facts


def assert_every_payer_answered(answers: list[Answer]) -> None:
    """An answer for everyone, no server error (a 503 is the pool's "busy for 3 s"), and the
    receipt for exactly one of them."""
    said = summary(answers)
    assert all(a.status is not None for a in answers), f"requests with no answer: {said}"
    assert not [a for a in answers if (a.status or 0) >= 500], f"server errors: {said}"
    receipts = [a for a in answers if a.location.endswith("/receipt")]
    assert len(receipts) == 1, f"expected one payer sent to the receipt: {said}"


# -- a. many devices at once, one server -------------------------------------------------------


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
async def test_hundred_concurrent_submissions_over_http_charge_once_and_never_stall_the_server(
    db_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "sandbox-ledger.db"
    link_id, token = await send_link_to(db_url)
    with start_server(server_env(db_url, ledger), tmp_path) as server:
        async with payers([server.url], 100) as phones:
            forms = await asyncio.gather(*(pay_form(c, token) for c in phones))
            stop = asyncio.Event()
            seen: list[tuple[str, int, float]] = []
            probes = [
                asyncio.create_task(probe(server.url, path, stop, seen))
                for path in ("/healthz", "/plus/login")
            ]
            try:
                answers = await asyncio.gather(
                    *(submit(c, token, f) for c, f in zip(phones, forms, strict=True))
                )
            finally:
                stop.set()
                await asyncio.gather(*probes)
    facts = await link_facts(db_url, link_id)
    assert_charged_once(facts, gateway_charges(ledger), summary(answers))

    figures, slow = [], False
    for path, least in MIN_ANSWERS_IN_FLIGHT.items():
        times = [t for p, _, t in seen if p == path]
        statuses = Counter(s for p, s, _ in seen if p == path)
        assert times, f"no {path} answered while the payments were in flight"
        figures.append(f"{path}: up to {max(times):.3f}s over {len(times)} GETs {dict(statuses)}")
        slow = slow or set(statuses) != {200} or len(times) < least
    said = f"payments: {summary(answers)}; " + "; ".join(figures)
    assert not slow, f"other pages stalled while 100 payments were submitted: {said}"
    assert_every_payer_answered(answers)


# -- b. two instances, one database ------------------------------------------------------------


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
async def test_twenty_submissions_split_across_two_server_processes_charge_once(
    db_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "sandbox-ledger.db"
    env = server_env(db_url, ledger)
    link_id, token = await send_link_to(db_url)
    with start_server(env, tmp_path) as one, start_server(env, tmp_path) as two:
        async with payers([one.url, two.url], 20) as phones:
            forms = await asyncio.gather(*(pay_form(c, token) for c in phones))
            answers = await asyncio.gather(
                *(submit(c, token, f) for c, f in zip(phones, forms, strict=True))
            )
    facts = await link_facts(db_url, link_id)
    assert_charged_once(facts, gateway_charges(ledger), summary(answers))
    assert_every_payer_answered(answers)


# -- c, d. Stripe mode: the process (or its database connection) lost mid-payment ---------------


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def stripe_env(db_url: str, tmp_path: Path, fake: FakeStripe) -> dict[str, str]:
    return server_env(
        db_url,
        tmp_path / "sandbox-ledger.db",  # unused in stripe mode
        PAYMENTS_GATEWAY="stripe",
        STRIPE_SECRET_KEY=fake.api_key,
        STRIPE_PUBLISHABLE_KEY="pk_test_fake",
        STRIPE_WEBHOOK_SECRET="whsec_test",
        STRIPE_API_BASE=fake.url,
    )


async def stripe_form(c: httpx.AsyncClient, token: str) -> dict[str, str]:
    # In the browser Stripe.js creates the PaymentMethod; Stripe's test id stands for it.
    return await pay_form(c, token, payment_method="pm_card_visa")


async def assert_already_paid(server: ServerProcess, token: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as c:
        page = await c.get(f"/pay/{token}")
        assert page.status_code == 200 and "already been paid" in parse(page.text).text("main")
        again = await c.post(
            f"/pay/{token}",
            data={
                "_csrf_token": parse(page.text).csrf(),
                "payment_method": "pm_card_visa",
                "terms": "accepted",
            },
            follow_redirects=False,
        )
        assert again.status_code == 200, again.text[:500]
        assert "already been paid" in parse(again.text).text("main")


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
async def test_server_killed_after_the_charge_before_recording_it_is_reconciled_once(
    db_url: str, tmp_path: Path, fake: FakeStripe
) -> None:
    env = stripe_env(db_url, tmp_path, fake)
    link_id, token = await send_link_to(db_url)
    server = start_server(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False) as c:
            form = await stripe_form(c, token)
            # Stripe makes the charge, then takes its time answering: the server dies waiting.
            fake.fault_path, fake.slow_seconds = "/v1/payment_intents", 10.0
            posted = asyncio.create_task(submit(c, token, form))
            await until(lambda: len(fake.charges) == 1, 15, "Stripe charged the card")
            server.kill()
            answer = await posted
            fake.slow_seconds = 0.0
        assert answer.status is None, answer  # the payer got no answer at all
    finally:
        server.stop()

    before = await link_facts(db_url, link_id)
    assert before.statuses == Counter({"pending": 1}), before  # charged, not recorded
    assert before.claim_payment_id is not None and before.payment_in_flight is not None

    done = run_cli(["reconcile"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "payments applied: 1" in done.stdout, done.stdout

    after = await link_facts(db_url, link_id)
    [charge] = fake.charges
    assert after.statuses == Counter({"succeeded": 1}), after
    assert after.succeeded_refs == [charge["id"]], (after, charge["id"])
    assert after.link_status == "paid" and after.claim_payment_id is None, after
    assert after.payment_in_flight is None and after.unresolved_anywhere == 0, after
    assert after.allocated_cents == after.link_total_cents == charge["amount"], after

    with start_server(env, tmp_path) as again:
        await assert_already_paid(again, token)
    assert len(fake.charges) == 1 and not fake.refunds


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_database_connections_killed_mid_payment_leave_one_charge_recorded_once(
    db_url: str, tmp_path: Path, fake: FakeStripe
) -> None:
    env = stripe_env(db_url, tmp_path, fake)
    link_id, token = await send_link_to(db_url)
    killer = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=5)
    killed = 0

    async def kill_backends() -> int:
        return len(
            await killer.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )

    try:
        with start_server(env, tmp_path) as server:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=TIMEOUT, trust_env=False
            ) as c:
                form = await stripe_form(c, token)
                fake.fault_path, fake.slow_seconds = "/v1/payment_intents", 1.0
                posted = asyncio.create_task(submit(c, token, form))
                await until(lambda: len(fake.charges) == 1, 15, "Stripe charged the card")
                # While Stripe's answer is on its way and while the server records it, every
                # connection the server has to the database is cut, again and again.
                for _ in range(2_000):
                    if posted.done():
                        break
                    killed += await kill_backends()
                    await asyncio.sleep(0.005)
                answer = await posted
                fake.slow_seconds = 0.0
            assert answer.status is not None, answer  # it answered (whatever it could say)
    finally:
        await killer.close()
    assert killed > 0, "no server connection was ever cut"

    done = run_cli(["reconcile"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    after = await link_facts(db_url, link_id)
    [charge] = fake.charges
    assert after.statuses == Counter({"succeeded": 1}), (after, answer)
    assert after.succeeded_refs == [charge["id"]], after
    assert after.link_status == "paid" and after.claim_payment_id is None, after
    assert after.payment_in_flight is None and after.unresolved_anywhere == 0, after
    assert after.allocated_cents == after.link_total_cents == charge["amount"], after
    assert not fake.refunds
