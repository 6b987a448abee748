"""AutoPay enrollment: a client turns AutoPay on (or changes its card and days) and off for one
of their vehicles, and My Account shows each vehicle's plan and next charge date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.autopay import next_charge_date
from app.domain.periods import check_days, local_today
from app.i18n import N_
from app.services import audit
from app.services.cards import usable_card
from app.services.summary import NotFound, PaymentsNotAccepted, client_and_location
from app.store import autopay_queries as q
from app.store.models import AutopayEnrollment, CardOnFile, Location, Vehicle


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
    enrollments = await q.active_enrollments(session, client_id)
    out = []
    for v in await q.vehicles_of(session, client_id):
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


async def _taking_location(session: AsyncSession, client_id: int) -> Location:
    _, location = await client_and_location(session, client_id)
    if not location.accepts_payments:
        raise PaymentsNotAccepted(
            "Your service location does not take payments online yet, so AutoPay is not available."
        )
    return location


def _upsert(
    existing: AutopayEnrollment | None,
    *,
    client_id: int,
    vehicle_id: int,
    card_id: int,
    days: int,
    now: datetime,
) -> tuple[AutopayEnrollment, bool]:
    """The enrollment as it should now be, and whether it was on already (changed; else
    enrolled: new, or turned on again)."""
    if existing is None:
        return AutopayEnrollment(
            client_id=client_id, vehicle_id=vehicle_id, card_id=card_id, days=days,
            active=True, created_at=now,
        ), False  # fmt: skip
    changed = existing.active
    existing.card_id, existing.days = card_id, days
    existing.active, existing.cancelled_at = True, None
    if not changed:
        existing.created_at = now
    return existing, changed


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
    location = await _taking_location(session, client_id)
    vehicle = await _own_vehicle(session, client_id, vehicle_id)
    card = await usable_card(session, client_id, card_id, local_today(now, location.timezone))
    enrollment, changed = _upsert(
        await q.enrollment_of(session, vehicle_id),
        client_id=client_id, vehicle_id=vehicle_id, card_id=card.id or 0, days=days, now=now,
    )  # fmt: skip
    session.add(enrollment)
    event = audit.autopay_changed if changed else audit.autopay_enrolled
    event(session, at=now, vehicle=vehicle, card=card, days=days)
    await session.commit()
    return enrollment


async def cancel(session: AsyncSession, *, client_id: int, vehicle_id: int, now: datetime) -> None:
    vehicle = await _own_vehicle(session, client_id, vehicle_id)
    if not await q.deactivate(session, client_id=client_id, vehicle_id=vehicle_id, now=now):
        raise NotFound(N_("AutoPay is not on for that vehicle."))  # nothing was written
    audit.autopay_cancelled(session, at=now, vehicle=vehicle)
    await session.commit()
