"""Charging a summary snapshot, exactly once, on every channel (link, staff, portal, AutoPay).

1. One transaction writes the pending payment (with its idempotency key), claims the account
   (and the link, if any) with conditional updates, and re-checks the snapshot's basis.
2. The processor is called outside any transaction, with the payment's idempotency key.
3. A new transaction applies the result. Applying is idempotent: a replayed webhook or a second
   caller finds the payment no longer pending and changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails, ChargeResult, PaymentGateway
from app.clock import Clock
from app.domain.errors import CardDeclined, DomainError, GatewayError, StaleSummary
from app.domain.links import LIVE_STATUSES, MAX_DECLINES
from app.domain.summary import InvoiceSummary
from app.services import audit, sms, texts
from app.services.summary import current_basis
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
CLAIM_TIMEOUT = timedelta(minutes=5)


class PaymentInProgress(DomainError):
    message = (
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
    actor_id: int | None = None
    customer: str | None = None
    off_session: bool = False
    staff_id: int | None = None
    link_id: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    payment_id: int
    status: str  # succeeded | pending | failed | requires_action
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


async def charge(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    req: ChargeRequest,
    company: str = "",
) -> PaymentOutcome:
    """Charge `req.summary.total_cents` once. Raises StaleSummary, PaymentInProgress,
    LinkNotPayable, CardDeclined or GatewayError; on those, nothing was charged."""
    now = clock.now()
    key = req.idempotency_key or f"mp_{secrets.token_hex(16)}"
    async with maker() as s:
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
            created_at=now,
        )
        s.add(payment)
        try:
            await s.flush()  # the first write takes SQLite's write lock for the whole claim
        except Exception:
            await s.rollback()
            existing = (
                await s.execute(select(Payment).where(col(Payment.idempotency_key) == key))
            ).scalar_one_or_none()
            if existing is not None:  # a retry of the same request: report the first one
                return dataclasses.replace(await outcome_of(s, existing), replayed=True)
            raise
        pid = payment.id
        assert pid is not None
        claimed = await s.execute(
            update(Client)
            .where(
                col(Client.id) == req.client_id,
                or_(
                    col(Client.payment_in_flight).is_(None),
                    col(Client.payment_in_flight_at) < now - CLAIM_TIMEOUT,
                ),
            )
            .values(payment_in_flight=pid, payment_in_flight_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await s.rollback()
            raise PaymentInProgress()
        if req.link_id is not None:
            link_claim = await s.execute(
                update(PaymentLink)
                .where(
                    col(PaymentLink.id) == req.link_id,
                    col(PaymentLink.status).in_(LIVE_STATUSES),
                    col(PaymentLink.expires_at) > now,
                    col(PaymentLink.claim_payment_id).is_(None),
                )
                .values(claim_payment_id=pid)
            )
            if link_claim.rowcount != 1:  # type: ignore[attr-defined]
                link = await s.get(PaymentLink, req.link_id)
                status = (
                    "expired" if link and link.expires_at <= now else (link.status if link else "")
                )
                await s.rollback()  # expires `link`: read it first
                raise LinkNotPayable(status if status not in LIVE_STATUSES else "busy")
        basis = await current_basis(s, client_id=req.client_id, vehicle_id=req.summary.vehicle_id)
        if basis != req.summary.basis:
            await s.rollback()
            raise StaleSummary()
        await s.commit()

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
        await fail(maker, clock, pid, code=exc.code, message=exc.message, declined=True)
        raise
    except GatewayError as exc:
        await fail(maker, clock, pid, code="gateway_error", message=exc.message)
        raise
    except Exception:
        await fail(maker, clock, pid, code="error", message="Unexpected error")
        raise
    if result.status == "succeeded":
        return await apply_success(maker, clock, pid, result, company=company)
    async with maker() as s:
        await s.execute(
            update(Payment).where(col(Payment.id) == pid).values(processor_ref=result.processor_ref)
        )
        await s.commit()
    return PaymentOutcome(
        payment_id=pid,
        status=result.status,
        amount_cents=req.summary.total_cents,
        client_secret=result.client_secret,
    )


async def _release(s: AsyncSession, payment: Payment) -> None:
    await s.execute(
        update(Client)
        .where(col(Client.id) == payment.client_id, col(Client.payment_in_flight) == payment.id)
        .values(payment_in_flight=None, payment_in_flight_at=None)
    )


NOT_CONFIRMED = "Your bank did not confirm the payment. Try again or use another card."


async def settle_from_processor(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    payment_id: int,
    processor_ref: str,
    company: str = "",
) -> ChargeResult:
    """After 3-D Secure in the browser: ask the processor, then apply a success or record the
    bank's refusal. A charge still `processing` or `requires_action` stays pending (a webhook or
    the browser finishes it). Safe to call again: both outcomes apply once."""
    result = await gateway.retrieve(processor_ref)
    if result.status == "succeeded":
        await apply_success(maker, clock, payment_id, result, company=company)
    elif result.status == "failed":
        await fail(
            maker, clock, payment_id,
            code="authentication_failed", message=NOT_CONFIRMED, declined=True,
        )  # fmt: skip
    return result


async def fail(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    payment_id: int,
    *,
    code: str,
    message: str,
    declined: bool = False,
) -> None:
    """Mark a pending payment failed, release the account, count a link's declines."""
    now = clock.now()
    async with maker() as s:
        done = await s.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == "pending")
            .values(status="failed", failure_code=code, failure_message=message, completed_at=now)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            await s.rollback()
            return
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        await _release(s, payment)
        if payment.link_id is not None:
            link = await s.get(PaymentLink, payment.link_id)
            assert link is not None
            declines = link.decline_count + (1 if declined else 0)
            values: dict[str, object] = {"claim_payment_id": None, "decline_count": declines}
            if declines >= MAX_DECLINES:
                values["status"] = "locked"
            await s.execute(
                update(PaymentLink)
                .where(
                    col(PaymentLink.id) == link.id,
                    col(PaymentLink.claim_payment_id) == payment_id,
                )
                .values(**values)
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


async def apply_success(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    payment_id: int,
    result: ChargeResult,
    company: str = "",
) -> PaymentOutcome:
    """Apply a succeeded charge in one transaction. Safe to call twice: the second does nothing."""
    now = clock.now()
    card: CardDetails | None = result.card
    async with maker() as s:
        done = await s.execute(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == "pending")
            .values(
                status="succeeded",
                processor_ref=result.processor_ref,
                card_brand=card.brand if card else None,
                card_last4=card.last4 if card else None,
                completed_at=now,
            )
        )
        payment = await s.get(Payment, payment_id)
        if payment is None:
            raise LookupError(f"payment {payment_id} not found")
        if done.rowcount != 1:  # type: ignore[attr-defined]
            await s.rollback()  # already applied (a replay) or failed: change nothing
            await s.refresh(payment)
            return await outcome_of(s, payment)
        summary = InvoiceSummary.from_json(payment.summary_json)
        settled: list[Invoice] = []
        for invoice_id in summary.basis.invoice_ids:
            paid = await s.execute(
                update(Invoice)
                .where(col(Invoice.id) == invoice_id, col(Invoice.status) == "open")
                .values(status="paid", paid_at=now)
            )
            invoice = await s.get(Invoice, invoice_id)
            if paid.rowcount == 1 and invoice is not None:  # type: ignore[attr-defined]
                settled.append(invoice)
            else:
                log.error(
                    "payment_id=%s invoice_id=%s event=settle_conflict", payment_id, invoice_id
                )
        moved = await s.execute(
            update(Vehicle)
            .where(
                col(Vehicle.id) == summary.vehicle_id,
                col(Vehicle.paid_through) == summary.basis.paid_through,
            )
            .values(paid_through=summary.period.end)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            log.error("payment_id=%s event=paid_through_conflict", payment_id)
        monitoring = await add_invoice(
            s,
            client_id=payment.client_id,
            vehicle_id=summary.vehicle_id,
            kind="monitoring",
            description=summary.lines_label_monitoring,
            amount_cents=summary.monitoring_cents,
            tax_cents=summary.tax_cents,
            due_date=summary.period.start,
            status="paid",
            period_start=summary.period.start,
            period_end=summary.period.end,
            created_at=now,
            paid_at=now,
            created_by_staff_id=payment.staff_id,
        )
        assert monitoring.id is not None
        for invoice in [*settled, monitoring]:
            assert invoice.id is not None
            s.add(
                PaymentAllocation(
                    payment_id=payment_id, invoice_id=invoice.id, amount_cents=invoice.total_cents
                )
            )
        payment.invoice_id = monitoring.id
        s.add(payment)
        await _release(s, payment)
        if payment.link_id is not None:
            await s.execute(
                update(PaymentLink)
                .where(col(PaymentLink.id) == payment.link_id)
                .values(status="paid", paid_at=now, payment_id=payment_id)
            )
            link = await s.get(PaymentLink, payment.link_id)
            # The receipt goes to the number that got the link, unless it has opted out.
            if link is not None and company and not await sms.number_opted_out(s, link.phone_e164):
                sms.queue(
                    s,
                    to_e164=link.phone_e164,
                    body=texts.render_text(
                        "receipt",
                        company=company,
                        amount=payment.amount_cents,
                        brand=payment.card_brand or "card",
                        last4=payment.card_last4 or "----",
                        invoice=monitoring.number,
                    ),
                    kind="receipt",
                    now=now,
                    client_id=payment.client_id,
                    link_id=payment.link_id,
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
            invoice=monitoring.number,
            settled=[i.number for i in settled],
        )
        await s.commit()
        outcome = await outcome_of(s, payment)
    log.info("payment_id=%s event=succeeded invoice_id=%s", payment_id, monitoring.id)
    return outcome
