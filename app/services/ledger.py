"""Account History: the client's ledger, staff-added invoices, and voiding (supervisors only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import charges
from app.domain.charges import ChargeType
from app.domain.errors import DomainError
from app.domain.money import parse_amount
from app.domain.numbers import parse_id
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary, OpenInvoice, is_past_due
from app.services import audit
from app.services.disputes import Badge
from app.services.summary import NotFound
from app.store import reads
from app.store.locks import lock_client
from app.store.models import Client, Invoice, Payment, PaymentAllocation, Refund, StaffUser
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
    disputes: Mapping[int, Badge] = field(default_factory=dict)  # payment id → its dispute


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
        disputes={e.id: Badge(e.dispute) for e in page.entries if e.dispute},
    )


def _card(brand: str | None, last4: str | None) -> str:
    return f"{brand} ending {last4}" if brand and last4 else "Card"


def _past_due(e: reads.LedgerEntry, today: date) -> bool:
    """An invoice row by the domain's rule (domain.summary.is_past_due), which is about open
    invoices only: a paid or void one is never past due."""
    if e.kind != "invoice" or e.status != "open" or e.due_date is None:
        return False
    owed = OpenInvoice(e.id, e.reference or "", e.description, e.cents - e.held_cents, e.due_date)
    return is_past_due(owed, today)


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
        if _past_due(e, today):
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


@dataclass(frozen=True)
class NewInvoice:
    """A charge staff add, checked: the catalog's key and English text (domain/charges.py), or
    staff's own words with no key (shown as typed in any language)."""

    vehicle_id: int | None
    charge_type: str | None
    description: str
    amount_cents: int
    due_date: date


def validate_invoice(
    *,
    vehicle_id: str,
    charge_type: str,
    description: str,
    amount: str,
    due_date: str,
    vehicle_ids: set[int],
    today: date,
) -> NewInvoice:
    """Check what staff picked and typed; raise InvoiceInvalid with a message per field."""
    vid, vid_error = _invoice_vehicle(vehicle_id, vehicle_ids)
    charge, charge_error = _invoice_charge(charge_type, description)
    text, text_error = _invoice_description(description)
    if charge is not None or charge_error:  # the catalog's words, or said by the picker
        text, text_error = (charge.text if charge else text), None
    cents, cents_error = _invoice_amount(amount)
    due, due_error = _invoice_due_date(due_date, today)
    errors = {
        name: message
        for name, message in (
            ("vehicle_id", vid_error),
            ("charge_type", charge_error),
            ("description", text_error),
            ("amount", cents_error),
            ("due_date", due_error),
        )
        if message
    }
    if errors:
        raise InvoiceInvalid(errors)
    return NewInvoice(vid, charge.key if charge else None, text, cents, due)


def _invoice_charge(key: str, description: str) -> tuple[ChargeType | None, str | None]:
    """The catalog's charge, or None for Other… (staff's words). A form without the picker
    (no key) is Other… when it has words."""
    key = key.strip()
    if not key and not description.strip():
        return None, "Choose a charge, or Other… and describe it."
    try:
        return charges.chosen(key or charges.OTHER), None
    except charges.UnknownChargeType as exc:
        return None, exc.message


def _invoice_vehicle(raw: str, vehicle_ids: set[int]) -> tuple[int | None, str | None]:
    """None for no vehicle (an account-level charge), else one of the client's."""
    if not raw:
        return None, None
    vid = parse_id(raw)
    if vid is None or vid not in vehicle_ids:
        return None, "Choose one of this client's vehicles, or none."
    return vid, None


def _invoice_description(raw: str) -> tuple[str, str | None]:
    text = " ".join(raw.split())
    if not text:
        return text, "Enter a description, like “Device recalibration fee”."
    if len(text) > 200:
        return text, "Keep the description to 200 characters or fewer."
    return text, None


def _invoice_amount(raw: str) -> tuple[int, str | None]:
    try:
        cents = parse_amount(raw)
    except DomainError:
        return 0, "Enter an amount in dollars and cents, like 45.00."
    if cents <= 0:
        return cents, "Enter an amount over $0.00."
    if cents > MAX_INVOICE_CENTS:
        return cents, "Enter an amount of $10,000.00 or less."
    return cents, None


def _invoice_due_date(raw: str, today: date) -> tuple[date, str | None]:
    try:
        due = date.fromisoformat(raw)
    except ValueError:
        return today, "Enter the due date as a date, like 2026-12-15."
    if not today - timedelta(days=365) <= due <= today + timedelta(days=365):
        return due, "Enter a due date within a year of today."
    return due, None


async def add_checked(
    session: AsyncSession, new: NewInvoice, *, staff: StaffUser, client_id: int, now: datetime
) -> Invoice:
    """Add the charge validate_invoice checked, under the account lock; its `charge_type` is the
    catalog's key, if any."""
    await lock_client(session, client_id)  # the same lock every writer of the account takes
    invoice = await add_invoice(
        session,
        client_id=client_id,
        kind="charge",
        tax_cents=0,
        status="open",
        created_at=now,
        created_by_staff_id=staff.id,
        **asdict(new),
    )
    audit.invoice_added(session, at=now, staff=staff, invoice=invoice)
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
    audit.invoice_voided(session, at=now, staff=staff, invoice=invoice)
    await session.commit()
    return invoice


# -- a payment and a refund, as the tab's notices and refund form read them -------------------
@dataclass(frozen=True)
class PaymentView:
    id: int
    amount_cents: int
    refunded_cents: int
    status: str
    processor_ref: str | None
    card_brand: str | None
    card_last4: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class RefundView:
    id: int
    amount_cents: int
    status: str  # pending | succeeded | failed
    failure_message: str | None
    payment: PaymentView  # the payment it gives back money from


_PAYMENT_COLS = tuple(getattr(Payment, f) for f in PaymentView.__dataclass_fields__)
_REFUND_COLS = tuple(getattr(Refund, f) for f in RefundView.__dataclass_fields__ if f != "payment")


def _payment_view(row: Any) -> PaymentView:
    return PaymentView(*(row[i] for i in range(len(_PAYMENT_COLS))))


async def payment(session: AsyncSession, client_id: int, payment_id: int) -> PaymentView | None:
    """One of this client's payments, as it is now (None for anyone else's)."""
    row = (
        await session.execute(
            select(*_PAYMENT_COLS).where(
                col(Payment.id) == payment_id, col(Payment.client_id) == client_id
            )
        )
    ).first()
    return _payment_view(row) if row is not None else None


async def refund(session: AsyncSession, client_id: int, refund_id: int) -> RefundView | None:
    """One of this client's refunds with its payment, as they are now (None for anyone else's)."""
    row = (
        await session.execute(
            select(*_PAYMENT_COLS, *_REFUND_COLS)
            .join(Refund, col(Refund.payment_id) == col(Payment.id))
            .where(col(Refund.id) == refund_id, col(Refund.client_id) == client_id)
        )
    ).first()
    if row is None:
        return None
    rid, cents, status, failure = row[len(_PAYMENT_COLS) :]
    return RefundView(rid, cents, status, failure, payment=_payment_view(row))
