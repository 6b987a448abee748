"""What a caller is told about a payment: its status and what the receipt or message shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.views import view_of
from app.store.models import Invoice, Payment


@dataclass(frozen=True)
class PaymentOutcome:
    payment_id: int
    # succeeded | refunded | partially_refunded | pending | unknown | failed
    # | requires_action | processing
    status: str
    amount_cents: int
    invoice_id: int | None = None
    invoice_number: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    completed_at: datetime | None = None
    client_secret: str | None = None
    failure_message: str | None = None
    replayed: bool = False  # a repeat of an earlier request: this call charged nothing


async def outcome_of(session: AsyncSession, payment: Payment) -> PaymentOutcome:
    number = None
    if payment.invoice_id is not None:
        invoice = await session.get(Invoice, payment.invoice_id)
        number = invoice.number if invoice else None
    return view_of(PaymentOutcome, payment, payment_id=payment.id or 0, invoice_number=number)
