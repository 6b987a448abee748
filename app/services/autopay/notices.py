"""AutoPay's texts to the client, in their language (templates/sms/autopay_*.txt): a failure
says whether and when AutoPay tries again, and that PAY gets a link now; a card that will have
expired by the next AutoPay date is named a week before, with My Account's address."""

from __future__ import annotations

from datetime import date

from app.services import texts
from app.services.reminders import short_date


def failed(
    to: texts.Recipient,
    *,
    company: str,
    amount: int,
    vehicle: str,
    retry_on: date | None,
    last: bool,
) -> str:
    """`retry_on`: the day it is tried again (None: never); `last`: that was the last retry
    of a soft decline (else a hard decline, not retried)."""
    return texts.render_text(
        "autopay_failed",
        to,
        company=company,
        amount=amount,
        vehicle=vehicle,
        retry_on=short_date(retry_on, to.language) if retry_on else "",
        last=last,
    )


def card_expiring(
    to: texts.Recipient,
    *,
    company: str,
    brand: str,
    last4: str,
    vehicle: str,
    charge_on: date,
    url: str,
) -> str:
    return texts.render_text(
        "autopay_card_expiring",
        to,
        company=company,
        brand=brand,
        last4=last4,
        vehicle=vehicle,
        on=short_date(charge_on, to.language),
        url=url,
    )
