"""Charging one due vehicle in an AutoPay run, through the payment core, paced to the processor.

Each charge takes its turn from the processor account's limiter (shared by the run's workers
and by every instance's run), so the run stays under the account's rate limit. A processor
that says it is busy anyway (429) or cannot be reached did nothing: the payment core takes the
payment back (no `failed` row, no text), and the vehicle is asked again within the run after a
backoff with jitter, never sooner than the processor's Retry-After and not at all when it says
asking again will not help. Only a refusal (a decline, a card the processor would not take) is
a failure: recorded once per attempt and texted to the client, saying whether and when it
is tried again (a soft decline is retried on AUTOPAY_RETRY_DAYS, each retry its own attempt:
`retries.py`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.pacing import RateLimiter, Sleep, Unlimited, busy_wait
from app.adapters.payments.port import CardDetails, PaymentGateway
from app.clock import Clock
from app.domain.autopay import after_failure, is_due, is_soft_decline
from app.domain.cards import expired
from app.domain.errors import CardDeclined, GatewayError, GatewayUnavailable, StaleSummary
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary
from app.services import audit, payments, sms, summary, texts
from app.services.autopay import notices
from app.services.autopay.report import ProgressReporter, RunItem, RunReport
from app.services.autopay.retries import EARLIER, IN_PROGRESS, Policy, idempotency_key
from app.services.cards import CardExpired
from app.store.autopay_queries import Due
from app.store.models import Location

log = logging.getLogger("monitorpay.autopay")

BUSY = "the processor was busy and charged nothing; the next run charges it"
UNUSABLE = "card_unusable"  # the card on file was removed or has expired: not retried


def key_of(vehicle_id: int, snap: InvoiceSummary, attempt: int = 0) -> str:
    """Once per vehicle-period and attempt: AutoPay always buys a period (never the past due
    only); each retry of a soft decline has its own key (`retries.idempotency_key`)."""
    assert snap.period is not None
    return idempotency_key(vehicle_id, snap.period.start, attempt)


@dataclass(frozen=True)
class Job:
    """One due vehicle-period to charge: its summary, which attempt this is (0: the first;
    n: the n-th retry of a soft decline) and, for a retry, the day the first attempt failed."""

    due: Due
    snap: InvoiceSummary
    attempt: int = 0
    first_failed_on: date | None = None

    def on(self, snap: InvoiceSummary) -> Job:
        """This job charging `snap` instead (the account changed): a retry stays a retry only
        for the same period; a new period starts at its first attempt."""
        assert snap.period is not None and self.snap.period is not None
        if snap.period.start == self.snap.period.start:
            return Job(self.due, snap, self.attempt, self.first_failed_on)
        return Job(self.due, snap)


@dataclass(frozen=True)
class Pacing:
    """How a run keeps to the processor's rate: the account's limiter, and how it waits before
    asking a busy processor again (`attempts` tries in all per vehicle)."""

    limiter: RateLimiter = field(default_factory=Unlimited)
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 6


@dataclass
class Run:
    """What every worker of one run shares."""

    maker: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway
    clock: Clock
    company: str
    locations: dict[int, Location]
    report: RunReport
    progress: ProgressReporter
    pacing: Pacing
    policy: Policy = field(default_factory=Policy)

    def item(self, due: Due, amount_cents: int, note: str) -> RunItem:
        return RunItem(due.account_number, due.vehicle, amount_cents, note)

    def finished(self) -> None:
        self.report.done += 1
        self.progress.tick()


async def charge_due(run: Run, job: Job) -> None:
    """Charge one due vehicle once for this attempt at its period, and count what happened."""
    unusable = _unusable_card(run, job.due)
    if unusable is not None:
        await _record_unusable(run, job, unusable)
        return
    try:
        outcome = await _charge_fresh(run, job)
    except (StaleSummary, payments.PaymentInProgress):
        run.report.skip("another payment is in progress; next run")
        return
    if outcome is not None:
        _count(run.report, outcome)


def _today(run: Run, due: Due) -> date:
    return local_today(run.clock.now(), run.locations[due.location_id].timezone)


def _unusable_card(run: Run, due: Due) -> str | None:
    if due.card_removed:
        return "The AutoPay card was removed."
    if expired(due.card_exp_year, due.card_exp_month, _today(run, due)):
        return CardExpired.message
    return None


async def _record_unusable(run: Run, job: Job, why: str) -> None:
    """Nothing goes to the processor; a failed payment row keeps it to once per attempt (a
    hard decline of AutoPay's own: not retried)."""
    due, snap = job.due, job.snap
    if await payments.record_unchargeable(
        run.maker, run.clock, _request(job), code=UNUSABLE, message=why
    ):
        await _notify_failure(run, job, snap.total_cents, why, UNUSABLE)
        run.report.fail(run.item(due, snap.total_cents, why))
    else:
        run.report.skip("already tried for this period")


async def _charge_fresh(run: Run, job: Job) -> payments.PaymentOutcome | None:
    """Charge the job's summary; if the account changed since the chunk was read (another of
    its vehicles was charged, an invoice was paid), decide once more on what is true now. None:
    nothing to count further (refused, busy or no longer due: counted here)."""
    try:
        return await _attempt(run, job)
    except StaleSummary:
        current = await _current_summary(run, job.due)
        if current is None:
            run.report.not_due += 1
            return None
        return await _attempt(run, job.on(current))


async def _attempt(run: Run, job: Job) -> payments.PaymentOutcome | None:
    due, snap = job.due, job.snap
    try:
        return await _charge_paced(run, job)
    except GatewayUnavailable:  # still busy after every try: nothing charged, nobody texted
        run.report.skip(BUSY)
        return None
    except GatewayError as exc:  # includes CardDeclined; the core recorded the failed payment
        code = exc.code if isinstance(exc, CardDeclined) else "gateway_error"
        await _notify_failure(run, job, snap.total_cents, exc.message, code)
        run.report.fail(run.item(due, snap.total_cents, exc.message))
        return None


async def _charge_paced(run: Run, job: Job) -> payments.PaymentOutcome:
    """The charge, its call to the processor in its turn from the account's limiter (a charge
    the core answers without calling, a period already taken, takes no turn); asked again after
    a backoff while the processor says it did nothing (the core took the payment back)."""
    pacing = run.pacing
    for attempt in range(pacing.attempts):
        try:
            return await payments.charge(
                run.maker, run.gateway, run.clock, _request(job),
                company=run.company, busy_retries=0, pace=pacing.limiter.acquire,
            )  # fmt: skip
        except GatewayUnavailable as exc:
            retry_after: float | None = getattr(exc, "retry_after", None)
            if attempt + 1 == pacing.attempts or not getattr(exc, "should_retry", True):
                raise
            wait = busy_wait(attempt, retry_after, pacing.rng)
            run.report.busy_retries += 1
            log.info(
                "event=autopay_processor_busy vehicle_id=%s attempt=%s wait=%.2f",
                job.due.vehicle_id, attempt + 1, wait,
            )  # fmt: skip
            if retry_after:  # the account is busy: every worker waits, not only this one
                await pacing.limiter.hold_off(retry_after)
            await pacing.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _count(report: RunReport, outcome: payments.PaymentOutcome) -> None:
    if outcome.replayed:  # a concurrent run got to this period first
        report.skip(EARLIER.get(outcome.status, IN_PROGRESS))
    elif outcome.status == "succeeded":
        report.charged += 1
        report.charged_cents += outcome.amount_cents
    elif outcome.status == "unknown":
        report.skip("the processor's answer was lost; reconcile confirms it")
    else:
        report.skip(f"the charge is {outcome.status}")


def _request(job: Job) -> payments.ChargeRequest:
    due = job.due
    return payments.ChargeRequest.card_on_file(
        due.client_id,
        job.snap,
        due.card_ref,
        CardDetails(due.card_brand, due.card_last4, due.card_exp_month, due.card_exp_year),
        customer=due.customer,
        key=key_of(due.vehicle_id, job.snap, job.attempt),
    )


async def _current_summary(run: Run, due: Due) -> InvoiceSummary | None:
    """The summary as the account stands now; None when the vehicle is no longer due."""
    async with run.maker() as s:
        snap = await summary.compute(
            s, client_id=due.client_id, vehicle_id=due.vehicle_id, days=due.days,
            now=run.clock.now(),
        )  # fmt: skip
    return snap if is_due(snap.basis.paid_through, snap.computed_on) else None


async def _notify_failure(run: Run, job: Job, amount_cents: int, reason: str, code: str) -> None:
    """Record the failure and text the client (unless they opted out of texts): whether and
    when AutoPay tries again (domain.autopay.after_failure), and that PAY gets a link now."""
    now, due = run.clock.now(), job.due
    first = job.first_failed_on or _today(run, due)
    again = after_failure(code, first, job.attempt + 1, run.policy.retry_days)
    last = again is None and is_soft_decline(code)  # a soft decline's last try
    async with run.maker() as s:
        opted_out = await sms.number_opted_out(s, due.phone_e164)
        if not opted_out:
            to = await texts.recipient(s, due.client_id)
            sms.queue(
                s,
                to_e164=due.phone_e164,
                body=notices.failed(
                    to, company=run.company, amount=amount_cents, vehicle=due.vehicle,
                    retry_on=again, last=last,
                ),
                kind="autopay_failed",
                now=now,
                client_id=due.client_id,
            )  # fmt: skip
        audit.autopay_failed(
            s, at=now, client_id=due.client_id, vehicle_id=due.vehicle_id,
            amount_cents=amount_cents, reason=reason, texted=not opted_out,
        )  # fmt: skip
        await s.commit()
    log.info(
        "event=autopay_failed vehicle_id=%s attempt=%s code=%s retry_on=%s texted=%s",
        due.vehicle_id, job.attempt, code, again, not opted_out,
    )  # fmt: skip
