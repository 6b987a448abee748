"""Finalize payments from the processor's signed events. The processor is the source of truth:
a success is applied whatever the local status; a failure or cancel releases the claim of a
payment still unresolved. Each event is handled once (by its id), in whatever order events
arrive."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain.numbers import parse_id
from app.i18n import N_
from app.services import payments
from app.store.models import Payment, ProcessedEvent

log = logging.getLogger("monitorpay.webhooks")

DECLINE_MESSAGE = N_("Your card was declined. Try another card or contact your bank.")
HANDLED = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
)


async def _first_time(
    maker: async_sessionmaker[AsyncSession], event_id: str, kind: str, clock: Clock
) -> bool:
    async with maker() as s:
        s.add(ProcessedEvent(event_id=event_id[:100], kind=kind[:60], at=clock.now()))
        try:
            await s.commit()
        except IntegrityError:
            return False
    return True


async def _forget(maker: async_sessionmaker[AsyncSession], event_id: str) -> None:
    """An event we could not finish is not remembered, so the processor's retry is handled."""
    async with maker() as s:
        event = await s.get(ProcessedEvent, event_id[:100])
        if event is not None:
            await s.delete(event)
            await s.commit()


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
    if kind not in HANDLED:
        return "ignored"
    payment_id = parse_id(str((obj.get("metadata") or {}).get("payment_id") or ""))
    if payment_id is None:
        log.warning("event_id=%s event=webhook_without_payment_id", event.get("id"))
        return "ignored"
    async with maker() as s:
        payment = await s.get(Payment, payment_id)
    if payment is None:
        return "unknown_payment"
    event_id = str(event.get("id") or "")
    if event_id and not await _first_time(maker, event_id, kind, clock):
        return "duplicate"
    try:
        return await _handle(maker, gateway, clock, kind, obj, payment, company)
    except BaseException:
        if event_id:
            await _forget(maker, event_id)
        raise


async def _handle(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    kind: str,
    obj: dict[str, Any],
    payment: Payment,
    company: str,
) -> str:
    pid = payment.id or 0
    if kind != "payment_intent.succeeded":
        error = obj.get("last_payment_error") or {}
        done = await payments.fail(
            maker,
            clock,
            pid,
            code="canceled"
            if kind == "payment_intent.canceled"
            else str(error.get("decline_code") or error.get("code") or "declined"),
            message=DECLINE_MESSAGE,
            declined=kind == "payment_intent.payment_failed",
            company=company,
        )
        return "failed" if done else "already_final"
    if int(obj.get("amount_received") or obj.get("amount") or 0) != payment.amount_cents:
        log.error("payment_id=%s event=webhook_amount_mismatch", pid)
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
    was = payment.status
    outcome = await payments.apply_success(maker, gateway, clock, pid, result, company=company)
    if was in ("succeeded", "refunded", "partially_refunded"):
        return "already_final"
    return "applied" if outcome.status == "succeeded" else outcome.status
