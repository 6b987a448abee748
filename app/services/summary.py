"""Compute an Invoice Summary for (client, vehicle, days) from what the database holds now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.errors import DomainError
from app.domain.periods import check_days, local_today
from app.domain.summary import (
    PAST_DUE_ONLY,
    Basis,
    InvoiceSummary,
    OpenInvoice,
    VehicleRef,
    basis_of,
    build_past_due_summary,
    build_summary,
)
from app.i18n import N_
from app.store import reads
from app.store.models import Client, Location, Vehicle


class NotFound(DomainError):
    message = N_("That record was not found.")


class PaymentsNotAccepted(DomainError):
    message = (
        "This client's location is not configured to accept payments, so no payment can be "
        "taken here."
    )


@dataclass(frozen=True)
class Account:
    client: Client
    location: Location
    vehicles: list[Vehicle]


async def client_and_location(session: AsyncSession, client_id: int) -> tuple[Client, Location]:
    """The client and their service location; NotFound for an unknown client."""
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(N_("That client was not found."))
    location = await session.get(Location, client.location_id)
    assert location is not None
    return client, location


async def load_account(session: AsyncSession, client_id: int) -> Account:
    client, location = await client_and_location(session, client_id)
    vehicles = list(
        (
            await session.execute(
                select(Vehicle).where(col(Vehicle.client_id) == client_id).order_by(col(Vehicle.id))
            )
        )
        .scalars()
        .all()
    )
    return Account(client=client, location=location, vehicles=vehicles)


async def open_invoices(session: AsyncSession, client_id: int) -> list[OpenInvoice]:
    """The account's open invoices with what is still due on each (store/reads.py)."""
    return await reads.open_invoices(session, client_id)


def find_vehicle(account: Account, vehicle_id: int) -> Vehicle:
    for v in account.vehicles:
        if v.id == vehicle_id:
            return v
    raise NotFound(N_("Choose one of this client's vehicles."))


def summarize(
    location: Location,
    vehicle: Vehicle | reads.VehicleView,
    days: int,
    now: datetime,
    invoices: list[OpenInvoice],
) -> InvoiceSummary:
    """The summary for paying `days` on `vehicle` now (or the past due balance only, for
    PAST_DUE_ONLY), from what the caller has read."""
    today = local_today(now, location.timezone)
    ref = VehicleRef(id=vehicle.id or 0, label=vehicle.label, paid_through=vehicle.paid_through)
    if days == PAST_DUE_ONLY:
        return build_past_due_summary(
            today=today, vehicle=ref, tax_rate_bp=location.tax_rate_bp, open_invoices=invoices
        )
    check_days(days)
    return build_summary(
        today=today,
        vehicle=ref,
        days=days,
        price_cents=location.price_for(days),
        tax_rate_bp=location.tax_rate_bp,
        open_invoices=invoices,
    )


async def compute(
    session: AsyncSession, *, client_id: int, vehicle_id: int, days: int, now: datetime
) -> InvoiceSummary:
    """The summary the payer would pay right now, from this transaction's reads (what charges
    uses this). Vehicles are looked up within the client."""
    account = await load_account(session, client_id)
    vehicle = find_vehicle(account, vehicle_id)
    return summarize(account.location, vehicle, days, now, await open_invoices(session, client_id))


async def current_basis(
    session: AsyncSession, client_id: int, summary: InvoiceSummary, now: datetime | None = None
) -> Basis:
    """What `summary`'s account stands on now: every open invoice, or (for a past-due-only
    summary, given `now`) what it would settle today (the domain's basis_of)."""
    vehicle = await session.get(Vehicle, summary.vehicle_id)
    if vehicle is None or vehicle.client_id != client_id:
        raise NotFound(N_("That vehicle was not found."))
    if summary.past_due_only and now is not None:
        client = await session.get(Client, client_id)
        assert client is not None
        location = await reads.location(session, client.location_id)
        return basis_of(
            PAST_DUE_ONLY,
            await open_invoices(session, client_id),
            vehicle.paid_through,
            local_today(now, location.timezone),
        )
    # Any days but PAST_DUE_ONLY stand on every open invoice, whatever the day.
    return basis_of(30, await open_invoices(session, client_id), vehicle.paid_through, date.min)
