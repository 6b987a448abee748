"""Pacing calls to the processor under its account's rate limit.

Stripe limits an account to 25 requests a second in test mode and 100 live (and 25 a second per
endpoint unless it says otherwise); past that it answers 429 and does nothing. The limit is the
account's, not a process's: every worker of an AutoPay run, and every instance running one, take
their turns from one limiter — in Redis when REDIS_URL is set (Redis's own clock, so instances'
clocks need not agree), else in this process.

The limiter hands out slots `1/rate` apart (GCRA: one "theoretical arrival time" moved on by
each caller), so a burst of callers is spread out in the order they asked, with no polling. A
processor that answers "busy" anyway (other traffic on the account) can push every caller back
(`hold_off`). `busy_wait` is how long to wait before asking again: exponential backoff with
jitter, never sooner than the processor's `Retry-After`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("monitorpay.pacing")

Sleep = Callable[[float], Awaitable[None]]

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


class RateLimiter(Protocol):
    rate: float  # calls a second; 0: not limited

    async def acquire(self) -> None:
        """Wait for this call's turn."""
        ...

    async def hold_off(self, seconds: float) -> None:
        """The processor said it is busy: nobody's turn comes sooner than `seconds` from now."""
        ...

    async def aclose(self) -> None: ...


def busy_wait(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before asking a busy processor again, after `attempt` (0, 1, …) tries:
    BACKOFF_BASE × 2^attempt up to BACKOFF_CAP, with full jitter in its upper half, and never
    less than the processor's Retry-After (plus a little jitter, so waiters do not return at
    one instant)."""
    backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * rng.uniform(0.5, 1.0)
    if retry_after is None:
        return backoff
    return max(backoff, retry_after + rng.uniform(0.0, BACKOFF_BASE_SECONDS / 2))


class Unlimited:
    """No pacing (a test's gateway, or a rate of 0)."""

    rate = 0.0

    async def acquire(self) -> None:
        return None

    async def hold_off(self, seconds: float) -> None:
        return None

    async def aclose(self) -> None:
        return None


class LocalRateLimiter:
    """The limiter of one process (no REDIS_URL): its coroutines share it."""

    def __init__(
        self,
        rate: float,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        assert rate > 0
        self.rate, self._now, self._sleep = rate, now, sleep
        self._next = 0.0  # the earliest time the next slot may start

    def reserve(self) -> float:
        """Take the next slot; how long until it starts."""
        now = self._now()
        start = max(self._next, now)
        self._next = start + 1 / self.rate
        return start - now

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)

    async def hold_off(self, seconds: float) -> None:
        self._next = max(self._next, self._now() + seconds)

    async def aclose(self) -> None:
        return None


# KEYS[1]: the account's next free slot (seconds, Redis's clock). ARGV[1]: seconds between
# slots; ARGV[2]: "hold" pushes the next slot to now + ARGV[1] instead of taking one.
# Returns the wait before the slot taken, as a string (Redis would cut a number to an integer).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local step = tonumber(ARGV[1])
local start, after
if ARGV[2] == 'hold' then
  start = now
  after = math.max(nxt, now + step)
else
  start = math.max(nxt, now)
  after = start + step
end
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX',
           math.ceil((after - now) * 1000) + 60000)
return string.format('%.6f', start - now)
"""


class RedisRateLimiter:
    """The limiter every instance shares (REDIS_URL): one key per processor account. If Redis
    cannot be reached, this process paces itself alone (logged) rather than stop charging."""

    def __init__(self, url: str, key: str, rate: float, *, sleep: Sleep = asyncio.sleep) -> None:
        import redis.asyncio as redis

        assert rate > 0
        self.rate, self.key, self._sleep = rate, key, sleep
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_GCRA)
        self._alone = LocalRateLimiter(rate, sleep=sleep)

    async def _call(self, step: float, mode: str) -> float | None:
        from redis import RedisError

        try:
            answer = await self._script(keys=[self.key], args=[f"{step:.6f}", mode])
        except (RedisError, OSError) as exc:
            log.warning("event=pacing_redis_unavailable error=%s", type(exc).__name__)
            return None
        return float(answer)

    async def acquire(self) -> None:
        wait = await self._call(1 / self.rate, "take")
        if wait is None:
            wait = self._alone.reserve()
        if wait > 0:
            await self._sleep(wait)

    async def hold_off(self, seconds: float) -> None:
        if await self._call(seconds, "hold") is None:
            await self._alone.hold_off(seconds)

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_limiter(rate: float, *, redis_url: str = "", account: str = "") -> RateLimiter:
    """The account's limiter: shared through Redis when `redis_url`, else this process's."""
    if rate <= 0:
        return Unlimited()
    if redis_url:
        return RedisRateLimiter(redis_url, f"monitorpay:processor-pace:{account}", rate)
    return LocalRateLimiter(rate)
