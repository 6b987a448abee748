"""Charging a summary snapshot, exactly once, on every channel (link, staff, portal, AutoPay).

1. Under the account lock, one transaction checks the snapshot is still exactly what was
   reviewed (the domain decides), claims the account (and the link) and writes the pending
   payment with its idempotency key. The claim lasts until the payment is resolved.
2. The processor is called outside any transaction, with that key.
3. Its answer is one of three (STYLE "Data and transactions"): it charged, it refused, or we
   don't know. "Don't know" is recorded as `unknown`, keeps the claim and is resolved by asking
   the processor (`resolve`, at once in the background and by `reconcile`).
4. A success is applied under the account lock. The processor is the source of truth: a
   success is applied whatever the local status; one whose snapshot no longer fits (another
   payment settled it) is recorded and refunded in full, never kept silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails, ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain import outcomes
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    OutcomeUnknown,
)
from app.domain.links import LIVE_STATUSES, MAX_DECLINES
from app.domain.summary import (
    InvoiceSummary,
    SnapshotNoLongerFits,
    ensure_current,
    plan_application,
)
from app.i18n import N_
from app.services import audit, sms, texts
from app.services.summary import current_basis, open_invoices
from app.store.locks import locked_account
from app.store.models import (
    Client,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentLink,
    Vehicle,
)
from app.store.repo import add_invoice

log = logging.getLogger("monitorpay.payments")

# A charge the processor has no record of this long after we wrote it was never made.
NOT_FOUND_AFTER = timedelta(minutes=5)
# A 3-D Secure challenge not finished this long after it began is abandoned (or sooner, at the
# link's expiry): its PaymentIntent is cancelled and the account released.
CHALLENGE_TIMEOUT = timedelta(minutes=5)
NOT_CONFIRMED = N_("Your bank did not confirm the payment. Try again or use another card.")


class PaymentInProgress(DomainError):
    message = N_(
        "Another payment on this account is being processed right now. Wait a moment, then "
        "refresh to see whether it went through."
    )


class LinkNotPayable(DomainError):
    """The link expired, was paid, cancelled or locked between page load and submit."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(
            {
                "expired": "This payment link has expired. Nothing was charged.",
                "paid": "This link has already been paid.",
                "locked": "This link is locked after too many declined cards. Nothing was charged.",
            }.get(status, "This payment link can no longer be used. Nothing was charged.")
        )


@dataclass(frozen=True)
class ChargeRequest:
    client_id: int
    summary: InvoiceSummary
    channel: str  # link | staff_card_on_file | portal | autopay
    payment_method: str
    actor_type: str  # staff | client | payer | system
    card: CardDetails | None = None  # a saved card: its brand and last 4 show even on a decline
    actor_id: int | None = None
    customer: str | None = None
    off_session: bool = False
    staff_id: int | None = None
    link_id: int | None = None
    idempotency_key: str | None = None


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
    return PaymentOutcome(
        payment_id=payment.id or 0,
        status=payment.status,
        amount_cents=payment.amount_cents,
        invoice_id=payment.invoice_id,
        invoice_number=number,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        completed_at=payment.completed_at,
        failure_message=payment.failure_message,
    )


async def _claim(s: AsyncSession, req: ChargeRequest, key: str, now: datetime) -> int:
    """Inside the account lock: refuse or write the pending payment and its claims."""
    if req.link_id is not None:
        link = await s.get(PaymentLink, req.link_id)
        if link is None:
            raise LinkNotPayable("")
        if link.expires_at <= now:
            raise LinkNotPayable("expired")
        if link.status not in LIVE_STATUSES:
            raise LinkNotPayable(link.status)
        if link.claim_payment_id is not None:
            raise LinkNotPayable("busy")
    client = await s.get(Client, req.client_id)
    assert client is not None
    if client.payment_in_flight is not None:
        raise PaymentInProgress()
    basis = await current_basis(
        s,
        client_id=req.client_id,
        vehicle_id=req.summary.vehicle_id,
        days=req.summary.days,
        now=now,
    )
    ensure_current(req.summary.basis, basis)  # the domain decides; StaleSummary otherwise
    payment = Payment(
        client_id=req.client_id,
        vehicle_id=req.summary.vehicle_id,
        amount_cents=req.summary.total_cents,
        channel=req.channel,
        status="pending",
        idempotency_key=key,
        summary_json=req.summary.to_json(),
        link_id=req.link_id,
        staff_id=req.staff_id,
        card_brand=req.card.brand if req.card else None,
        card_last4=req.card.last4 if req.card else None,
        created_at=now,
    )
    s.add(payment)
    await s.flush()
    pid = payment.id
    assert pid is not None
    client.payment_in_flight = pid
    s.add(client)
    if req.link_id is not None:
        await s.execute(
            update(PaymentLink)
            .where(col(PaymentLink.id) == req.link_id)
            .values(claim_payment_id=pid)
        )
    return pid


async def charge(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    req: ChargeRequest,
    company: str = "",
) -> PaymentOutcome:
    """Charge `req.summary.total_cents` once. Raises StaleSummary, PaymentInProgress,
    LinkNotPayable, CardDeclined or GatewayError: on those, nothing was charged. An answer the
    processor lost comes back as status `unknown` (never "nothing was charged")."""
    now = clock.now()
    key = req.idempotency_key or f"mp_{secrets.token_hex(16)}"
    async with locked_account(maker, req.client_id) as s:
        existing = (
            await s.execute(select(Payment).where(col(Payment.idempotency_key) == key))
        ).scalar_one_or_none()
        if existing is not None:  # a retry of the same request: report the first one
            return dataclasses.replace(await outcome_of(s, existing), replayed=True)
        pid = await _claim(s, req, key, now)
        await s.commit()
    _remember_client(pid, req.client_id)

    log.info(
        "payment_id=%s channel=%s amount_cents=%s event=charging",
        pid,
        req.channel,
        req.summary.total_cents,
    )
    try:
        result = await gateway.charge(
            amount_cents=req.summary.total_cents,
            payment_method=req.payment_method,
            idempotency_key=key,
            description=f"Monitoring payment {pid}",
            customer=req.customer,
            off_session=req.off_session,
            metadata={"payment_id": str(pid), "client_id": str(req.client_id)},
        )
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
        return await record_result(maker, gateway, clock, pid, result, company=company)
    except Exception:
        # The processor answered but we could not record it (the database dropped the
        # connection): the payer must not read "nothing was charged". Reconcile applies it.
        log.exception("payment_id=%s event=record_failed status=%s", pid, result.status)
        with contextlib.suppress(Exception):
            await mark_unknown(maker, pid, "not recorded")
        return PaymentOutcome(payment_id=pid, status="unknown", amount_cents=result.amount_cents)


async def record_result(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    payment_id: int,
    result: ChargeResult,
    company: str = "",
) -> PaymentOutcome:
    """What the processor said about a charge, applied once: success, refusal, or still
    waiting (3-D Secure, processing)."""
    if result.status == "succeeded":
        return await apply_success(maker, gateway, clock, payment_id, result, company=company)
    if result.status == "failed":
        await fail(
            maker, clock, payment_id,
            code="authentication_failed", message=NOT_CONFIRMED, declined=True,
        )  # fmt: skip
        return PaymentOutcome(
            payment_id=payment_id,
            status="failed",
            amount_cents=result.amount_cents,
            failure_message=NOT_CONFIRMED,
        )
    async with maker() as s:
        await s.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status).in_(outcomes.UNRESOLVED))
            .values(processor_ref=result.processor_ref, status="pending")
        )
        await s.commit()
    return PaymentOutcome(
        payment_id=payment_id,
        status=result.status,
        amount_cents=result.amount_cents,
        client_secret=result.client_secret,
    )


async def mark_unknown(maker: async_sessionmaker[AsyncSession], payment_id: int, why: str) -> None:
    async with maker() as s:
        await s.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == "pending")
            .values(status="unknown", failure_code=why[:40])
        )
        await s.commit()
    log.warning("payment_id=%s event=outcome_unknown why=%s", payment_id, why.replace(" ", "_"))


async def _release(s: AsyncSession, payment: Payment) -> None:
    """Let the account (and the link) take another payment, if this one held them."""
    await s.execute(
        update(Client)
        .where(col(Client.id) == payment.client_id, col(Client.payment_in_flight) == payment.id)
        .values(payment_in_flight=None)
    )


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
    await record_result(maker, gateway, clock, payment_id, result, company=company)
    return result


# A payment's client never changes: what this process claimed it knows without asking again
# (one read transaction less for every charge). Bounded; others are read from the database.
_CLIENT_OF: OrderedDict[int, int] = OrderedDict()


def _remember_client(payment_id: int, client_id: int) -> None:
    _CLIENT_OF[payment_id] = client_id
    while len(_CLIENT_OF) > 10_000:
        _CLIENT_OF.popitem(last=False)


async def _client_of(maker: async_sessionmaker[AsyncSession], payment_id: int) -> int:
    known = _CLIENT_OF.get(payment_id)
    if known is not None:
        return known
    async with maker() as s:
        payment = await s.get(Payment, payment_id)
        if payment is None:
            raise LookupError(f"payment {payment_id} not found")
        return payment.client_id


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
    async with locked_account(maker, await _client_of(maker, payment_id)) as s:
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        was = payment.status
        if was not in outcomes.UNRESOLVED:
            return False
        payment.status = "failed"
        payment.failure_code = code[:40]
        payment.failure_message = message[:200]
        payment.completed_at = now
        brand, last4 = card  # the refused card, named in the ledger ("Visa ending 0002")
        payment.card_brand = payment.card_brand or brand
        payment.card_last4 = payment.card_last4 or last4
        s.add(payment)
        await _release(s, payment)
        if payment.link_id is not None:
            link = await s.get(PaymentLink, payment.link_id)
            assert link is not None
            if link.claim_payment_id == payment_id:
                link.claim_payment_id = None
                link.decline_count += 1 if declined else 0
                if link.decline_count >= MAX_DECLINES:
                    link.status = "locked"
                s.add(link)
        if company and was == "unknown":
            await text_payer(
                s, payment, "not_charged", now, company=company, amount=payment.amount_cents
            )
        audit.record(
            s,
            at=now,
            actor_type="system",
            actor_id=None,
            client_id=payment.client_id,
            action="payment.failed",
            payment_id=payment_id,
            channel=payment.channel,
            code=code,
        )
        await s.commit()
    log.info("payment_id=%s event=failed code=%s", payment_id, code)
    return True


async def text_payer(
    s: AsyncSession, payment: Payment, template: str, now: datetime, **context: Any
) -> None:
    """Text whoever is paying, in the client's language: the number the link went to, else the
    client's own phone; never a number that opted out."""
    to = None
    if payment.link_id is not None:
        link = await s.get(PaymentLink, payment.link_id)
        to = link.phone_e164 if link else None
    if to is None:
        client = await s.get(Client, payment.client_id)
        to = client.phone_e164 if client else None
    if to is None or await sms.number_opted_out(s, to):
        return
    vehicle = await s.get(Vehicle, payment.vehicle_id) if payment.vehicle_id else None
    sms.queue(
        s,
        to_e164=to,
        body=texts.render_text(
            template,
            await texts.recipient(s, payment.client_id),
            vehicle=vehicle.label if vehicle else "",
            **context,
        ),
        kind=template,
        now=now,
        client_id=payment.client_id,
        link_id=payment.link_id,
    )


async def apply_success(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    payment_id: int,
    result: ChargeResult,
    company: str = "",
) -> PaymentOutcome:
    """Apply a succeeded charge under the account lock, whatever the local status (pending,
    unknown, or failed after a race): the processor's word is the truth. Safe to call twice:
    the second changes nothing. A success that no longer fits its snapshot is recorded and
    refunded in full."""
    from app.services import refunds  # refunds builds on this module

    now = clock.now()
    card: CardDetails | None = result.card
    async with locked_account(maker, await _client_of(maker, payment_id)) as s:
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        if payment.status in outcomes.SETTLED:  # already applied (a replay): change nothing
            return await outcome_of(s, payment)
        payment.status = "succeeded"
        payment.processor_ref = result.processor_ref
        payment.card_brand = card.brand if card else payment.card_brand
        payment.card_last4 = card.last4 if card else payment.card_last4
        payment.card_wallet = card.wallet if card else payment.card_wallet
        payment.failure_code = payment.failure_message = None
        payment.completed_at = now
        summary = InvoiceSummary.from_json(payment.summary_json)
        current = await current_basis(s, client_id=payment.client_id, vehicle_id=summary.vehicle_id)
        try:
            plan = plan_application(summary, current)  # the domain decides
        except SnapshotNoLongerFits:
            refund_id = await refunds.open_conflict_refund(s, payment, now)
            await _release(s, payment)
            await s.commit()
            log.error("payment_id=%s event=success_no_longer_fits refund=full", payment_id)
            await refunds.execute(maker, gateway, clock, refund_id, company=company)
            async with maker() as s2:
                fresh = await s2.get(Payment, payment_id)
                assert fresh is not None
                return await outcome_of(s2, fresh)
        due = {i.id: i.total_cents for i in await open_invoices(s, payment.client_id)}
        settled: list[tuple[Invoice, int]] = []
        for invoice_id in plan.settle_invoice_ids:
            invoice = await s.get(Invoice, invoice_id)
            assert invoice is not None and invoice.status == "open"
            invoice.status, invoice.paid_at = "paid", now
            s.add(invoice)
            settled.append((invoice, due[invoice_id]))
        allocations = list(settled)
        if plan.period is not None:  # a new period bought (not the past due only)
            await s.execute(
                update(Vehicle)
                .where(col(Vehicle.id) == summary.vehicle_id)
                .values(paid_through=plan.period.end)
            )
            monitoring = await add_invoice(
                s,
                client_id=payment.client_id,
                vehicle_id=summary.vehicle_id,
                kind="monitoring",
                description=plan.monitoring_description,
                amount_cents=plan.monitoring_amount_cents,
                tax_cents=plan.monitoring_tax_cents,
                due_date=plan.period.start,
                status="paid",
                period_start=plan.period.start,
                period_end=plan.period.end,
                created_at=now,
                paid_at=now,
                created_by_staff_id=payment.staff_id,
            )
            allocations.append((monitoring, monitoring.total_cents))
        for invoice, cents in allocations:
            assert invoice.id is not None
            s.add(
                PaymentAllocation(payment_id=payment_id, invoice_id=invoice.id, amount_cents=cents)
            )
        # The receipt's invoice: the period bought, else the oldest past due invoice paid.
        receipt_invoice = allocations[-1][0] if plan.period is not None else allocations[0][0]
        payment.invoice_id = receipt_invoice.id
        s.add(payment)
        await _release(s, payment)
        if payment.link_id is not None:
            await s.execute(
                update(PaymentLink)
                .where(col(PaymentLink.id) == payment.link_id)
                .values(status="paid", paid_at=now, payment_id=payment_id, claim_payment_id=None)
            )
        # The receipt, for every channel: to the number that got the link, else the client's.
        if company:
            await text_payer(
                s,
                payment,
                "receipt",
                now,
                company=company,
                amount=payment.amount_cents,
                brand=payment.card_brand or "card",
                last4=payment.card_last4 or "----",
                invoice=receipt_invoice.number,
            )
        audit.record(
            s,
            at=now,
            actor_type="system",
            actor_id=None,
            client_id=payment.client_id,
            action="payment.succeeded",
            payment_id=payment_id,
            channel=payment.channel,
            amount_cents=payment.amount_cents,
            invoice=receipt_invoice.number,
            settled=[i.number for i, _ in settled],
        )
        await s.commit()
        outcome = await outcome_of(s, payment)
    log.info("payment_id=%s event=succeeded invoice_id=%s", payment_id, receipt_invoice.id)
    return outcome


async def _link_expiry(
    maker: async_sessionmaker[AsyncSession], payment: Payment
) -> datetime | None:
    if payment.link_id is None:
        return None
    async with maker() as s:
        link = await s.get(PaymentLink, payment.link_id)
        return link.expires_at if link else None


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
    if payment is None or payment.status not in outcomes.UNRESOLVED:
        return "final"
    now = clock.now()
    try:
        if payment.processor_ref:
            result: ChargeResult | None = await gateway.retrieve(payment.processor_ref)
        else:
            result = await gateway.lookup(
                idempotency_key=payment.idempotency_key, payment_id=payment_id
            )
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
        deadline = payment.created_at + CHALLENGE_TIMEOUT
        expiry = await _link_expiry(maker, payment)
        if expiry is not None:
            deadline = min(deadline, expiry)
        if now < deadline:
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
    outcome = await record_result(maker, gateway, clock, payment_id, result, company=company)
    return "applied" if outcome.status in outcomes.SETTLED else outcome.status
