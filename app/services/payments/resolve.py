"""Where an unknown outcome is resolved: ask the processor what became of an unresolved payment
(by its reference, or by our idempotency key when the reference never reached us) and record its
answer. Run from the request, in the background, by reconcile and after 3-D Secure: every path
records through `charge.record_result`, so each answer applies once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain.errors import GatewayError, OutcomeUnknown
from app.domain.payment_states import SETTLED, UNRESOLVED
from app.i18n import N_
from app.services.payments.charge import fail, record_result
from app.services.payments.context import PaymentContext
from app.store.models import Payment, PaymentLink

log = logging.getLogger("monitorpay.payments")

# A charge the processor has no record of this long after we wrote it was never made.
NOT_FOUND_AFTER = timedelta(minutes=5)
# A 3-D Secure challenge not finished this long after it began is abandoned (or sooner, at the
# link's expiry): its PaymentIntent is cancelled and the account released.
CHALLENGE_TIMEOUT = timedelta(minutes=5)


async def settle_from_processor(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    payment_id: int,
    processor_ref: str,
    company: str = "",
) -> ChargeResult:
    """After 3-D Secure in the browser: ask the processor, then apply a success or record the
    bank's refusal. A charge still `processing` or `requires_action` stays pending (a webhook,
    the browser or reconcile finishes it). Safe to call again: both outcomes apply once."""
    result = await gateway.retrieve(processor_ref)
    await record_result(PaymentContext(maker, gateway, clock, company), payment_id, result)
    return result


async def _challenge_deadline(
    maker: async_sessionmaker[AsyncSession], payment: Payment
) -> datetime:
    deadline = payment.created_at + CHALLENGE_TIMEOUT
    if payment.link_id is None:
        return deadline
    async with maker() as s:
        link = await s.get(PaymentLink, payment.link_id)
    return min(deadline, link.expires_at) if link else deadline


async def _ask(gateway: PaymentGateway, payment: Payment) -> ChargeResult | None:
    if payment.processor_ref:
        return await gateway.retrieve(payment.processor_ref)
    return await gateway.lookup(idempotency_key=payment.idempotency_key, payment_id=payment.id or 0)


async def resolve(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    payment_id: int,
    company: str = "",
) -> str:
    """Ask the processor what became of an unresolved payment and apply the answer. Returns
    what was done: applied | failed | not_found_yet | waiting | abandoned | unreachable | final.
    Safe to run from many places at once (the request, the background, reconcile)."""
    async with maker() as s:
        payment = await s.get(Payment, payment_id)
    if payment is None or payment.status not in UNRESOLVED:
        return "final"
    now = clock.now()
    try:
        result = await _ask(gateway, payment)
    except GatewayError as exc:  # GatewayUnavailable and friends: ask again later
        log.warning(
            "payment_id=%s event=resolve_unreachable error=%s", payment_id, type(exc).__name__
        )
        return "unreachable"
    if result is None:
        if now - payment.created_at < NOT_FOUND_AFTER:
            return "not_found_yet"
        await fail(
            maker, clock, payment_id,
            code="not_charged", message=N_("The processor has no record of this charge."),
            company=company,
        )  # fmt: skip
        return "failed"
    if result.status == "requires_action":
        if now < await _challenge_deadline(maker, payment):
            return "waiting"
        try:
            result = await gateway.cancel(result.processor_ref)
        except (GatewayError, OutcomeUnknown):
            return "unreachable"
        if result.status == "failed":
            await fail(
                maker, clock, payment_id,
                code="abandoned", message=N_("The bank's check was not finished in time."),
            )  # fmt: skip
            return "abandoned"
    if result.status == "processing":
        return "waiting"
    outcome = await record_result(
        PaymentContext(maker, gateway, clock, company), payment_id, result
    )
    return "applied" if outcome.status in SETTLED else outcome.status
