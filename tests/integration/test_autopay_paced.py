"""AutoPay paced to the processor (stripe mode: the real SDK against a fake Stripe that enforces
Stripe's test-mode rate, 25 requests a second, and answers 429 past it).

The run takes each charge's turn from the account's limiter, shared by its workers and by other
instances' runs (Redis); a 429 that comes anyway is "not attempted": the payment is taken back
(no `failed` row, no text) and asked again within the run after a backoff, never sooner than
Retry-After and never when Stripe says retrying will not help. Nothing here asserts a time: the
bounds are the fake's own counts (requests admitted per second, 429s answered)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlmodel import col

from app.adapters.payments.pacing import LocalRateLimiter, RedisRateLimiter, Unlimited
from app.adapters.payments.stripe_gateway import StripeGateway
from app.services import autopay
from app.services.autopay.charging import BUSY
from app.settings import Settings
from app.store.models import AutopayEnrollment, CardOnFile, Client, Payment, SmsMessage, Vehicle
from tests.conftest import make_settings
from tests.fakes.fake_stripe import FakeStripe
from tests.integration.test_autopay_run import austin_today

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

STRIPE_TEST_RATE = 25  # Stripe's documented test-mode limit, enforced by the fake
_accounts = itertools.count(810001)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(rate_per_second=STRIPE_TEST_RATE) as server:
        yield server


@pytest.fixture
def settings(db_url: str, fake: FakeStripe) -> Settings:
    """Stripe mode on a test key: PROCESSOR_RATE_PER_SECOND defaults to 20, under Stripe's 25."""
    return make_settings(
        db_url,
        payments_gateway="stripe",
        stripe_secret_key=fake.api_key,
        stripe_webhook_secret="whsec_test",
        stripe_api_base=fake.url,
    )


@pytest.fixture
async def gateway(app: Litestar) -> AsyncIterator[Any]:
    yield app.state.gateway
    await app.state.gateway.aclose()


async def due_vehicles(session: Any, clock: Any, n: int) -> list[int]:
    """`n` new Austin clients, each with one vehicle due today on AutoPay with a Visa on file."""
    location, today = await austin_today(session, clock)
    numbers = [str(next(_accounts)) for _ in range(n)]
    clients = [
        Client(account_number=a, first_name="Paced", last_name=f"Payer {a}",
               search_name=f"paced payer {a}", phone_e164=f"+1737555{a[-4:]}",
               phone_digits=f"737555{a[-4:]}", email=f"{a}@example.test",
               location_id=location.id, created_at=clock.now())
        for a in numbers
    ]  # fmt: skip
    session.add_all(clients)
    await session.flush()
    cards = [
        CardOnFile(client_id=c.id, processor_ref="pm_card_visa", brand="Visa", last4="4242",
                   exp_month=12, exp_year=today.year + 3, created_at=clock.now())
        for c in clients
    ]  # fmt: skip
    vehicles = [
        Vehicle(client_id=c.id, year=2020, make="Kia", model="Soul", plate=f"Q{c.account_number}",
                device_serial=f"S{c.account_number}", paid_through=today + timedelta(days=1))
        for c in clients
    ]  # fmt: skip
    session.add_all(cards + vehicles)
    await session.flush()
    session.add_all(
        AutopayEnrollment(client_id=c.id, vehicle_id=v.id, card_id=card.id, days=30,
                          active=True, created_at=clock.now())
        for c, v, card in zip(clients, vehicles, cards, strict=True)
    )  # fmt: skip
    await session.commit()
    return [v.id or 0 for v in vehicles]


async def autopay_payments(session: Any) -> dict[str, int]:
    rows = (
        await session.execute(
            select(col(Payment.status), func.count())
            .where(col(Payment.channel) == "autopay")
            .group_by(col(Payment.status))
        )
    ).all()
    return {str(s): int(n) for s, n in rows}


async def failure_texts(session: Any) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(SmsMessage)
                .where(col(SmsMessage.kind) == "autopay_failed")
            )
        ).scalar_one()
    )


def charged_once(fake: FakeStripe, vehicles: int) -> bool:
    """Stripe moved money once per vehicle-period: one intent per AutoPay key."""
    keys = [c["metadata"].get("payment_id") for c in fake.charges]
    return len(fake.charges) == vehicles and len(set(keys)) == vehicles


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_500_due_vehicles_at_stripes_test_rate_are_all_charged_without_a_429(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, gateway: Any, db_url: str
) -> None:
    assert isinstance(gateway.limiter, LocalRateLimiter) and gateway.limiter.rate == 20
    ids = await due_vehicles(session, clock, 500)
    report = await autopay.run(app.state.sessionmaker, gateway, clock, "Demo", concurrency=16)
    assert (report.due, report.charged, report.failed, report.errors) == (500, 500, 0, 0)
    # Paced at 20/s, requests can still reach the processor bunched (a loaded machine stalls the
    # loop, then several go at once): a rare 429 is retried, never a failure or a text.
    assert report.skipped == 0 and report.busy_retries == fake.rate_limited <= 5
    assert await autopay_payments(session) == {"succeeded": 500}
    assert await failure_texts(session) == 0
    assert charged_once(fake, len(ids))
    # The bound, in the fake's terms: it never admitted more than its limit in any second, and
    # saw one request per vehicle plus one per refusal (500 at ≤ 25/s).
    assert fake.peak_per_second() <= STRIPE_TEST_RATE
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 500 + fake.rate_limited


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_instances_runs_share_the_accounts_limit_in_redis(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, redis_url: str, db_url: str
) -> None:
    """Two runs at once (two instances' schedules), each with its own gateway and 16 workers:
    together they stay under Stripe's limit, and each vehicle-period is charged once."""
    ids = await due_vehicles(session, clock, 200)
    gateways = [
        StripeGateway(
            fake.api_key, "whsec_test", api_base=fake.url,
            limiter=RedisRateLimiter(redis_url, "monitorpay:processor-pace:test", 20),
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        first, second = await asyncio.gather(
            *(autopay.run(app.state.sessionmaker, g, clock, "Demo") for g in gateways)
        )
    finally:
        for g in gateways:
            await g.aclose()
    assert first.charged + second.charged == 200 and first.charged and second.charged
    assert first.failed + second.failed + first.errors + second.errors == 0
    assert await autopay_payments(session) == {"succeeded": 200}
    assert charged_once(fake, len(ids))
    assert first.busy_retries + second.busy_retries == fake.rate_limited <= 4  # retried, rare
    assert fake.peak_per_second() <= STRIPE_TEST_RATE


class Waits:
    """A run's sleeps, recorded instead of slept (nothing here waits for time to pass)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def unpaced(waits: Waits) -> autopay.Pacing:
    return autopay.Pacing(limiter=Unlimited(), sleep=waits, rng=random.Random(7))


async def test_a_429_is_not_attempted_and_retried_after_retry_after_with_no_failure_or_text(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, gateway: Any
) -> None:
    ids = await due_vehicles(session, clock, 3)
    fake.fault_path = "/v1/payment_intents"
    fake.rate_limit, fake.rate_limit_headers = 4, {"Retry-After": "3"}  # other traffic's burst
    waits = Waits()
    report = await autopay.run(
        app.state.sessionmaker, gateway, clock, "Demo", concurrency=1, pacing=unpaced(waits)
    )
    assert (report.charged, report.failed, report.skipped, report.busy_retries) == (3, 0, 0, 4)
    assert len(waits.seconds) == 4 and all(w >= 3 for w in waits.seconds)  # Retry-After kept
    assert await autopay_payments(session) == {"succeeded": 3}  # none left failed
    assert await failure_texts(session) == 0
    assert charged_once(fake, len(ids))
    # the same key went to Stripe again: a 429 stores nothing under it
    keys = [r.idempotency_key for r in fake.requests_to("POST", "/v1/payment_intents")]
    assert len(keys) == 7 and len(set(keys)) == 3
    assert "retried (processor busy)" in report.lines()[0]


async def test_backoff_grows_with_jitter_when_stripe_gives_no_retry_after(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, gateway: Any
) -> None:
    await due_vehicles(session, clock, 1)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 3
    waits = Waits()
    report = await autopay.run(
        app.state.sessionmaker, gateway, clock, "Demo", pacing=unpaced(waits)
    )
    assert report.charged == 1 and report.busy_retries == 3
    assert [0.25 <= w <= 0.5 for w in waits.seconds[:1]] == [True]
    assert waits.seconds[0] < waits.seconds[2] and waits.seconds[2] <= 2.0


async def test_still_busy_after_every_try_is_skipped_for_the_next_run_not_failed(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, gateway: Any
) -> None:
    [vehicle] = await due_vehicles(session, clock, 1)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 6
    pacing = unpaced(Waits())
    first = await autopay.run(app.state.sessionmaker, gateway, clock, "Demo", pacing=pacing)
    assert (first.charged, first.failed, first.skipped) == (0, 0, 1)
    assert first.skipped_why == {BUSY: 1}
    assert await autopay_payments(session) == {}  # taken back: the period's key is free
    client_id = (await session.get(Vehicle, vehicle)).client_id
    assert (await session.get(Client, client_id)).payment_in_flight is None
    again = await autopay.run(app.state.sessionmaker, gateway, clock, "Demo", pacing=pacing)
    assert again.charged == 1 and await autopay_payments(session) == {"succeeded": 1}
    assert await failure_texts(session) == 0


async def test_stripe_should_retry_false_is_not_asked_again_in_the_run(
    app: Litestar, session: Any, clock: Any, fake: FakeStripe, gateway: Any
) -> None:
    await due_vehicles(session, clock, 1)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 1
    fake.rate_limit_headers = {"Stripe-Should-Retry": "false"}
    waits = Waits()
    report = await autopay.run(
        app.state.sessionmaker, gateway, clock, "Demo", pacing=unpaced(waits)
    )
    assert (report.charged, report.failed, report.skipped_why) == (0, 0, {BUSY: 1})
    assert waits.seconds == [] and len(fake.requests_to("POST", "/v1/payment_intents")) == 1
    assert await autopay_payments(session) == {} and await failure_texts(session) == 0
