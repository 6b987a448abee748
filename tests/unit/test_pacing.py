"""Pacing to the processor: the limiter hands out turns 1/rate apart (one process, or every
instance through Redis); a busy answer is waited out with backoff and jitter, never sooner than
Retry-After; Stripe's 429 headers are read as they are meant; the sandbox refuses past its rate."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.payments.pacing import (
    BACKOFF_CAP_SECONDS,
    LocalRateLimiter,
    RedisRateLimiter,
    busy_wait,
    make_limiter,
)
from app.adapters.payments.sandbox import RateWindow, SandboxGateway
from app.adapters.payments.stripe_gateway import busy_answer
from app.clock import FixedClock
from app.domain.errors import GatewayUnavailable, ProcessorBusy
from app.settings import Settings


class Timeline:
    """A monotonic clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_turns_are_one_over_the_rate_apart_in_the_order_asked() -> None:
    time = Timeline()
    limiter = LocalRateLimiter(20, now=time.now, sleep=time.sleep)
    for _ in range(5):
        await limiter.acquire()
    assert time.slept == pytest.approx([0.05, 0.10, 0.15, 0.20])  # the first goes at once
    time.t += 10  # idle: no debt carried, no burst saved up either
    await limiter.acquire()
    await limiter.acquire()
    assert time.slept[-1] == pytest.approx(0.05)


async def test_hold_off_pushes_every_later_turn_back() -> None:
    time = Timeline()
    limiter = LocalRateLimiter(20, now=time.now, sleep=time.sleep)
    await limiter.hold_off(1.0)
    await limiter.acquire()
    assert time.slept == [pytest.approx(1.0)]


@given(st.integers(0, 10), st.one_of(st.none(), st.floats(0, 60)), st.integers(0, 2**32))
def test_busy_wait_backs_off_with_jitter_and_keeps_retry_after(
    attempt: int, retry_after: float | None, seed: int
) -> None:
    wait = busy_wait(attempt, retry_after, random.Random(seed))
    backoff = min(BACKOFF_CAP_SECONDS, 0.5 * 2**attempt)
    assert wait >= backoff / 2
    if retry_after is None:
        assert wait <= backoff
    else:
        assert wait >= retry_after and wait <= max(backoff, retry_after + 0.25)


def test_stripe_429_headers() -> None:
    assert busy_answer({}).retry_after is None and busy_answer({}).should_retry
    assert busy_answer({"Retry-After": "2"}).retry_after == 2.0
    assert busy_answer({"retry-after": "0.5"}).retry_after == 0.5
    for garbage in ("Wed, 21 Oct 2026 07:28:00 GMT", "nan", "inf", "-3", "99999"):
        assert busy_answer({"Retry-After": garbage}).retry_after in (None, 0.0)
    assert not busy_answer({"Stripe-Should-Retry": "false"}).should_retry
    assert busy_answer({"Stripe-Should-Retry": "true"}).should_retry
    assert isinstance(busy_answer({}), GatewayUnavailable)  # nothing was charged
    assert "Nothing was charged" in ProcessorBusy.message


def test_default_rates_are_under_stripes_limits() -> None:
    def rate(**kw: object) -> float:
        return Settings(_env_file=None, **kw).processor_rate  # type: ignore[arg-type]

    assert rate() == 20  # the sandbox: Stripe's test mode (25/s)
    assert rate(payments_gateway="stripe", stripe_secret_key="sk_test_x") == 20
    assert rate(payments_gateway="stripe", stripe_secret_key="sk_live_x") == 80  # live: 100/s
    assert rate(processor_rate_per_second=5) == 5
    assert make_limiter(0).rate == 0  # 0: not paced


def test_the_sandbox_refuses_past_its_rate_and_records_nothing() -> None:
    now = [0.0]
    window = RateWindow(3, now=lambda: now[0])
    for _ in range(3):
        window.admit()
    with pytest.raises(ProcessorBusy) as busy:
        window.admit()
    assert busy.value.retry_after == pytest.approx(1.0) and window.refused == 1
    now[0] = 1.0  # the first left the window
    window.admit()

    async def charge_twice() -> None:
        gateway = SandboxGateway(FixedClock(), rate_limit=1)
        await gateway.charge(amount_cents=100, payment_method="pm_sandbox_visa_4242",
                             idempotency_key="k1", description="d")  # fmt: skip
        with pytest.raises(ProcessorBusy):
            await gateway.charge(amount_cents=100, payment_method="pm_sandbox_visa_4242",
                                 idempotency_key="k2", description="d")  # fmt: skip
        assert gateway.successful_charge_count == 1

    asyncio.run(charge_twice())


async def test_two_instances_take_turns_from_one_redis_key(redis_url: str) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    a, b = (
        RedisRateLimiter(redis_url, "monitorpay:processor-pace:t", 10, sleep=sleep) for _ in "ab"
    )
    try:
        for limiter in (a, b, a, b):
            await limiter.acquire()
    finally:
        await a.aclose()
        await b.aclose()
    # one schedule for both: turns 0.1 s apart (less the little time the calls took)
    assert len(sleeps) == 3
    assert [round(s, 1) for s in sleeps] == [0.1, 0.2, 0.3]


async def test_an_unreachable_redis_paces_this_process_alone() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "k", 10, sleep=sleep)
    try:
        await limiter.acquire()
        await limiter.acquire()
    finally:
        await limiter.aclose()
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(0.1, abs=0.02)
