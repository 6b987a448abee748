"""Account History: the client's ledger, staff-added invoices, and voiding (supervisors only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import outcomes
from app.domain.errors import DomainError
from app.domain.money import parse_amount
from app.domain.numbers import parse_id
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary
from app.services import audit
from app.services.summary import NotFound
from app.store.locks import lock_client
from app.store.models import (
    Client,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
    StaffUser,
    Vehicle,
)
from app.store.repo import add_invoice

MAX_INVOICE_CENTS = 1_000_000  # $10,000.00
VOID_ROLES = ("supervisor", "admin")
CHANNELS = {
    "link": "Secure Payment Link",
    "staff_card_on_file": "Card on file (staff)",
    "portal": "My Account",
    "autopay": "AutoPay",
}


class InvoiceInvalid(DomainError):
    """Field-level problems with a new invoice; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Check the invoice details.")
        self.errors = errors


class NotAllowed(DomainError):
    message = "Only a supervisor can void an invoice."


class CannotVoid(DomainError):
    message = "Only an open invoice can be voided; this one is already paid or void."


@dataclass(frozen=True)
class LedgerRow:
    kind: str  # invoice | payment | refund | credit (a paid invoice voided by a refund)
    id: int
    on: date  # local date of the entry
    at: datetime
    reference: str  # invoice number, or the payment's card
    description: str
    vehicle: str
    status: str  # open | past-due | paid | void | succeeded | failed | pending
    charge_cents: int | None  # what the client owes from this entry
    payment_cents: int | None  # what the client paid
    balance_cents: int  # running balance after this entry
    failure: str | None = None
    voidable: bool = False
    refundable: bool = False


@dataclass(frozen=True)
class _VoidedAfterPaid:
    invoice: Invoice


@dataclass(frozen=True)
class Ledger:
    rows: list[LedgerRow]  # newest first
    balance_cents: int
    past_due_cents: int


def _local(at: datetime, tz: str) -> date:
    return local_today(at, tz)


async def ledger(session: AsyncSession, client_id: int, now: datetime, tz: str) -> Ledger:
    """Invoices and payment attempts with a running balance (oldest → newest, shown newest first).

    Open and paid invoices add to the balance; void ones do not. Succeeded payments take away;
    failed and pending attempts are listed for staff but change nothing.
    """
    vehicles = {
        v.id: v.label
        for v in (await session.execute(select(Vehicle).where(col(Vehicle.client_id) == client_id)))
        .scalars()
        .all()
    }
    invoices = (
        (await session.execute(select(Invoice).where(col(Invoice.client_id) == client_id)))
        .scalars()
        .all()
    )
    payments = (
        (await session.execute(select(Payment).where(col(Payment.client_id) == client_id)))
        .scalars()
        .all()
    )
    refunds = (
        (
            await session.execute(
                select(Refund).where(
                    col(Refund.client_id) == client_id, col(Refund.status) != "failed"
                )
            )
        )
        .scalars()
        .all()
    )
    held = {
        int(invoice_id): int(cents)
        for invoice_id, cents in (
            await session.execute(
                select(col(PaymentAllocation.invoice_id), func.sum(PaymentAllocation.amount_cents))
                .join(Invoice, col(Invoice.id) == col(PaymentAllocation.invoice_id))
                .where(col(Invoice.client_id) == client_id)
                .group_by(col(PaymentAllocation.invoice_id))
            )
        ).all()
    }
    return build_ledger(list(invoices), list(payments), vehicles, now, tz, list(refunds), held)


def _card(payment: Payment) -> str:
    if payment.card_brand and payment.card_last4:
        return f"{payment.card_brand} ending {payment.card_last4}"
    return "Card"


def build_ledger(
    invoices: list[Invoice],
    payments: list[Payment],
    vehicles: dict[int | None, str],
    now: datetime,
    tz: str,
    refunds: list[Refund] | None = None,
    held: dict[int, int] | None = None,
) -> Ledger:
    """The pure part: order the entries and run the balance. Money that went through takes
    away (whatever was refunded later); a refund given back adds to it again. `held`: what
    payments still hold of each invoice (an open invoice owes the rest). An invoice that was
    paid, then voided by a refund, counted until it was voided: a credit row takes it away."""
    today = local_today(now, tz)
    held = held or {}
    entries: list[tuple[datetime, int, int, object]] = []
    given_back = {
        inv.id for inv in invoices if inv.status == "void" and inv.id in held and inv.voided_at
    }
    for inv in invoices:
        # An invoice enters the ledger when it was issued; a payment's own monitoring invoice
        # sorts just before the payment that created it (same time, lower rank).
        entries.append((inv.created_at, 0, inv.id or 0, inv))
        if inv.id in given_back:
            assert inv.voided_at is not None
            entries.append((inv.voided_at, 3, inv.id or 0, _VoidedAfterPaid(inv)))
    for pay in payments:
        entries.append((pay.completed_at or pay.created_at, 1, pay.id or 0, pay))
    by_payment = {p.id: p for p in payments}
    for ref in refunds or []:
        entries.append((ref.completed_at or ref.created_at, 2, ref.id or 0, ref))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))

    balance = 0
    past_due = 0
    rows: list[LedgerRow] = []
    for at, _, _, item in entries:
        if isinstance(item, _VoidedAfterPaid):
            inv = item.invoice
            balance -= inv.total_cents
            rows.append(
                LedgerRow(
                    kind="credit",
                    id=inv.id or 0,
                    on=_local(at, tz),
                    at=at,
                    reference=inv.number,
                    description=f"Voided {inv.number}: the period was given back by a refund",
                    vehicle=vehicles.get(inv.vehicle_id, "") if inv.vehicle_id else "",
                    status="credited",
                    charge_cents=None,
                    payment_cents=inv.total_cents,
                    balance_cents=balance,
                )
            )
        elif isinstance(item, Invoice):
            counts = item.status != "void" or item.id in given_back
            if counts:
                balance += item.total_cents
            status = "given back" if item.id in given_back else item.status
            owed = item.total_cents - held.get(item.id or 0, 0)
            if status == "open" and item.due_date < today:
                status = "past-due"
                past_due += owed
            rows.append(
                LedgerRow(
                    kind="invoice",
                    id=item.id or 0,
                    on=_local(at, tz),
                    at=at,
                    reference=item.number,
                    description=item.description,
                    vehicle=vehicles.get(item.vehicle_id, "") if item.vehicle_id else "",
                    status=status,
                    charge_cents=item.total_cents,
                    payment_cents=None,
                    balance_cents=balance,
                    voidable=item.status == "open" and held.get(item.id or 0, 0) == 0,
                )
            )
        elif isinstance(item, Refund):
            if item.status == "succeeded":
                balance += item.amount_cents
            paid = by_payment.get(item.payment_id)
            rows.append(
                LedgerRow(
                    kind="refund",
                    id=item.id or 0,
                    on=_local(at, tz),
                    at=at,
                    reference=_card(paid) if paid else "Card",
                    description=f"Refund — {item.reason}",
                    vehicle=vehicles.get(paid.vehicle_id, "") if paid and paid.vehicle_id else "",
                    status="refunded" if item.status == "succeeded" else "refund pending",
                    charge_cents=item.amount_cents,
                    payment_cents=None,
                    balance_cents=balance,
                )
            )
        else:
            assert isinstance(item, Payment)
            if item.status in outcomes.SETTLED:
                balance -= item.amount_cents
            rows.append(
                LedgerRow(
                    kind="payment",
                    id=item.id or 0,
                    on=_local(at, tz),
                    at=at,
                    reference=_card(item),
                    description=f"Payment — {CHANNELS.get(item.channel, item.channel)}",
                    vehicle=vehicles.get(item.vehicle_id, "") if item.vehicle_id else "",
                    status=item.status,
                    charge_cents=None,
                    payment_cents=item.amount_cents,
                    balance_cents=balance,
                    failure=item.failure_message if item.status == "failed" else None,
                    refundable=item.status in ("succeeded", "partially_refunded"),
                )
            )
    rows.reverse()
    return Ledger(rows=rows, balance_cents=balance, past_due_cents=past_due)


def validate_invoice(
    *,
    vehicle_id: str,
    description: str,
    amount: str,
    due_date: str,
    vehicle_ids: set[int],
    today: date,
) -> tuple[int | None, str, int, date]:
    """Check what staff typed; raise InvoiceInvalid with a message per field."""
    errors: dict[str, str] = {}
    vid: int | None = None
    if vehicle_id:
        vid = parse_id(vehicle_id)
        if vid is None or vid not in vehicle_ids:
            vid = None
            errors["vehicle_id"] = "Choose one of this client's vehicles, or none."
    description = " ".join(description.split())
    if not description:
        errors["description"] = "Enter a description, like “Device recalibration fee”."
    elif len(description) > 200:
        errors["description"] = "Keep the description to 200 characters or fewer."
    cents = 0
    try:
        cents = parse_amount(amount)
    except DomainError:
        errors["amount"] = "Enter an amount in dollars and cents, like 45.00."
    else:
        if cents <= 0:
            errors["amount"] = "Enter an amount over $0.00."
        elif cents > MAX_INVOICE_CENTS:
            errors["amount"] = "Enter an amount of $10,000.00 or less."
    due = today
    try:
        due = date.fromisoformat(due_date)
    except ValueError:
        errors["due_date"] = "Enter the due date as a date, like 2026-12-15."
    else:
        if not today - timedelta(days=365) <= due <= today + timedelta(days=365):
            errors["due_date"] = "Enter a due date within a year of today."
    if errors:
        raise InvoiceInvalid(errors)
    return vid, description, cents, due


async def create_invoice(
    session: AsyncSession,
    *,
    staff: StaffUser,
    client_id: int,
    vehicle_id: int | None,
    description: str,
    amount_cents: int,
    due_date: date,
    now: datetime,
) -> Invoice:
    await lock_client(session, client_id)  # the same lock every writer of the account takes
    invoice = await add_invoice(
        session,
        client_id=client_id,
        vehicle_id=vehicle_id,
        kind="charge",
        description=description,
        amount_cents=amount_cents,
        tax_cents=0,
        due_date=due_date,
        status="open",
        created_at=now,
        created_by_staff_id=staff.id,
    )
    audit.record(
        session,
        at=now,
        actor_type="staff",
        actor_id=staff.id,
        client_id=client_id,
        action="invoice.added",
        invoice=invoice.number,
        amount_cents=amount_cents,
        due_date=due_date.isoformat(),
    )
    await session.commit()
    return invoice


async def _held(session: AsyncSession, invoice_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.coalesce(func.sum(PaymentAllocation.amount_cents), 0)).where(
                    col(PaymentAllocation.invoice_id) == invoice_id
                )
            )
        ).scalar_one()
    )


async def void_invoice(
    session: AsyncSession, *, staff: StaffUser, client_id: int, invoice_id: int, now: datetime
) -> Invoice:
    """Void an open invoice under the account lock; refused while a payment that includes it
    is unresolved (it could still be charged for it)."""
    if staff.role not in VOID_ROLES:
        raise NotAllowed()
    await lock_client(session, client_id)
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None or invoice.client_id != client_id:
        raise NotFound("That invoice was not found.")
    client = await session.get(Client, client_id)
    assert client is not None
    if client.payment_in_flight is not None:
        in_flight = await session.get(Payment, client.payment_in_flight)
        if in_flight is not None and invoice_id in (
            InvoiceSummary.from_json(in_flight.summary_json).basis.invoice_ids
        ):
            raise CannotVoid(
                "A payment that includes this invoice is being processed. Try again once it "
                "has gone through or failed."
            )
    if invoice.status != "open":
        raise CannotVoid()  # nothing was written
    if await _held(session, invoice_id):
        raise CannotVoid(
            "Part of this invoice was paid and then refunded in part; refund the rest of that "
            "payment instead of voiding."
        )
    invoice.status, invoice.voided_at = "void", now
    session.add(invoice)
    audit.record(
        session,
        at=now,
        actor_type="staff",
        actor_id=staff.id,
        client_id=client_id,
        action="invoice.voided",
        invoice=invoice.number,
        amount_cents=invoice.total_cents,
    )
    await session.commit()
    return invoice
