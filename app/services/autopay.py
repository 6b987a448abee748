"""AutoPay: enroll and cancel per vehicle, and the run that charges what is due.

The run charges each active enrollment whose vehicle's paid-through date ends within
LEAD_DAYS (the location's today), through the payment core with the idempotency key
`autopay:{vehicle_id}:{period_start}`: a second or concurrent run finds the key taken and
charges nothing, so each period is charged at most once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain.errors import GatewayError, StaleSummary
from app.domain.periods import check_days, local_today
from app.domain.summary import InvoiceSummary
from app.i18n import N_
from app.services import audit, payments, sms, summary, texts
from app.services.cards import CardExpired, is_expired, usable_card
from app.services.summary import NotFound, PaymentsNotAccepted
from app.store.advisory import single_runner
from app.store.models import AutopayEnrollment, CardOnFile, Client, Location, Payment, Vehicle

log = logging.getLogger("monitorpay.autopay")
LEAD_DAYS = 3


def is_due(paid_through: date, today: date) -> bool:
    """Charge when the paid-through date ends within LEAD_DAYS (or has already passed)."""
    return paid_through <= today + timedelta(days=LEAD_DAYS)


def next_charge_date(paid_through: date, today: date) -> date:
    """LEAD_DAYS before paid-through, or today when that day has already come."""
    return max(paid_through - timedelta(days=LEAD_DAYS), today)


def idempotency_key(vehicle_id: int, period_start: date) -> str:
    return f"autopay:{vehicle_id}:{period_start.isoformat()}"


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


@dataclass(frozen=True)
class RunItem:
    account_number: str
    vehicle: str
    amount_cents: int
    note: str  # invoice number, or why it failed / was skipped


@dataclass
class RunReport:
    charged: list[RunItem] = field(default_factory=list)
    failed: list[RunItem] = field(default_factory=list)
    skipped: list[RunItem] = field(default_factory=list)
    not_due: int = 0

    @property
    def charged_cents(self) -> int:
        return sum(i.amount_cents for i in self.charged)

    def lines(self) -> list[str]:
        from app.formatting import money

        out = [
            f"autopay: {len(self.charged)} charged ({money(self.charged_cents)}), "
            f"{len(self.failed)} failed, {len(self.skipped)} skipped, {self.not_due} not due yet"
        ]
        for label, items in (
            ("charged", self.charged),
            ("failed", self.failed),
            ("skipped", self.skipped),
        ):
            for i in items:
                out.append(
                    f"  {label}: #{i.account_number} {i.vehicle} {money(i.amount_cents)} — {i.note}"
                )
        return out


@dataclass(frozen=True)
class _Due:
    enrollment: AutopayEnrollment
    vehicle: Vehicle
    client: Client
    location: Location
    card: CardOnFile


async def _enrollments(maker: async_sessionmaker[AsyncSession]) -> list[_Due]:
    async with maker() as s:
        rows = (
            await s.execute(
                select(AutopayEnrollment, Vehicle, Client, Location, CardOnFile)
                .join(Vehicle, col(Vehicle.id) == col(AutopayEnrollment.vehicle_id))
                .join(Client, col(Client.id) == col(AutopayEnrollment.client_id))
                .join(Location, col(Location.id) == col(Client.location_id))
                .join(CardOnFile, col(CardOnFile.id) == col(AutopayEnrollment.card_id))
                .where(col(AutopayEnrollment.active).is_(True))
                .order_by(col(AutopayEnrollment.id))
            )
        ).all()
        return [_Due(*row) for row in rows]


def next_run_at(now: datetime, at: time) -> datetime:
    """The next daily run at `at` (UTC) strictly after `now`."""
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


async def run_daily(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    at: time,
) -> None:
    """The optional in-process schedule (AUTOPAY_DAILY_AT). Of several app processes one runs
    it (an advisory lock on PostgreSQL); a period is charged once whoever gets there first."""
    while True:
        now = clock.now()
        await asyncio.sleep(max(1.0, (next_run_at(now, at) - now).total_seconds()))
        try:
            async with single_runner(maker.kw["bind"], "autopay-daily") as mine:
                if not mine:  # another instance runs today's AutoPay
                    continue
                report = await run(maker, gateway, clock, company)
            for line in report.lines():
                log.info("event=autopay_daily %s", line)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the schedule alive; the error is logged
            log.exception("event=autopay_daily_error")


async def run(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
) -> RunReport:
    """Charge every enrollment that is due, once per period; text the client on failure."""
    report = RunReport()
    for due in await _enrollments(maker):
        await _charge_one(maker, gateway, clock, company, due, report)
    log.info(
        "event=autopay_run charged=%s failed=%s skipped=%s not_due=%s",
        len(report.charged),
        len(report.failed),
        len(report.skipped),
        report.not_due,
    )
    return report


async def _charge_one(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    due: _Due,
    report: RunReport,
) -> None:
    now = clock.now()
    vehicle, client, location = due.vehicle, due.client, due.location
    today = local_today(now, location.timezone)
    if not is_due(vehicle.paid_through, today):
        report.not_due += 1
        return

    def item(amount: int, note: str) -> RunItem:
        return RunItem(client.account_number, vehicle.label, amount, note)

    if not location.accepts_payments:
        report.skipped.append(item(0, "the location does not accept payments"))
        return
    async with maker() as s:
        snap = await summary.compute(
            s,
            client_id=client.id or 0,
            vehicle_id=vehicle.id or 0,
            days=due.enrollment.days,
            now=now,
        )
        if not is_due(snap.basis.paid_through, today):
            # the list was read before another run paid this period: decide on what is true now
            report.not_due += 1
            return
        key = idempotency_key(vehicle.id or 0, snap.period.start)
        earlier = (
            await s.execute(select(Payment).where(col(Payment.idempotency_key) == key))
        ).scalar_one_or_none()
    if earlier is not None:
        note = {
            "succeeded": "already charged for this period",
            "refunded": "already charged for this period (refunded)",
            "partially_refunded": "already charged for this period",
            "failed": "already tried for this period and it failed",
        }.get(earlier.status, "a charge for this period is in progress")
        report.skipped.append(item(earlier.amount_cents, note))
        return
    unusable = (
        "The AutoPay card was removed."
        if due.card.removed_at is not None
        else CardExpired.message
        if is_expired(due.card, today)
        else None
    )
    if unusable is not None:
        # Nothing goes to the processor; a failed payment row keeps it to once per period.
        if await _record_unchargeable(maker, now, due, snap, key, unusable):
            await _notify_failure(maker, clock, company, due, snap.total_cents, unusable)
            report.failed.append(item(snap.total_cents, unusable))
        else:
            report.skipped.append(item(snap.total_cents, "already tried for this period"))
        return
    try:
        outcome = await payments.charge(
            maker,
            gateway,
            clock,
            payments.ChargeRequest(
                client_id=client.id or 0,
                summary=snap,
                channel="autopay",
                payment_method=due.card.processor_ref,
                actor_type="system",
                customer=client.processor_customer,
                off_session=True,
                idempotency_key=key,
            ),
            company=company,
        )
    except (StaleSummary, payments.PaymentInProgress):
        report.skipped.append(item(snap.total_cents, "another payment is in progress; next run"))
        return
    except GatewayError as exc:  # includes CardDeclined; the core recorded the failed payment
        await _notify_failure(maker, clock, company, due, snap.total_cents, exc.message)
        report.failed.append(item(snap.total_cents, exc.message))
        return
    if outcome.replayed:  # a concurrent run charged this period first
        report.skipped.append(item(outcome.amount_cents, "already charged for this period"))
    elif outcome.status == "succeeded":
        report.charged.append(item(outcome.amount_cents, outcome.invoice_number or "paid"))
    elif outcome.status == "failed":
        report.skipped.append(item(outcome.amount_cents, "already tried for this period"))
    elif outcome.status == "unknown":
        report.skipped.append(
            item(outcome.amount_cents, "the processor's answer was lost; reconcile confirms it")
        )
    else:
        report.skipped.append(item(outcome.amount_cents, f"charge is {outcome.status}"))


async def _record_unchargeable(
    maker: async_sessionmaker[AsyncSession],
    now: datetime,
    due: _Due,
    snap: InvoiceSummary,
    key: str,
    message: str,
) -> bool:
    async with maker() as s:
        s.add(
            Payment(
                client_id=due.client.id or 0,
                vehicle_id=due.vehicle.id,
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


async def _notify_failure(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    company: str,
    due: _Due,
    amount_cents: int,
    reason: str,
) -> None:
    """Record the failure and text the client, unless they opted out of texts."""
    now = clock.now()
    client = due.client
    async with maker() as s:
        opted_out = await sms.number_opted_out(s, client.phone_e164)
        if not opted_out:
            sms.queue(
                s,
                to_e164=client.phone_e164,
                body=texts.render_text(
                    "autopay_failed",
                    await texts.recipient(s, client.id or 0),
                    company=company,
                    amount=amount_cents,
                    vehicle=due.vehicle.label,
                ),
                kind="autopay_failed",
                now=now,
                client_id=client.id,
            )
        audit.record(
            s,
            at=now,
            actor_type="system",
            actor_id=None,
            client_id=client.id,
            action="autopay.failed",
            vehicle_id=due.vehicle.id,
            amount_cents=amount_cents,
            reason=reason,
            texted=not opted_out,
        )
        await s.commit()
    log.info("event=autopay_failed vehicle_id=%s texted=%s", due.vehicle.id, not opted_out)
