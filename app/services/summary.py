"""Compute an Invoice Summary for (client, vehicle, days) from what the database holds now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.errors import DomainError
from app.domain.periods import check_days, local_today
from app.domain.summary import Basis, InvoiceSummary, OpenInvoice, VehicleRef, build_summary
from app.i18n import N_
from app.store.models import Client, Invoice, Location, PaymentAllocation, Vehicle


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


async def load_account(session: AsyncSession, client_id: int) -> Account:
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(N_("That client was not found."))
    location = await session.get(Location, client.location_id)
    assert location is not None
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
    """The account's open invoices with what is still due on each: the total, less what
    payments still hold of it (an invoice a partial refund reopened owes only its share)."""
    held = (
        select(
            col(PaymentAllocation.invoice_id),
            func.sum(PaymentAllocation.amount_cents).label("held"),
        )
        .group_by(col(PaymentAllocation.invoice_id))
        .subquery()
    )
    rows = (
        await session.execute(
            select(Invoice, func.coalesce(held.c.held, 0))
            .outerjoin(held, held.c.invoice_id == col(Invoice.id))
            .where(col(Invoice.client_id) == client_id, col(Invoice.status) == "open")
            .order_by(col(Invoice.due_date), col(Invoice.id))
        )
    ).all()
    return [
        OpenInvoice(
            id=i.id or 0,
            number=i.number,
            description=i.description,
            total_cents=i.total_cents - int(held_cents),
            due_date=i.due_date,
        )
        for i, held_cents in rows
    ]


def find_vehicle(account: Account, vehicle_id: int) -> Vehicle:
    for v in account.vehicles:
        if v.id == vehicle_id:
            return v
    raise NotFound(N_("Choose one of this client's vehicles."))


async def compute(
    session: AsyncSession, *, client_id: int, vehicle_id: int, days: int, now: datetime
) -> InvoiceSummary:
    """The summary the payer would pay right now. Vehicles are looked up within the client."""
    check_days(days)
    account = await load_account(session, client_id)
    vehicle = find_vehicle(account, vehicle_id)
    return build_summary(
        today=local_today(now, account.location.timezone),
        vehicle=VehicleRef(
            id=vehicle.id or 0, label=vehicle.label, paid_through=vehicle.paid_through
        ),
        days=days,
        price_cents=account.location.price_for(days),
        tax_rate_bp=account.location.tax_rate_bp,
        open_invoices=await open_invoices(session, client_id),
    )


async def current_basis(session: AsyncSession, *, client_id: int, vehicle_id: int) -> Basis:
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.client_id != client_id:
        raise NotFound(N_("That vehicle was not found."))
    ids = (
        (
            await session.execute(
                select(col(Invoice.id)).where(
                    col(Invoice.client_id) == client_id, col(Invoice.status) == "open"
                )
            )
        )
        .scalars()
        .all()
    )
    return Basis(
        invoice_ids=tuple(sorted(int(i or 0) for i in ids)), paid_through=vehicle.paid_through
    )
