"""The texts a payer gets about money on their card (a receipt, a refund), with the company's
name and the card as the payment recorded it ("card ----" when the processor never said)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.texts import text_payer
from app.store.models import Payment


async def text_about_card(
    s: AsyncSession,
    payment: Payment,
    template: str,
    now: datetime,
    *,
    company: str,
    amount: int,
    **context: Any,
) -> None:
    """Text `template` about `amount` cents on the payment's card; nothing without a company
    name (the text names it)."""
    if not company:
        return
    brand, last4 = payment.card_brand or "card", payment.card_last4 or "----"
    await text_payer(
        s,
        payment,
        template,
        now,
        company=company,
        amount=amount,
        brand=brand,
        last4=last4,
        **context,
    )
