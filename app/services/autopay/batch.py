"""The AutoPay run: every active enrollment that is due, charged once per vehicle-period.

The due enrollments are read in SQL a chunk at a time (`store/autopay_queries.py`) and charged
by a fixed pool of workers pulling from a bounded queue, so memory stays flat however many are
due; never two charges of one account at once within a run. Each charge goes through the
payment core with the idempotency key `autopay:{vehicle_id}:{period_start}` (a second or
concurrent run finds the key taken and charges nothing), in its turn from the processor
account's limiter (`charging.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.pacing import RateLimiter, Unlimited
from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary, OpenInvoice, VehicleRef, build_summary
from app.services import runs
from app.services.autopay import expiring
from app.services.autopay.charging import Job, Pacing, Run, charge_due
from app.services.autopay.report import (
    PROGRESS_EVERY,
    Progress,
    ProgressReporter,
    RunItem,
    RunReport,
    log_progress,
)
from app.services.autopay.retries import Decision, Policy, decide, keys_of
from app.services.daily import every_day
from app.store import autopay_queries as q
from app.store import reads
from app.store.autopay_queries import Due
from app.store.models import Location

log = logging.getLogger("monitorpay.autopay")

CHUNK_SIZE = 500
DAILY_CONCURRENCY = 4  # in-process: the web requests share the pool


class _ClientLocks:
    """One charge at a time per account within a run: a client's second due vehicle waits for
    the first instead of finding the account busy. An entry lives only while in use."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, client_id: int) -> AsyncIterator[None]:
        lock, users = self._held.get(client_id, (asyncio.Lock(), 0))
        self._held[client_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._held.pop(client_id)
            if users > 1:
                self._held[client_id] = (lock, users - 1)


def _summarize(
    due: Due, location: Location, now: datetime, owing: dict[int, list[OpenInvoice]]
) -> InvoiceSummary:
    return build_summary(
        today=local_today(now, location.timezone),
        vehicle=VehicleRef(id=due.vehicle_id, label=due.vehicle, paid_through=due.paid_through),
        days=due.days,
        price_cents=location.price_for(due.days),
        tax_rate_bp=location.tax_rate_bp,
        open_invoices=owing.get(due.client_id, []),
    )


async def _chunk(run: Run, after: int, size: int) -> list[tuple[Due, InvoiceSummary, Decision]]:
    """The next chunk of due enrollments with the summary to charge, each with what to do
    about its period given the attempts already made (`retries.decide`: the first attempt, a
    retry that is due, or nothing). A summary read here may be stale by the time it is
    charged: the payment core re-checks it under the account lock."""
    now = run.clock.now()
    taking = [loc for loc in run.locations.values() if loc.accepts_payments]
    retry_days = run.policy.retry_days
    async with run.maker() as s:
        dues = await q.due_chunk(s, q.cutoffs(taking, now), after=after, limit=size)
        if not dues:
            return []
        owing = await reads.open_invoices_by_client(s, {d.client_id for d in dues})
        jobs = [(d, _summarize(d, run.locations[d.location_id], now, owing)) for d in dues]
        keys = [keys_of(d.vehicle_id, _period_start(snap), retry_days) for d, snap in jobs]
        found = await q.tried(s, [k for ks in keys for k in ks])
    out = []
    for (d, snap), ks in zip(jobs, keys, strict=True):
        tz = run.locations[d.location_id].timezone
        tries = [found[k] for k in ks if k in found]
        out.append((d, snap, decide(tries, local_today(now, tz), tz, retry_days)))
    return out


def _period_start(snap: InvoiceSummary) -> date:
    assert snap.period is not None  # AutoPay always buys a period
    return snap.period.start


async def _jobs(run: Run, chunk_size: int) -> AsyncIterator[Job]:
    """The due enrollments to charge now (a first attempt or a due retry), a chunk at a time."""
    after = 0
    while chunk := await _chunk(run, after, chunk_size):
        after = chunk[-1][0].enrollment_id
        for due, snap, decision in chunk:
            if decision.attempt is None:  # charged, in flight, or not to be tried today
                run.report.skip(decision.skip or "")
                run.finished()
            else:
                yield Job(due, snap, decision.attempt, decision.first_failed_on)
        if len(chunk) < chunk_size:
            return


async def run_daily(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    at: time,
    concurrency: int = DAILY_CONCURRENCY,
    policy: Policy | None = None,
) -> None:
    """The optional in-process schedule (AUTOPAY_DAILY_AT); a period is charged once whoever
    gets there first."""

    async def job() -> list[str]:
        report = await run(maker, gateway, clock, company, concurrency=concurrency, policy=policy)
        return report.lines()

    await every_day(maker, clock, at, "autopay", job)


def _workers(maker: async_sessionmaker[AsyncSession], wanted: int) -> int:
    """At most `wanted`, and below the pool size: each worker holds at most one connection at a
    time, and the chunk reads (or an advisory lock) need one more."""
    size = getattr(maker.kw["bind"].pool, "size", None)
    return max(1, min(wanted, size() - 2 if callable(size) else wanted))


def _pacing(gateway: PaymentGateway, pacing: Pacing | None) -> Pacing:
    """The given pacing, or the gateway's account limiter (make_gateway gives it one)."""
    if pacing is not None:
        return pacing
    limiter: RateLimiter = getattr(gateway, "limiter", None) or Unlimited()
    return Pacing(limiter=limiter)


async def _start(
    maker: async_sessionmaker[AsyncSession], clock: Clock
) -> tuple[dict[int, Location], RunReport]:
    """The locations, and the report with what is due counted."""
    async with maker() as s:
        locations = await q.locations(s)
        report = RunReport()
        report.due, due_elsewhere, report.not_due = await q.count_active(
            s, locations.values(), clock.now()
        )
    if due_elsewhere:
        report.skip("the location does not accept payments", due_elsewhere)
    return locations, report


async def run(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    *,
    concurrency: int = 16,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[Progress], None] = log_progress,
    progress_every: timedelta = PROGRESS_EVERY,
    pacing: Pacing | None = None,
    policy: Policy | None = None,
) -> RunReport:
    """Charge every enrollment that is due, once per period (a soft decline again on its retry
    days); text the client on failure; warn of cards expiring before the next AutoPay date.
    `policy`: the retry days and My Account's address (default: from the settings)."""
    locations, report = await _start(maker, clock)
    run_ = Run(
        maker, gateway, clock, company, locations, report,
        ProgressReporter(clock, report, progress_every, on_progress), _pacing(gateway, pacing),
        policy or Policy.from_env(),
    )  # fmt: skip
    await _drain(run_, chunk_size, _workers(maker, concurrency))
    report.card_warnings = await expiring.warn(run_)
    run_.progress.tick(final=True)
    log.info(
        "event=autopay_run due=%s charged=%s failed=%s errors=%s skipped=%s not_due=%s "
        "busy_retries=%s",
        report.due, report.charged, report.failed, report.errors, report.skipped,
        report.not_due, report.busy_retries,
    )  # fmt: skip
    await runs.record_autopay(maker, clock.now(), report)  # what /metrics shows as the last run
    return report


async def _drain(run: Run, chunk_size: int, workers: int) -> None:
    """Feed every due job to `workers` workers and wait for them all."""
    queue: asyncio.Queue[Job | None] = asyncio.Queue(workers)
    locks = _ClientLocks()
    tasks = [asyncio.create_task(_worker(run, queue, locks)) for _ in range(workers)]
    try:
        async for job in _jobs(run, chunk_size):
            await queue.put(job)
        for _ in tasks:
            await queue.put(None)
        await asyncio.gather(*tasks)
    except BaseException:
        # A charge interrupted here is left pending or unknown by the payment core, and
        # resolved by reconcile: never taken for "nothing was charged".
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _worker(run: Run, queue: asyncio.Queue[Job | None], locks: _ClientLocks) -> None:
    while (job := await queue.get()) is not None:
        due, snap = job.due, job.snap
        try:
            async with locks.hold(due.client_id):
                await charge_due(run, job)
        except Exception:  # noqa: BLE001 - one vehicle's error must not stop the others
            log.exception("event=autopay_error vehicle_id=%s", due.vehicle_id)
            run.report.fail(
                RunItem(due.account_number, due.vehicle, snap.total_cents,
                        "an error stopped this charge (see the log)"),
                error=True,
            )  # fmt: skip
        run.finished()
