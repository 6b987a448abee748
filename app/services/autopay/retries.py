"""AutoPay's retries, derived from the payments table: a vehicle-period's attempts are its
AutoPay payments, each under its own idempotency key (`autopay:{vehicle}:{period start}` for
the first, `…:retry{n}` for the n-th retry). Whether and when to try again is the domain's
(`app/domain/autopay.py`: soft declines on AUTOPAY_RETRY_DAYS, hard ones never); this module
reads the attempts, names the key of the next one, and says what staff see for a vehicle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import autopay as rules
from app.domain.periods import local_today, next_period
from app.store import autopay_queries as q
from app.store.autopay_queries import Tried
from app.store.reads import AccountView

SUCCEEDED = frozenset({"succeeded", "refunded", "partially_refunded"})


@dataclass(frozen=True)
class Policy:
    """What the run needs from the settings: the retry schedule, and My Account's address
    (named in the expiring-card text)."""

    retry_days: tuple[int, ...] = rules.DEFAULT_RETRY_DAYS
    account_url: str = ""

    @classmethod
    def from_settings(cls, settings: object) -> Policy:
        retry_days: tuple[int, ...] = getattr(settings, "retry_days", rules.DEFAULT_RETRY_DAYS)
        base_url = str(getattr(settings, "base_url", ""))
        return cls(retry_days=retry_days, account_url=f"{base_url}/account" if base_url else "")

    @classmethod
    def from_env(cls) -> Policy:
        """From the settings (environment and .env), for a caller that passed none."""
        return _policy_from_env()


@lru_cache(maxsize=1)
def _policy_from_env() -> Policy:
    from app.settings import Settings  # noqa: PLC0415 - only for callers that passed none

    return Policy.from_settings(Settings())


def idempotency_key(vehicle_id: int, period_start: date, attempt: int = 0) -> str:
    """Attempt 0 is the period's first charge; each retry has its own key, so a retry is a new
    request to the processor and a second run on the same day replays, never charges twice."""
    base = f"autopay:{vehicle_id}:{period_start.isoformat()}"
    return base if attempt == 0 else f"{base}:retry{attempt}"


def keys_of(vehicle_id: int, period_start: date, retry_days: Sequence[int]) -> list[str]:
    """Every key the period's attempts may hold."""
    return [idempotency_key(vehicle_id, period_start, n) for n in range(len(retry_days) + 1)]


@dataclass(frozen=True)
class Decision:
    """What a run does about a due vehicle-period: charge attempt `attempt`, or skip (`skip`
    says why, for the run's report). `first_failed_on` dates the retry schedule."""

    attempt: int | None
    skip: str | None
    first_failed_on: date | None = None


IN_PROGRESS = "a charge for this period is in progress"
EARLIER = {  # a period's payment found by a run: why it is not charged again
    "succeeded": "already charged for this period",
    "refunded": "already charged for this period (refunded)",
    "partially_refunded": "already charged for this period",
    "failed": "already tried for this period and it failed",
}
WHY_NOT = {  # a period whose attempts all failed
    "hard": EARLIER["failed"],  # a hard decline: never retried
    "exhausted": "already tried for this period; its retries are exhausted",
    "waiting": "already tried for this period and it failed; retried on its day",
}


def attempts_of(found: Iterable[Tried], timezone: str) -> rules.Attempts | None:
    """The period's attempts, when all failed; None when none was made."""
    ordered = sorted(found, key=lambda t: (t.created_at, t.key))
    if not ordered:
        return None
    return rules.Attempts(
        failed=len(ordered),
        first_failed_on=local_today(ordered[0].created_at, timezone),
        last_code=ordered[-1].failure_code,
    )


def decide(
    found: Sequence[Tried], today: date, timezone: str, retry_days: tuple[int, ...]
) -> Decision:
    """Charge the first attempt, a retry that is due, or nothing (charged, in flight, a hard
    decline, retries exhausted, or not yet the retry day)."""
    statuses = {t.status for t in found}
    if statuses - {"failed"}:  # charged (or refunded since), or a charge still in flight
        charged = sorted(statuses & SUCCEEDED)
        return Decision(None, EARLIER[charged[0]] if charged else IN_PROGRESS)
    tried = attempts_of(found, timezone)
    if tried is None:
        return Decision(0, None, None)
    plan = rules.plan_retry(tried, today, retry_days)
    if plan.attempt is None:
        return Decision(None, WHY_NOT[plan.why], tried.first_failed_on)
    return Decision(plan.attempt, None, tried.first_failed_on)


# -- what staff see on the vehicle's status ----------------------------------------------------


class HasPaidThrough(Protocol):
    """A vehicle as the status needs it."""

    @property
    def id(self) -> int | None: ...
    @property
    def paid_through(self) -> date: ...


@dataclass(frozen=True)
class StaffStatus:
    """A vehicle's AutoPay for PLUS: `state` is off | on | retrying | declined | exhausted
    (the current period's attempts); `retry_on` the next try when retrying."""

    state: str
    retry_on: date | None = None


def staff_state(found: Sequence[Tried], timezone: str, retry_days: tuple[int, ...]) -> StaffStatus:
    statuses = {t.status for t in found}
    tried = attempts_of(found, timezone)
    if tried is None or statuses - {"failed"}:
        return StaffStatus("on")
    if not rules.is_soft_decline(tried.last_code):
        return StaffStatus("declined")
    next_on = rules.retry_on(tried.first_failed_on, tried.failed, retry_days)
    return StaffStatus("exhausted") if next_on is None else StaffStatus("retrying", next_on)


async def staff_view(
    s: AsyncSession, account: AccountView, retry_days: tuple[int, ...] = rules.DEFAULT_RETRY_DAYS
) -> dict[int, StaffStatus]:
    """Vehicle id → its AutoPay status for the period it would buy next (the one after its
    paid-through date), in one statement."""
    return await vehicles_view(
        s, account.client.id, account.vehicles, account.location.timezone, retry_days
    )


async def vehicles_view(
    s: AsyncSession,
    client_id: int,
    vehicles: Sequence[HasPaidThrough],
    timezone: str,
    retry_days: tuple[int, ...] = rules.DEFAULT_RETRY_DAYS,
) -> dict[int, StaffStatus]:
    """The same status for a client's vehicles, staff's or the client's own (My Account)."""
    keys = {
        (v.id or 0): keys_of(v.id or 0, next_period(v.paid_through, 30).start, retry_days)
        for v in vehicles
    }
    on, found = await q.client_tries(s, client_id, [k for ks in keys.values() for k in ks])
    return {
        vid: (
            staff_state([found[k] for k in ks if k in found], timezone, retry_days)
            if vid in on
            else StaffStatus("off")
        )
        for vid, ks in keys.items()
    }
