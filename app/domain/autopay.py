"""AutoPay's due rule (SPEC §2, AutoPay): a vehicle is charged when its paid-through date ends
within LEAD_DAYS of its location's today, or has already passed. The run's SQL cutoff
(`store/autopay_queries.due_where`) is `paid_through <= due_through(today)`, pinned to `is_due` by
tests/unit/test_autopay_rules.py.

A declined AutoPay is tried again on a schedule when the decline is soft (`is_soft_decline`):
`retry_days` days after the first failed attempt (AUTOPAY_RETRY_DAYS, default 1,3,5), while the
vehicle-period is unpaid; a hard decline is never retried (`plan_retry`). A card that will have
expired by the next AutoPay date is texted once, a week before (`expiry_warning_due`). Pinned by
tests/unit/test_autopay_retries.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.domain.cards import expired

LEAD_DAYS = 3


def due_through(today: date) -> date:
    """The last paid-through date that is due today: within LEAD_DAYS."""
    return today + timedelta(days=LEAD_DAYS)


def is_due(paid_through: date, today: date) -> bool:
    """Charge when the paid-through date ends within LEAD_DAYS (or has already passed)."""
    return paid_through <= due_through(today)


def next_charge_date(paid_through: date, today: date) -> date:
    """LEAD_DAYS before paid-through, or today when that day has already come."""
    return max(paid_through - timedelta(days=LEAD_DAYS), today)


# -- retries: a soft decline is tried again on a schedule, a hard one is not ---------------------
# The processor's decline codes (Stripe's `decline_code`, which the sandbox mirrors). A soft
# decline may succeed days later (funds arrive, the bank's system recovers); a hard one will not
# (the card is lost, stolen, closed or expired, or the bank said never): retrying it only earns
# the card more declines. A code not listed is treated as hard: never retried on a guess.
SOFT_DECLINES = frozenset(
    {
        "insufficient_funds",
        "processing_error",
        "try_again_later",
        "issuer_not_available",
        "reenter_transaction",
        "approve_with_id",
    }
)
HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "expired_card",
        "do_not_honor",
        "do_not_try_again",
        "card_not_supported",
        "invalid_account",
        "card_unusable",  # AutoPay's own: the card on file was removed or has expired
    }
)
DEFAULT_RETRY_DAYS: tuple[int, ...] = (1, 3, 5)  # days after the first failed attempt
EXPIRY_WARNING_DAYS = 7  # a card expiring before the next AutoPay date is texted this early


def is_soft_decline(code: str | None) -> bool:
    """Tried again later: a decline the bank may accept on another day."""
    return code in SOFT_DECLINES


def parse_retry_days(text: str) -> tuple[int, ...]:
    """'1,3,5' → (1, 3, 5): days after the first failed attempt, strictly increasing, each
    1..60; '' → no retries. ValueError names what is wrong."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        days = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"AUTOPAY_RETRY_DAYS must be whole days like 1,3,5, not {text!r}"
        ) from None
    if any(not 1 <= d <= 60 for d in days) or list(days) != sorted(set(days)):
        raise ValueError(f"AUTOPAY_RETRY_DAYS must increase, each from 1 to 60: {text!r}")
    return days


def retry_on(first_failed_on: date, failed: int, retry_days: tuple[int, ...]) -> date | None:
    """After `failed` failed attempts (the first on `first_failed_on`), the day of the next try,
    or None when the tries are exhausted. Attempt n+1 comes retry_days[n-1] days after the first."""
    if failed < 1 or failed > len(retry_days):
        return None
    return first_failed_on + timedelta(days=retry_days[failed - 1])


@dataclass(frozen=True)
class Attempts:
    """A vehicle-period's AutoPay attempts so far, all failed: how many, the local day of the
    first, and the last one's decline code."""

    failed: int
    first_failed_on: date
    last_code: str | None


@dataclass(frozen=True)
class RetryPlan:
    """What to do about a vehicle-period whose attempts all failed."""

    attempt: int | None  # the attempt to make today (1 = the first retry); None: not today
    next_on: date | None  # when it will be tried (today or later); None: never again
    why: str  # "retry" | "waiting" | "hard" | "exhausted"


def plan_retry(tried: Attempts, today: date, retry_days: tuple[int, ...]) -> RetryPlan:
    """Try again today, later, or never: a hard decline is never retried, and the tries end
    after the last of `retry_days`. A run missed on a retry day retries on the next run."""
    if not is_soft_decline(tried.last_code):
        return RetryPlan(None, None, "hard")
    next_on = retry_on(tried.first_failed_on, tried.failed, retry_days)
    if next_on is None:
        return RetryPlan(None, None, "exhausted")
    if next_on <= today:
        return RetryPlan(tried.failed, today, "retry")
    return RetryPlan(None, next_on, "waiting")


def after_failure(
    code: str | None, first_failed_on: date, failed: int, retry_days: tuple[int, ...]
) -> date | None:
    """Told to the client once attempt number `failed` (1 = the first) has just failed: the day
    it will be tried again, or None (a hard decline, or the last try)."""
    if not is_soft_decline(code):
        return None
    return retry_on(first_failed_on, failed, retry_days)


def expiry_warning_due(exp_year: int, exp_month: int, next_charge_on: date, today: date) -> bool:
    """Text the client now: the card works today but will have expired by the next AutoPay
    date, which is at most EXPIRY_WARNING_DAYS away (and not today: then it is too late)."""
    return (
        not expired(exp_year, exp_month, today)
        and expired(exp_year, exp_month, next_charge_on)
        and today < next_charge_on <= today + timedelta(days=EXPIRY_WARNING_DAYS)
    )
