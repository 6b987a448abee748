"""Finalize payments from the processor's signed events. The processor is the source of truth:
a success is applied whatever the local status; a success for another amount than the payment's
is refunded in full with a note staff see; a failure or cancel releases the claim of a payment
still unresolved. Each event is handled once (by its id), in whatever order events
arrive.

Dispute events (`charge.dispute.created`, `.updated`, `.closed`) carry the Dispute object; it
names the disputed PaymentIntent, which finds our payment (services/disputes.py writes it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain.disputes import DisputeFacts, UnknownDisputeStatus
from app.domain.numbers import parse_id
from app.domain.payment_states import SETTLED, UNRESOLVED
from app.i18n import N_
from app.services import disputes, payments
from app.store.models import Payment, ProcessedEvent

log = logging.getLogger("monitorpay.webhooks")

DECLINE_MESSAGE = N_("Your card was declined. Try another card or contact your bank.")
HANDLED = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
)
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
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
    if kind in DISPUTE_EVENTS:
        return await _dispute_event(maker, clock, event, kind, obj)
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
    charged = int(obj.get("amount_received") or obj.get("amount") or 0)
    if charged <= 0:  # a success that names no amount is not one we can act on
        log.error("payment_id=%s event=webhook_without_amount", pid)
        return "ignored"
    card = None
    if obj.get("payment_method"):
        card = await gateway.describe_payment_method(str(obj["payment_method"]))
    result = ChargeResult(
        status="succeeded", processor_ref=str(obj.get("id")), amount_cents=charged, card=card
    )
    was = payment.status
    ctx = payments.PaymentContext(maker, gateway, clock, company)
    if charged != payment.amount_cents:  # money taken, but not what was asked: give it back
        await payments.refund_amount_mismatch(ctx, pid, result)
        return "already_final" if was in SETTLED else "amount_mismatch_refunded"
    outcome = await payments.apply_success(ctx, pid, result)
    if was in SETTLED:
        return "already_final"
    return "applied" if outcome.status == "succeeded" else outcome.status


def _when(value: Any) -> datetime | None:
    """A Stripe timestamp (seconds since 1970) as UTC; None when absent or 0."""
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _id(value: Any) -> str | None:
    """An id, or an expanded object's id."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value)[:100] if value else None


def dispute_facts(obj: dict[str, Any], event_at: datetime) -> DisputeFacts:
    """The Dispute object of an event (UnknownDisputeStatus, ValueError when it is not one)."""
    ref = _id(obj.get("id"))
    if not ref or obj.get("object", "dispute") != "dispute":
        raise ValueError("not a dispute")
    return DisputeFacts(
        ref=ref,
        charge_ref=_id(obj.get("charge")),
        payment_ref=_id(obj.get("payment_intent")),
        amount_cents=int(obj.get("amount") or 0),
        reason=str(obj.get("reason") or "general"),
        status=str(obj.get("status") or ""),
        evidence_due_by=_when((obj.get("evidence_details") or {}).get("due_by")),
        opened_at=_when(obj.get("created")) or event_at,
        livemode=bool(obj.get("livemode")),
    )


async def _dispute_event(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    event: dict[str, Any],
    kind: str,
    obj: dict[str, Any],
) -> str:
    event_id = str(event.get("id") or "")
    event_at = _when(event.get("created")) or clock.now()
    try:
        facts = dispute_facts(obj, event_at)
    except (UnknownDisputeStatus, ValueError):
        log.error("event_id=%s event=dispute_event_unreadable", event_id)
        return "ignored"
    payment = await disputes.payment_for(maker, facts.payment_ref) if facts.payment_ref else None
    if payment is None or payment.status in UNRESOLVED:
        # Not remembered: no payment of ours for it yet, or ours whose answer we have not had
        # (a dispute proves the charge; reconcile settles the payment, and a lost dispute then
        # gives back what it holds). The processor's next event for the dispute (or the
        # sandbox's next delivery) tries again.
        log.warning("event_id=%s dispute=%s event=dispute_unknown_payment", event_id, facts.ref)
        return "unknown_payment"
    if event_id and not await _first_time(maker, event_id, kind, clock):
        return "duplicate"
    try:
        return await disputes.record(maker, clock, payment, facts, event_at)
    except BaseException:
        if event_id:
            await _forget(maker, event_id)
        raise
