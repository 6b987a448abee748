"""AutoPay: enroll and cancel per vehicle, and the run that charges what is due.

The run charges each active enrollment whose vehicle's paid-through date ends within
LEAD_DAYS (the location's today), through the payment core with the idempotency key
`autopay:{vehicle_id}:{period_start}`: a second or concurrent run finds the key taken and
charges nothing, so each period is charged at most once. It streams the due enrollments in
chunks and charges several at once (AUTOPAY_CONCURRENCY), never two of one account at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails, PaymentGateway
from app.clock import Clock
from app.domain.cards import expired
from app.domain.errors import GatewayError, StaleSummary
from app.domain.periods import check_days, local_today
from app.domain.summary import InvoiceSummary, OpenInvoice, VehicleRef, build_summary
from app.i18n import N_
from app.services import audit, payments, sms, summary, texts
from app.services.cards import CardExpired, usable_card
from app.services.daily import every_day, next_run_at  # noqa: F401 - next_run_at: tests
from app.services.summary import NotFound, PaymentsNotAccepted
from app.store import reads
from app.store.models import (
    AutopayEnrollment,
    CardOnFile,
    Client,
    Location,
    Payment,
    Vehicle,
)

log = logging.getLogger("monitorpay.autopay")
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


def idempotency_key(vehicle_id: int, period_start: date) -> str:
    return f"autopay:{vehicle_id}:{period_start.isoformat()}"


def _key(vehicle_id: int, snap: InvoiceSummary) -> str:
    """Once per vehicle-period: AutoPay always buys a period (never the past due only)."""
    assert snap.period is not None
    return idempotency_key(vehicle_id, snap.period.start)


@dataclass(frozen=True)
class VehicleAutopay:
    vehicle: Vehicle
    enrollment: AutopayEnrollment | None
    card: CardOnFile | None
    next_charge: date | None

    @property
    def enrolled(self) -> bool:
        return self.enrollment is not None and self.enrollment.active


async def for_client(session: AsyncSession, client_id: int, today: date) -> list[VehicleAutopay]:
    vehicles = (
        (
            await session.execute(
                select(Vehicle).where(col(Vehicle.client_id) == client_id).order_by(col(Vehicle.id))
            )
        )
        .scalars()
        .all()
    )
    enrollments = {
        e.vehicle_id: e
        for e in (
            await session.execute(
                select(AutopayEnrollment).where(
                    col(AutopayEnrollment.client_id) == client_id,
                    col(AutopayEnrollment.active).is_(True),
                )
            )
        )
        .scalars()
        .all()
    }
    out = []
    for v in vehicles:
        e = enrollments.get(v.id or 0)
        card = await session.get(CardOnFile, e.card_id) if e else None
        out.append(
            VehicleAutopay(
                vehicle=v,
                enrollment=e,
                card=card,
                next_charge=next_charge_date(v.paid_through, today) if e else None,
            )
        )
    return out


async def _own_vehicle(session: AsyncSession, client_id: int, vehicle_id: int) -> Vehicle:
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.client_id != client_id:
        raise NotFound(N_("That vehicle was not found."))
    return vehicle


async def enroll(
    session: AsyncSession,
    *,
    client_id: int,
    vehicle_id: int,
    card_id: int,
    days: int,
    now: datetime,
) -> AutopayEnrollment:
    """Turn AutoPay on (or change its card and days) for one of the client's vehicles."""
    check_days(days)
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(N_("That client was not found."))
    location = await session.get(Location, client.location_id)
    assert location is not None
    if not location.accepts_payments:
        raise PaymentsNotAccepted(
            "Your service location does not take payments online yet, so AutoPay is not available."
        )
    vehicle = await _own_vehicle(session, client_id, vehicle_id)
    today = local_today(now, location.timezone)
    card = await usable_card(session, client_id, card_id, today)
    existing = (
        await session.execute(
            select(AutopayEnrollment).where(col(AutopayEnrollment.vehicle_id) == vehicle_id)
        )
    ).scalar_one_or_none()
    action = "autopay.enrolled"
    if existing is None:
        enrollment = AutopayEnrollment(
            client_id=client_id,
            vehicle_id=vehicle_id,
            card_id=card.id or 0,
            days=days,
            active=True,
            created_at=now,
        )
        session.add(enrollment)
    else:
        if existing.active:
            action = "autopay.changed"
        enrollment = existing
        enrollment.card_id = card.id or 0
        enrollment.days = days
        enrollment.active = True
        enrollment.cancelled_at = None
        if action == "autopay.enrolled":
            enrollment.created_at = now
        session.add(enrollment)
    audit.record(
        session,
        at=now,
        actor_type="client",
        actor_id=client_id,
        client_id=client_id,
        action=action,
        vehicle_id=vehicle_id,
        vehicle=vehicle.label,
        card_id=card.id,
        last4=card.last4,
        days=days,
    )
    await session.commit()
    return enrollment


async def cancel(session: AsyncSession, *, client_id: int, vehicle_id: int, now: datetime) -> None:
    vehicle = await _own_vehicle(session, client_id, vehicle_id)
    done = await session.execute(
        update(AutopayEnrollment)
        .where(
            col(AutopayEnrollment.vehicle_id) == vehicle_id,
            col(AutopayEnrollment.client_id) == client_id,
            col(AutopayEnrollment.active).is_(True),
        )
        .values(active=False, cancelled_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(N_("AutoPay is not on for that vehicle."))  # nothing was written
    audit.record(
        session,
        at=now,
        actor_type="client",
        actor_id=client_id,
        client_id=client_id,
        action="autopay.cancelled",
        vehicle_id=vehicle_id,
        vehicle=vehicle.label,
    )
    await session.commit()


# --- the run ---------------------------------------------------------------------------------
#
# The due enrollments are read in SQL, a chunk at a time (keyset on the enrollment id, only the
# columns a charge needs), and charged by a fixed pool of workers pulling from a bounded queue,
# so memory stays flat however many are due. Each charge goes through the payment core with its
# idempotency key; the run itself adds no transaction on the way to a success.

CHUNK_SIZE = 500
PROGRESS_EVERY = timedelta(seconds=5)
LISTED_FAILURES = 50  # printed at the end; every failure is also logged
DAILY_CONCURRENCY = 4  # in-process: the web requests share the pool


@dataclass(frozen=True)
class RunItem:
    account_number: str
    vehicle: str
    amount_cents: int
    note: str  # why it failed


@dataclass
class RunReport:
    """Counts, and the first LISTED_FAILURES failures to print: nothing grows per charge."""

    due: int = 0  # due when the run began, at locations that take payments
    done: int = 0
    charged: int = 0
    charged_cents: int = 0
    failed: int = 0  # the charge failed; the client was texted (unless opted out)
    errors: int = 0  # a bug or an outage stopped the charge; logged, not texted
    skipped: int = 0
    not_due: int = 0
    failures: list[RunItem] = field(default_factory=list)
    skipped_why: Counter[str] = field(default_factory=Counter)

    def fail(self, item: RunItem, *, error: bool = False) -> None:
        if error:
            self.errors += 1
        else:
            self.failed += 1
        if len(self.failures) < LISTED_FAILURES:
            self.failures.append(item)

    def skip(self, why: str, count: int = 1) -> None:
        self.skipped += count
        self.skipped_why[why] += count

    def lines(self) -> list[str]:
        from app.formatting import money

        out = [
            f"autopay: {self.charged} charged ({money(self.charged_cents)}), "
            f"{self.failed} failed, {self.skipped} skipped, {self.not_due} not due yet"
            + (f", {self.errors} errors" if self.errors else "")
        ]
        for i in self.failures:
            out.append(
                f"  failed: #{i.account_number} {i.vehicle} {money(i.amount_cents)} — {i.note}"
            )
        if (more := self.failed + self.errors - len(self.failures)) > 0:
            out.append(f"  failed: {more} more (see the log)")
        for why, count in sorted(self.skipped_why.items()):
            out.append(f"  skipped: {count} — {why}")
        return out


@dataclass(frozen=True)
class Progress:
    done: int
    due: int
    failed: int
    per_second: float
    eta: timedelta | None

    def line(self) -> str:
        eta = "-" if self.eta is None else f"{int(self.eta.total_seconds())}s"
        return (
            f"autopay: {self.done}/{self.due} done, {self.failed} failed, "
            f"{self.per_second:.1f}/s, ETA {eta}"
        )


def log_progress(p: Progress) -> None:
    log.info(
        "event=autopay_progress done=%s due=%s failed=%s per_second=%.1f eta=%s",
        p.done, p.due, p.failed, p.per_second, p.eta,
    )  # fmt: skip


class ProgressReporter:
    """Shows progress at most every `every` (by the injected clock), and once at the end."""

    def __init__(
        self, clock: Clock, report: RunReport, every: timedelta, show: Callable[[Progress], None]
    ) -> None:
        self.clock, self.report, self.every, self.show = clock, report, every, show
        self.started = self.last = clock.now()

    def tick(self, *, final: bool = False) -> None:
        now = self.clock.now()
        if not final and now - self.last < self.every:
            return
        self.last = now
        r = self.report
        elapsed = (now - self.started).total_seconds()
        rate = r.done / elapsed if elapsed > 0 else 0.0
        eta = timedelta(seconds=max(0, r.due - r.done) / rate) if rate > 0 else None
        self.show(Progress(r.done, r.due, r.failed + r.errors, rate, eta))


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


@dataclass(frozen=True)
class _Due:
    """One due enrollment, as the chunk query reads it."""

    enrollment_id: int
    days: int
    client_id: int
    account_number: str
    phone_e164: str
    customer: str | None
    location_id: int
    vehicle_id: int
    vehicle: str  # its label
    paid_through: date
    card_ref: str
    card_removed: bool
    card_exp_year: int
    card_exp_month: int
    card_brand: str
    card_last4: str


_DUE_COLUMNS = (
    select(
        col(AutopayEnrollment.id),
        col(AutopayEnrollment.days),
        col(AutopayEnrollment.client_id),
        col(Client.account_number),
        col(Client.phone_e164),
        col(Client.processor_customer),
        col(Client.location_id),
        col(Vehicle.id),
        col(Vehicle.year),
        col(Vehicle.make),
        col(Vehicle.model),
        col(Vehicle.paid_through),
        col(CardOnFile.processor_ref),
        col(CardOnFile.removed_at),
        col(CardOnFile.exp_year),
        col(CardOnFile.exp_month),
        col(CardOnFile.brand),
        col(CardOnFile.last4),
    )
    .join(Vehicle, col(Vehicle.id) == col(AutopayEnrollment.vehicle_id))
    .join(Client, col(Client.id) == col(AutopayEnrollment.client_id))
    .join(CardOnFile, col(CardOnFile.id) == col(AutopayEnrollment.card_id))
)


def _due_where(cutoffs: dict[int, date]) -> ColumnElement[bool]:
    """Active, and the vehicle's paid-through within LEAD_DAYS of its location's today
    (`cutoffs`: location id → the last paid-through date that is due there)."""
    return and_(
        col(AutopayEnrollment.active).is_(True),
        or_(
            false(),
            *(
                and_(col(Client.location_id) == loc, col(Vehicle.paid_through) <= cutoff)
                for loc, cutoff in cutoffs.items()
            ),
        ),
    )


def _cutoffs(locations: Iterable[Location], now: datetime) -> dict[int, date]:
    return {loc.id or 0: due_through(local_today(now, loc.timezone)) for loc in locations}


@dataclass
class _Run:
    maker: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway
    clock: Clock
    company: str
    locations: dict[int, Location]
    report: RunReport
    progress: ProgressReporter
    locks: _ClientLocks = field(default_factory=_ClientLocks)

    def item(self, due: _Due, amount_cents: int, note: str) -> RunItem:
        return RunItem(due.account_number, due.vehicle, amount_cents, note)

    def finished(self) -> None:
        self.report.done += 1
        self.progress.tick()


async def _count(
    maker: async_sessionmaker[AsyncSession], locations: list[Location], now: datetime
) -> tuple[int, int, int]:
    """Active enrollments: due at locations that take payments, due at those that do not,
    not due."""
    taking = _due_where(_cutoffs([loc for loc in locations if loc.accepts_payments], now))
    not_taking = _due_where(_cutoffs([loc for loc in locations if not loc.accepts_payments], now))
    async with maker() as s:
        active, due, due_elsewhere = (
            await s.execute(
                select(
                    func.count(),
                    func.sum(case((taking, 1), else_=0)),
                    func.sum(case((not_taking, 1), else_=0)),
                )
                .select_from(AutopayEnrollment)
                .join(Vehicle, col(Vehicle.id) == col(AutopayEnrollment.vehicle_id))
                .join(Client, col(Client.id) == col(AutopayEnrollment.client_id))
                .where(col(AutopayEnrollment.active).is_(True))
            )
        ).one()
    due, due_elsewhere = int(due or 0), int(due_elsewhere or 0)
    return due, due_elsewhere, int(active) - due - due_elsewhere


async def _jobs(run: _Run, chunk_size: int) -> AsyncIterator[tuple[_Due, InvoiceSummary]]:
    """The due enrollments not yet charged for their period, with the summary to charge, read a
    chunk at a time. A summary read here may be stale by the time it is charged: the payment core
    re-checks it under the account lock."""
    taking = [loc for loc in run.locations.values() if loc.accepts_payments]
    after = 0
    while True:
        now = run.clock.now()
        async with run.maker() as s:
            rows = (
                await s.execute(
                    _DUE_COLUMNS.where(
                        _due_where(_cutoffs(taking, now)), col(AutopayEnrollment.id) > after
                    )
                    .order_by(col(AutopayEnrollment.id))
                    .limit(chunk_size)
                )
            ).all()
            if not rows:
                return
            dues = [_due(row) for row in rows]
            after = dues[-1].enrollment_id
            owing = await reads.open_invoices_by_client(s, {d.client_id for d in dues})
            chunk = [(d, _summarize(d, run.locations[d.location_id], now, owing)) for d in dues]
            keys = [_key(d.vehicle_id, snap) for d, snap in chunk]
            taken = dict(
                (
                    await s.execute(
                        select(col(Payment.idempotency_key), col(Payment.status)).where(
                            col(Payment.idempotency_key).in_(keys)
                        )
                    )
                ).all()
            )
        for (due, snap), key in zip(chunk, keys, strict=True):
            if key in taken:  # an earlier run (or one running now) got to this period first
                run.report.skip(_EARLIER.get(taken[key], _IN_PROGRESS))
                run.finished()
            else:
                yield due, snap
        if len(rows) < chunk_size:
            return


def _due(row: Sequence[Any]) -> _Due:
    (eid, days, cid, account, phone, customer, loc, vid, year, make, model, paid_through,
     card_ref, removed_at, exp_year, exp_month, brand, last4) = row  # fmt: skip
    return _Due(
        eid, days, cid, account, phone, customer, loc, vid,
        f"{year} {make} {model}",  # Vehicle.label
        paid_through, card_ref, removed_at is not None, exp_year, exp_month, brand, last4,
    )  # fmt: skip


def _summarize(
    due: _Due, location: Location, now: datetime, owing: dict[int, list[OpenInvoice]]
) -> InvoiceSummary:
    return build_summary(
        today=local_today(now, location.timezone),
        vehicle=VehicleRef(id=due.vehicle_id, label=due.vehicle, paid_through=due.paid_through),
        days=due.days,
        price_cents=location.price_for(due.days),
        tax_rate_bp=location.tax_rate_bp,
        open_invoices=owing.get(due.client_id, []),
    )


_IN_PROGRESS = "a charge for this period is in progress"
_EARLIER = {
    "succeeded": "already charged for this period",
    "refunded": "already charged for this period (refunded)",
    "partially_refunded": "already charged for this period",
    "failed": "already tried for this period and it failed",
}


async def run_daily(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    at: time,
    concurrency: int = DAILY_CONCURRENCY,
) -> None:
    """The optional in-process schedule (AUTOPAY_DAILY_AT); a period is charged once whoever
    gets there first."""

    async def job() -> list[str]:
        return (await run(maker, gateway, clock, company, concurrency=concurrency)).lines()

    await every_day(maker, clock, at, "autopay", job)


def _workers(maker: async_sessionmaker[AsyncSession], wanted: int) -> int:
    """At most `wanted`, and below the pool size: each worker holds at most one connection at a
    time, and the chunk reads (or an advisory lock) need one more."""
    size = getattr(maker.kw["bind"].pool, "size", None)
    return max(1, min(wanted, size() - 2 if callable(size) else wanted))


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
) -> RunReport:
    """Charge every enrollment that is due, once per period; text the client on failure."""
    async with maker() as s:
        locations = {loc.id or 0: loc for loc in (await s.execute(select(Location))).scalars()}
    report = RunReport()
    report.due, due_elsewhere, report.not_due = await _count(
        maker, list(locations.values()), clock.now()
    )
    if due_elsewhere:
        report.skip("the location does not accept payments", due_elsewhere)
    run_ = _Run(
        maker, gateway, clock, company, locations, report,
        ProgressReporter(clock, report, progress_every, on_progress),
    )  # fmt: skip
    queue: asyncio.Queue[tuple[_Due, InvoiceSummary] | None] = asyncio.Queue(concurrency)
    workers = [
        asyncio.create_task(_worker(run_, queue)) for _ in range(_workers(maker, concurrency))
    ]
    try:
        async for job in _jobs(run_, chunk_size):
            await queue.put(job)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    except BaseException:
        # A charge interrupted here is left pending or unknown by the payment core, and
        # resolved by reconcile: never taken for "nothing was charged".
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    run_.progress.tick(final=True)
    log.info(
        "event=autopay_run due=%s charged=%s failed=%s errors=%s skipped=%s not_due=%s",
        report.due, report.charged, report.failed, report.errors, report.skipped, report.not_due,
    )  # fmt: skip
    return report


async def _worker(run: _Run, queue: asyncio.Queue[tuple[_Due, InvoiceSummary] | None]) -> None:
    while (job := await queue.get()) is not None:
        due, snap = job
        try:
            async with run.locks.hold(due.client_id):
                await _charge_one(run, due, snap)
        except Exception:  # noqa: BLE001 - one vehicle's error must not stop the others
            log.exception("event=autopay_error vehicle_id=%s", due.vehicle_id)
            run.report.fail(
                run.item(due, snap.total_cents, "an error stopped this charge (see the log)"),
                error=True,
            )
        run.finished()


async def _charge_one(run: _Run, due: _Due, snap: InvoiceSummary) -> None:
    report = run.report
    today = local_today(run.clock.now(), run.locations[due.location_id].timezone)
    unusable = (
        "The AutoPay card was removed."
        if due.card_removed
        else CardExpired.message
        if expired(due.card_exp_year, due.card_exp_month, today)
        else None
    )
    if unusable is not None:
        # Nothing goes to the processor; a failed payment row keeps it to once per period.
        key = _key(due.vehicle_id, snap)
        if await _record_unchargeable(run, due, snap, key, unusable):
            await _notify_failure(run, due, snap.total_cents, unusable)
            report.fail(run.item(due, snap.total_cents, unusable))
        else:
            report.skip("already tried for this period")
        return
    try:
        try:
            outcome = await _charge(run, due, snap)
        except StaleSummary:
            # The account changed since the chunk was read (another of its vehicles was charged,
            # an invoice was paid): decide once more on what is true now.
            current = await _current_summary(run, due)
            if current is None:
                report.not_due += 1
                return
            snap = current
            outcome = await _charge(run, due, snap)
    except (StaleSummary, payments.PaymentInProgress):
        report.skip("another payment is in progress; next run")
        return
    except GatewayError as exc:  # includes CardDeclined; the core recorded the failed payment
        await _notify_failure(run, due, snap.total_cents, exc.message)
        report.fail(run.item(due, snap.total_cents, exc.message))
        return
    if outcome.replayed:  # a concurrent run got to this period first
        report.skip(_EARLIER.get(outcome.status, _IN_PROGRESS))
    elif outcome.status == "succeeded":
        report.charged += 1
        report.charged_cents += outcome.amount_cents
    elif outcome.status == "unknown":
        report.skip("the processor's answer was lost; reconcile confirms it")
    else:
        report.skip(f"the charge is {outcome.status}")


async def _charge(run: _Run, due: _Due, snap: InvoiceSummary) -> payments.PaymentOutcome:
    return await payments.charge(
        run.maker,
        run.gateway,
        run.clock,
        payments.ChargeRequest(
            client_id=due.client_id,
            summary=snap,
            channel="autopay",
            payment_method=due.card_ref,
            card=CardDetails(due.card_brand, due.card_last4, due.card_exp_month, due.card_exp_year),
            actor_type="system",
            customer=due.customer,
            off_session=True,
            idempotency_key=_key(due.vehicle_id, snap),
        ),
        company=run.company,
    )


async def _current_summary(run: _Run, due: _Due) -> InvoiceSummary | None:
    """The summary as the account stands now; None when the vehicle is no longer due."""
    async with run.maker() as s:
        snap = await summary.compute(
            s, client_id=due.client_id, vehicle_id=due.vehicle_id, days=due.days,
            now=run.clock.now(),
        )  # fmt: skip
    return snap if is_due(snap.basis.paid_through, snap.computed_on) else None


async def _record_unchargeable(
    run: _Run, due: _Due, snap: InvoiceSummary, key: str, message: str
) -> bool:
    now = run.clock.now()
    async with run.maker() as s:
        s.add(
            Payment(
                client_id=due.client_id,
                vehicle_id=due.vehicle_id,
                amount_cents=snap.total_cents,
                channel="autopay",
                status="failed",
                idempotency_key=key,
                failure_code="card_unusable",
                failure_message=message,
                summary_json=snap.to_json(),
                created_at=now,
                completed_at=now,
            )
        )
        try:
            await s.commit()
        except IntegrityError:  # a concurrent run recorded it first
            await s.rollback()
            return False
    return True


async def _notify_failure(run: _Run, due: _Due, amount_cents: int, reason: str) -> None:
    """Record the failure and text the client, unless they opted out of texts."""
    now = run.clock.now()
    async with run.maker() as s:
        opted_out = await sms.number_opted_out(s, due.phone_e164)
        if not opted_out:
            sms.queue(
                s,
                to_e164=due.phone_e164,
                body=texts.render_text(
                    "autopay_failed",
                    await texts.recipient(s, due.client_id),
                    company=run.company,
                    amount=amount_cents,
                    vehicle=due.vehicle,
                ),
                kind="autopay_failed",
                now=now,
                client_id=due.client_id,
            )
        audit.record(
            s,
            at=now,
            actor_type="system",
            actor_id=None,
            client_id=due.client_id,
            action="autopay.failed",
            vehicle_id=due.vehicle_id,
            amount_cents=amount_cents,
            reason=reason,
            texted=not opted_out,
        )
        await s.commit()
    log.info("event=autopay_failed vehicle_id=%s texted=%s", due.vehicle_id, not opted_out)
