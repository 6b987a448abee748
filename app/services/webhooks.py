"""Finalize payments from the processor's signed events. Replays change nothing."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import ChargeResult, PaymentGateway
from app.clock import Clock
from app.services import payments
from app.store.models import Payment

log = logging.getLogger("monitorpay.webhooks")

DECLINE_MESSAGE = "Your card was declined. Try another card or contact your bank."


async def handle_stripe_event(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    event: dict[str, Any],
    company: str,
) -> str:
    """Returns what was done, for the log and the tests."""
    kind = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return "ignored"
    try:
        payment_id = int((obj.get("metadata") or {}).get("payment_id", ""))
    except ValueError:
        log.warning("event_id=%s event=webhook_without_payment_id", event.get("id"))
        return "ignored"
    async with maker() as s:
        payment = await s.get(Payment, payment_id)
    if payment is None:
        return "unknown_payment"
    if payment.status != "pending":
        return "already_final"
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        await payments.fail(
            maker,
            clock,
            payment_id,
            code=str(error.get("decline_code") or error.get("code") or "declined"),
            message=DECLINE_MESSAGE,
            declined=True,
        )
        return "failed"
    if int(obj.get("amount_received") or obj.get("amount") or 0) != payment.amount_cents:
        log.error("payment_id=%s event=webhook_amount_mismatch", payment_id)
        return "amount_mismatch"
    card = None
    if obj.get("payment_method"):
        card = await gateway.describe_payment_method(str(obj["payment_method"]))
    result = ChargeResult(
        status="succeeded",
        processor_ref=str(obj.get("id")),
        amount_cents=payment.amount_cents,
        card=card,
    )
    outcome = await payments.apply_success(maker, clock, payment_id, result, company=company)
    return "applied" if outcome.status == "succeeded" else outcome.status
