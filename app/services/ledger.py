"""Account History: the client's ledger, staff-added invoices, and voiding (supervisors only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.errors import DomainError
from app.domain.money import parse_amount
from app.domain.numbers import parse_id
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary
from app.services import audit
from app.services.summary import NotFound
from app.store import reads
from app.store.locks import lock_client
from app.store.models import Client, Invoice, Payment, PaymentAllocation, StaffUser
from app.store.repo import add_invoice

MAX_INVOICE_CENTS = 1_000_000  # $10,000.00
PAGE_SIZE = 50
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
class Ledger:
    rows: list[LedgerRow]  # newest first, one page
    balance_cents: int  # the account's balance, after every entry
    past_due_cents: int
    older: str | None  # where the next (older) page starts; None on the last page


class BadCursor(DomainError):
    message = "That page of the history does not exist. Start again from the newest entries."


_CURSOR = re.compile(r"([0-9]{1,16})\.([0-3])\.([0-9]{1,10})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cursor(key: reads.LedgerKey) -> str:
    """The "Older" link's `before`: microseconds since 1970, rank and id of the last row."""
    micros = (key.at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{key.rank}.{key.id}"


def parse_cursor(text: str) -> reads.LedgerKey:
    match = _CURSOR.fullmatch(text)
    if match is None:
        raise BadCursor()
    micros, rank, row_id = (int(g) for g in match.groups())
    try:
        at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise BadCursor() from None
    return reads.LedgerKey(at=at, rank=rank, id=row_id)


async def ledger(
    session: AsyncSession,
    client_id: int,
    *,
    now: datetime,
    tz: str,
    vehicles: dict[int, str],
    before: str = "",
    size: int = PAGE_SIZE,
) -> Ledger:
    """One page of the account's invoices, payments and refunds, newest first, each with the
    running balance after it (computed over the whole account by the database). `before`: the
    page's cursor (empty for the newest page); BadCursor when it is not one."""
    today = local_today(now, tz)
    key = parse_cursor(before) if before else None
    page = await reads.ledger_page(session, client_id, today=today, before=key, size=size)
    return Ledger(
        rows=[_row(e, vehicles, today, tz) for e in page.entries],
        balance_cents=page.balance_cents,
        past_due_cents=page.past_due_cents,
        older=cursor(page.older) if page.older else None,
    )


def _card(brand: str | None, last4: str | None) -> str:
    return f"{brand} ending {last4}" if brand and last4 else "Card"


def _row(e: reads.LedgerEntry, vehicles: dict[int, str], today: date, tz: str) -> LedgerRow:
    """How an entry reads in the ledger; its amounts and balance are the database's."""
    card = _card(e.card_brand, e.card_last4)
    charge: int | None = e.cents
    payment: int | None = None
    status = e.status
    if e.kind == "credit":
        reference, charge, payment = e.reference or "", None, e.cents
        description = f"Voided {e.reference}: the period was given back by a refund"
    elif e.kind == "invoice":
        reference, description = e.reference or "", e.description
        if status == "open" and e.due_date is not None and e.due_date < today:
            status = "past-due"
    elif e.kind == "refund":
        reference, description = card, f"Refund — {e.description}"
        status = "refunded" if e.status == "succeeded" else "refund pending"
    else:
        channel = e.channel or ""
        reference, charge, payment = card, None, e.cents
        description = f"Payment — {CHANNELS.get(channel, channel)}"
    return LedgerRow(
        kind=e.kind,
        id=e.id,
        on=local_today(e.at, tz),
        at=e.at,
        reference=reference,
        description=description,
        vehicle=vehicles.get(e.vehicle_id, "") if e.vehicle_id else "",
        status=status,
        charge_cents=charge,
        payment_cents=payment,
        balance_cents=e.balance_cents,
        failure=e.failure if e.kind == "payment" and e.status == "failed" else None,
        voidable=e.kind == "invoice" and e.status == "open" and e.held_cents == 0,
        refundable=e.kind == "payment" and e.status in ("succeeded", "partially_refunded"),
    )


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
