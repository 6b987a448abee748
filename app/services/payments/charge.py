"""Calling the processor, and its three answers (STYLE "Data and transactions"): it charged
(applied by `apply`), it refused (`fail`: nothing was charged), or we don't know (`mark_unknown`:
the claim stays and `resolve` asks again, at once in the background and by reconcile).

The pending payment is written and committed before the call (`claim`); the processor is called
outside any transaction with the payment's idempotency key; its answer is recorded in a new
transaction that re-checks the payment's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.pacing import Sleep, busy_wait
from app.adapters.payments.port import ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain.errors import CardDeclined, GatewayError, GatewayUnavailable, OutcomeUnknown
from app.domain.links import MAX_DECLINES
from app.domain.payment_states import PAYMENTS
from app.i18n import N_
from app.services import audit
from app.services.payments import apply, status
from app.services.payments.claim import (
    ChargeRequest,
    account_of,
    claim,
    forget_client,
    new_payment,
    release,
    release_link,
    remember_client,
)
from app.services.payments.context import PaymentContext
from app.services.payments.outcome import PaymentOutcome, outcome_of
from app.services.texts import text_payer
from app.store.locks import locked_account
from app.store.models import Payment, PaymentLink

log = logging.getLogger("monitorpay.payments")

NOT_CONFIRMED = N_("Your bank did not confirm the payment. Try again or use another card.")

# A processor that answered "busy" (429) or could not be reached did nothing. A person waiting
# on a charge gets BUSY_RETRIES more tries after a short wait (never longer than SHORT_WAIT_MAX,
# and never sooner than its Retry-After); AutoPay asks for none and paces itself (its run
# retries with backoff). Tests replace `pause` to wait without sleeping.
BUSY_RETRIES = 1
SHORT_WAIT_MAX = 2.0
pause: Sleep = asyncio.sleep
_jitter = random.Random()


async def _earlier(s: AsyncSession, key: str) -> Payment | None:
    found = await s.execute(select(Payment).where(col(Payment.idempotency_key) == key))
    return found.scalar_one_or_none()


async def charge(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    req: ChargeRequest,
    company: str = "",
    *,
    busy_retries: int = BUSY_RETRIES,
    pace: Callable[[], Awaitable[None]] | None = None,
) -> PaymentOutcome:
    """Charge `req.summary.total_cents` once. Raises StaleSummary, PaymentInProgress,
    LinkNotPayable, CardDeclined or GatewayError: on those, nothing was charged. An answer the
    processor lost comes back as status `unknown` (never "nothing was charged").

    GatewayUnavailable (ProcessorBusy for a 429) means the processor did nothing, after
    `busy_retries` more tries: the payment is taken back (`not_attempted`), so no `failed`
    payment is left and the same idempotency key may charge later. `pace` is awaited before
    each call to the processor (AutoPay's turn from the account's rate limiter)."""
    now = clock.now()
    key = req.idempotency_key or f"mp_{secrets.token_hex(16)}"
    async with locked_account(maker, req.client_id) as s:
        existing = await _earlier(s, key)
        if existing is not None:  # a retry of the same request: report the first one
            return dataclasses.replace(await outcome_of(s, existing), replayed=True)
        pid = await claim(s, req, key, now)
        await s.commit()
    remember_client(pid, req.client_id)
    log.info(
        "payment_id=%s channel=%s amount_cents=%s event=charging",
        pid,
        req.channel,
        req.summary.total_cents,
    )
    try:
        result = await _ask(gateway, req, key, pid, busy_retries, pace)
    except GatewayUnavailable:  # the processor did nothing (busy, or never reached)
        await not_attempted(maker, pid)
        raise
    except CardDeclined as exc:
        await fail(maker, clock, pid, code=exc.code, message=exc.message, declined=True,
                   card=(exc.brand, exc.last4))  # fmt: skip
        raise
    except GatewayError as exc:  # refused, or certainly never reached the processor
        await fail(maker, clock, pid, code="gateway_error", message=exc.message)
        raise
    except OutcomeUnknown:
        await mark_unknown(maker, pid, "answer lost")
        return PaymentOutcome(
            payment_id=pid, status="unknown", amount_cents=req.summary.total_cents
        )
    except BaseException:
        # A bug or a cancelled request after the call may have reached the processor: the
        # payment stays unresolved (and the account claimed) until it is asked.
        await mark_unknown(maker, pid, "interrupted")
        raise
    try:
        return await record_result(PaymentContext(maker, gateway, clock, company), pid, result)
    except Exception:
        # The processor answered but we could not record it (the database dropped the
        # connection): the payer must not read "nothing was charged". Reconcile applies it.
        log.exception("payment_id=%s event=record_failed status=%s", pid, result.status)
        with contextlib.suppress(Exception):
            await mark_unknown(maker, pid, "not recorded")
        return PaymentOutcome(payment_id=pid, status="unknown", amount_cents=result.amount_cents)


async def _send(gateway: PaymentGateway, req: ChargeRequest, key: str, pid: int) -> ChargeResult:
    return await gateway.charge(
        amount_cents=req.summary.total_cents,
        payment_method=req.payment_method,
        idempotency_key=key,
        description=f"Monitoring payment {pid}",
        customer=req.customer,
        off_session=req.off_session,
        metadata={"payment_id": str(pid), "client_id": str(req.client_id)},
    )


async def _ask(
    gateway: PaymentGateway,
    req: ChargeRequest,
    key: str,
    pid: int,
    busy_retries: int,
    pace: Callable[[], Awaitable[None]] | None,
) -> ChargeResult:
    """The processor's answer; asked again (same key, the claim kept) after a short wait while
    it says it did nothing, at most `busy_retries` times, each call in its `pace`."""
    for attempt in range(busy_retries + 1):
        try:
            if pace is not None:
                await pace()
            return await _send(gateway, req, key, pid)
        except GatewayUnavailable as exc:
            wait = busy_wait(attempt, getattr(exc, "retry_after", None), _jitter)
            if attempt == busy_retries or not getattr(exc, "should_retry", True):
                raise
            if wait > SHORT_WAIT_MAX:  # it asked for longer than a person should wait
                raise
            log.info("payment_id=%s event=processor_busy wait=%.2f", pid, wait)
            await pause(wait)
    raise AssertionError("unreachable")


async def not_attempted(maker: async_sessionmaker[AsyncSession], payment_id: int) -> bool:
    """The processor certainly did nothing with this payment (it answered "busy", or was never
    reached): the payment is taken back under the account lock — its claims released and its
    row removed (the domain's NOT_ATTEMPTED rule) — so nothing reads as failed, nobody is
    texted, and its idempotency key may charge again. False when it had moved on meanwhile."""
    async with locked_account(maker, await account_of(maker, payment_id)) as s:
        payment = await s.get(Payment, payment_id)
        if payment is None:
            return False
        await release(s, payment)
        await release_link(s, payment)
        taken_back = await status.discard_payment(s, payment_id)
        if not taken_back:
            await s.rollback()
            return False
        await s.commit()
    forget_client(payment_id)  # SQLite may give its id to the next payment
    log.info("payment_id=%s event=not_attempted", payment_id)
    return True


async def record_result(
    ctx: PaymentContext, payment_id: int, result: ChargeResult
) -> PaymentOutcome:
    """What the processor said about a charge, applied once: success, refusal, or still
    waiting (3-D Secure, processing)."""
    if result.status == "succeeded":
        return await apply.apply_success(ctx, payment_id, result)
    if result.status == "failed":
        await fail(
            ctx.maker, ctx.clock, payment_id,
            code="authentication_failed", message=NOT_CONFIRMED, declined=True,
        )  # fmt: skip
        return PaymentOutcome(
            payment_id=payment_id,
            status="failed",
            amount_cents=result.amount_cents,
            failure_message=NOT_CONFIRMED,
        )
    async with ctx.maker() as s:  # waiting on the bank: the processor has it, under this reference
        await status.move_payment(s, payment_id, "pending", processor_ref=result.processor_ref)
        await s.commit()
    return PaymentOutcome(
        payment_id=payment_id,
        status=result.status,
        amount_cents=result.amount_cents,
        client_secret=result.client_secret,
    )


async def mark_unknown(maker: async_sessionmaker[AsyncSession], payment_id: int, why: str) -> None:
    async with maker() as s:
        await status.move_payment(s, payment_id, "unknown", failure_code=why[:40])
        await s.commit()
    log.warning("payment_id=%s event=outcome_unknown why=%s", payment_id, why.replace(" ", "_"))


async def _release_link(s: AsyncSession, payment: Payment, declined: bool) -> None:
    """The link this payment held may be paid again; too many declines lock it."""
    if payment.link_id is None:
        return
    link = await s.get(PaymentLink, payment.link_id)
    assert link is not None
    if link.claim_payment_id != payment.id:
        return
    link.claim_payment_id = None
    link.decline_count += 1 if declined else 0
    if link.decline_count >= MAX_DECLINES:
        link.status = "locked"
    s.add(link)


async def _record_failure(
    s: AsyncSession,
    payment: Payment,
    now: datetime,
    *,
    code: str,
    message: str,
    declined: bool,
    card: tuple[str | None, str | None] = (None, None),
) -> None:
    """Inside the account lock: the payment failed (nothing was charged); its claims go."""
    status.set_payment(payment, "failed")
    payment.failure_code = code[:40]
    payment.failure_message = message[:200]
    payment.completed_at = now
    brand, last4 = card  # the refused card, named in the ledger ("Visa ending 0002")
    payment.card_brand = payment.card_brand or brand
    payment.card_last4 = payment.card_last4 or last4
    s.add(payment)
    await release(s, payment)
    await _release_link(s, payment, declined)
    audit.payment_failed(s, at=now, payment=payment, code=code)


async def fail(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    payment_id: int,
    *,
    code: str,
    message: str,
    declined: bool = False,
    company: str = "",
    card: tuple[str | None, str | None] = (None, None),
) -> bool:
    """Mark an unresolved payment failed (nothing was charged), release the account, count a
    link's declines. With `company`, text the payer who was told to wait for the result.
    False when the payment was already resolved (a replay changes nothing)."""
    now = clock.now()
    async with locked_account(maker, await account_of(maker, payment_id)) as s:
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        was = payment.status
        if not PAYMENTS.allows(was, "failed"):
            return False
        await _record_failure(
            s, payment, now, code=code, message=message, declined=declined, card=card
        )
        if company and was == "unknown":
            await text_payer(
                s, payment, "not_charged", now, company=company, amount=payment.amount_cents
            )
        await s.commit()
    log.info("payment_id=%s event=failed code=%s", payment_id, code)
    return True


async def record_unchargeable(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    req: ChargeRequest,
    *,
    code: str,
    message: str,
) -> bool:
    """A charge that cannot go to the processor (AutoPay's card was removed or expired),
    recorded as a failed payment under the account lock, with its audit record, once per
    idempotency key: False when that key was recorded already. It claims nothing."""
    assert req.idempotency_key is not None
    now = clock.now()
    async with locked_account(maker, req.client_id) as s:
        if await _earlier(s, req.idempotency_key) is not None:
            return False
        payment = new_payment(req, req.idempotency_key, now)
        s.add(payment)
        try:
            await s.flush()
            await _record_failure(s, payment, now, code=code, message=message, declined=False)
            await s.commit()
        except IntegrityError:  # another writer recorded the key without the lock
            await s.rollback()
            return False
    log.info("payment_id=%s event=failed code=%s", payment.id, code)
    return True
