"""AutoPay's SQL: enrollments for My Account, and the run's reads of what is due.

The run reads the due enrollments a chunk at a time (keyset on the enrollment id, only the
columns a charge needs). "Due" is the domain's rule (`app/domain/autopay.py`) turned into a
per-location cutoff: `paid_through <= due_through(location's today)`, pinned to `is_due` by
tests/unit/test_autopay_rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.autopay import due_through
from app.domain.periods import local_today
from app.store.models import (
    AutopayEnrollment,
    CardOnFile,
    Client,
    Location,
    Payment,
    SmsMessage,
    Vehicle,
)

# -- My Account: a client's enrollments ------------------------------------------------------


async def vehicles_of(s: AsyncSession, client_id: int) -> Sequence[Vehicle]:
    found = await s.execute(
        select(Vehicle).where(col(Vehicle.client_id) == client_id).order_by(col(Vehicle.id))
    )
    return found.scalars().all()


async def active_enrollments(s: AsyncSession, client_id: int) -> dict[int, AutopayEnrollment]:
    """Vehicle id → its active enrollment."""
    found = await s.execute(
        select(AutopayEnrollment).where(
            col(AutopayEnrollment.client_id) == client_id,
            col(AutopayEnrollment.active).is_(True),
        )
    )
    return {e.vehicle_id: e for e in found.scalars().all()}


async def enrollment_of(s: AsyncSession, vehicle_id: int) -> AutopayEnrollment | None:
    """The vehicle's enrollment, active or cancelled (one row per vehicle)."""
    found = await s.execute(
        select(AutopayEnrollment).where(col(AutopayEnrollment.vehicle_id) == vehicle_id)
    )
    return found.scalar_one_or_none()


async def deactivate(s: AsyncSession, *, client_id: int, vehicle_id: int, now: datetime) -> bool:
    """Cancel the client's active enrollment for the vehicle; False when there was none."""
    done = await s.execute(
        update(AutopayEnrollment)
        .where(
            col(AutopayEnrollment.vehicle_id) == vehicle_id,
            col(AutopayEnrollment.client_id) == client_id,
            col(AutopayEnrollment.active).is_(True),
        )
        .values(active=False, cancelled_at=now)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


# -- the run: what is due --------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
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


def cutoffs(locations: Iterable[Location], now: datetime) -> dict[int, date]:
    """Location id → the last paid-through date that is due there now."""
    return {loc.id or 0: due_through(local_today(now, loc.timezone)) for loc in locations}


def due_where(cutoff: dict[int, date]) -> ColumnElement[bool]:
    """Active, and the vehicle's paid-through on or before its location's cutoff."""
    return and_(
        col(AutopayEnrollment.active).is_(True),
        or_(
            false(),
            *(
                and_(col(Client.location_id) == loc, col(Vehicle.paid_through) <= day)
                for loc, day in cutoff.items()
            ),
        ),
    )


async def locations(s: AsyncSession) -> dict[int, Location]:
    return {loc.id or 0: loc for loc in (await s.execute(select(Location))).scalars()}


async def count_active(
    s: AsyncSession, all_locations: Iterable[Location], now: datetime
) -> tuple[int, int, int]:
    """Active enrollments: due at locations that take payments, due at those that do not,
    not due."""
    places = list(all_locations)
    taking = due_where(cutoffs([loc for loc in places if loc.accepts_payments], now))
    not_taking = due_where(cutoffs([loc for loc in places if not loc.accepts_payments], now))
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


async def due_chunk(
    s: AsyncSession, cutoff: dict[int, date], *, after: int, limit: int
) -> list[Due]:
    """The next `limit` due enrollments with an id above `after`, in id order."""
    rows = (
        await s.execute(
            _DUE_COLUMNS.where(due_where(cutoff), col(AutopayEnrollment.id) > after)
            .order_by(col(AutopayEnrollment.id))
            .limit(limit)
        )
    ).all()
    return [_due(row) for row in rows]


def _due(row: Sequence[Any]) -> Due:
    (eid, days, cid, account, phone, customer, loc, vid, year, make, model, paid_through,
     card_ref, removed_at, exp_year, exp_month, brand, last4) = row  # fmt: skip
    return Due(
        eid, days, cid, account, phone, customer, loc, vid,
        f"{year} {make} {model}",  # Vehicle.label
        paid_through, card_ref, removed_at is not None, exp_year, exp_month, brand, last4,
    )  # fmt: skip


async def key_statuses(s: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    """Idempotency key → the status of the payment that holds it, for those taken."""
    found = await s.execute(
        select(col(Payment.idempotency_key), col(Payment.status)).where(
            col(Payment.idempotency_key).in_(keys)
        )
    )
    return {str(k): str(v) for k, v in found.all()}


# -- retries: a vehicle-period's attempts, from the payments table ---------------------------


@dataclass(frozen=True)
class Tried:
    """One AutoPay attempt of a vehicle-period, as its payment row holds it."""

    key: str
    status: str
    failure_code: str | None
    created_at: datetime


_TRIED = (
    col(Payment.idempotency_key),
    col(Payment.status),
    col(Payment.failure_code),
    col(Payment.created_at),
)


async def tried(s: AsyncSession, keys: Sequence[str]) -> dict[str, Tried]:
    """Idempotency key → its payment, for the keys taken (each attempt has its own key)."""
    found = await s.execute(select(*_TRIED).where(col(Payment.idempotency_key).in_(keys)))
    return {str(k): Tried(str(k), str(st), code, at) for k, st, code, at in found.all()}


async def client_tries(
    s: AsyncSession, client_id: int, keys: Sequence[str]
) -> tuple[set[int], dict[str, Tried]]:
    """A client's vehicles with AutoPay on, and the AutoPay attempts among `keys` (their
    current periods' keys): one statement, for staff's vehicle status."""
    rows = (
        await s.execute(
            select(col(AutopayEnrollment.vehicle_id), *_TRIED)
            .outerjoin(
                Payment,
                and_(
                    col(Payment.vehicle_id) == col(AutopayEnrollment.vehicle_id),
                    col(Payment.idempotency_key).in_(keys),
                ),
            )
            .where(
                col(AutopayEnrollment.client_id) == client_id,
                col(AutopayEnrollment.active).is_(True),
            )
        )
    ).all()
    on = {int(r[0]) for r in rows}
    return on, {str(k): Tried(str(k), str(st), code, at) for _, k, st, code, at in rows if k}


# -- expiring cards: the warning a week before the next AutoPay date -------------------------

CARD_EXPIRING = "card_expiring"  # the text's kind (SmsMessage.kind)


async def warned_since(s: AsyncSession, client_ids: Sequence[int], since: datetime) -> set[int]:
    """The clients among `client_ids` texted about an expiring card since `since`."""
    found = await s.execute(
        select(col(SmsMessage.client_id))
        .where(
            col(SmsMessage.client_id).in_(client_ids),
            col(SmsMessage.kind) == CARD_EXPIRING,
            col(SmsMessage.created_at) >= since,
        )
        .distinct()
    )
    return {int(c) for c in found.scalars() if c is not None}


async def expiring_soon(
    s: AsyncSession, windows: dict[int, tuple[date, date]], today: date, through: date
) -> list[Due]:
    """Active enrollments whose card on file (not removed) works today but may not on
    `through`, with the vehicle's paid-through date inside its location's window (after,
    through]: the candidates for the warning (`domain.autopay.expiry_warning_due` decides)."""
    if not windows:
        return []
    month = col(CardOnFile.exp_year) * 100 + col(CardOnFile.exp_month)
    rows = (
        await s.execute(
            _DUE_COLUMNS.where(
                col(AutopayEnrollment.active).is_(True),
                col(CardOnFile.removed_at).is_(None),
                month >= today.year * 100 + today.month,
                month < through.year * 100 + through.month,
                or_(
                    *(
                        and_(
                            col(Client.location_id) == loc,
                            col(Vehicle.paid_through) > after,
                            col(Vehicle.paid_through) <= last,
                        )
                        for loc, (after, last) in windows.items()
                    )
                ),
            ).order_by(col(AutopayEnrollment.id))
        )
    ).all()
    return [_due(row) for row in rows]
