"""Refunds: by a supervisor from Account History, or at once for a success that no longer fits.

1. Under the account lock, a `pending` Refund row is written with its idempotency key (a double
   click finds the same row and refunds once).
2. The processor is asked to refund, outside any transaction, with that key. An answer lost on
   the way back leaves the refund pending; `reconcile` asks again with the same key.
3. Under the account lock the result is applied: the payment's refunded total and status; for a
   supervisor's refund the invoices it settled reopen in proportion (a full refund reopens them
   and moves the vehicle's paid-through date back when no later period was paid); an audit
   event; a text to the payer (opt-out respected).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain.errors import DomainError, GatewayError, GatewayUnavailable, OutcomeUnknown
from app.domain.payment_states import REFUNDS, SETTLED, after_refund
from app.domain.periods import Period
from app.domain.refunds import (
    RefundInvalid,
    Settled,
    check_refund,
    plan_reopen,
    refundable_cents,
)
from app.services import audit
from app.services.payments import status
from app.services.payments.payer_texts import text_about_card
from app.services.staff_request import StaffRequest, is_key
from app.services.summary import NotFound
from app.store.locks import locked_account
from app.store.models import Invoice, Payment, PaymentAllocation, Refund, Vehicle

log = logging.getLogger("monitorpay.refunds")
REFUND_ROLES = ("supervisor", "admin")
CONFLICT_REASON = (
    "This payment arrived after the same charges were already paid, so it was refunded in full."
)
# A misfit refund's kind: `conflict` (its snapshot no longer fits) or `mismatch` (the processor
# charged another amount); a supervisor's refund is `staff`. Only `staff` reopens invoices.
CONFLICT, MISMATCH = "conflict", "mismatch"


NOT_REFUNDED = (
    "We could not reach the payment processor. Nothing was refunded; try again in a minute."
)


class RefundNotAllowed(DomainError):
    message = "Only a supervisor can refund a payment."


async def pending_cents(s: AsyncSession, payment_id: int) -> int:
    return int(
        (
            await s.execute(
                select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
                    col(Refund.payment_id) == payment_id, col(Refund.status) == "pending"
                )
            )
        ).scalar_one()
    )


async def open_conflict_refund(
    s: AsyncSession,
    payment: Payment,
    now: datetime,
    reason: str = CONFLICT_REASON,
    kind: str = CONFLICT,
) -> int:
    """Inside the caller's locked transaction: refund in full a success that was not applied.
    `reason` is the note staff read in Account History."""
    refund = status.new_refund(
        payment,
        payment.amount_cents,
        now,
        kind=kind,
        reason=reason,
        key=f"refund_conflict_{payment.id}",
    )
    s.add(payment)
    refund_id = await _written(s, refund)
    audit.payment_refund_requested_by_system(s, at=now, refund=refund)
    return refund_id


async def _written(s: AsyncSession, refund: Refund) -> int:
    """A new refund row written in the caller's transaction; its id."""
    s.add(refund)
    await s.flush()
    assert refund.id is not None
    return refund.id


async def request(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    ask: StaffRequest,
    *,
    payment_id: int,
    amount_cents: int,
    reason: str,
) -> int:
    """A supervisor's refund, written as pending (RefundInvalid, RefundNotAllowed, NotFound)."""
    staff, client_id = ask.staff, ask.client_id
    if staff.role not in REFUND_ROLES:
        raise RefundNotAllowed()
    reason = " ".join(reason.split())[:200]
    if not reason:
        raise RefundInvalid("Say why the payment is refunded.", field="reason")
    if not is_key(ask.key):
        raise RefundInvalid("This form is out of date. Start the refund again.", field="form")
    now = clock.now()
    key = f"refund_{ask.key}"
    async with locked_account(maker, client_id) as s:
        earlier = (
            await s.execute(select(Refund).where(col(Refund.idempotency_key) == key))
        ).scalar_one_or_none()
        if earlier is not None and earlier.payment_id == payment_id:
            return earlier.id or 0  # a double click: the same refund
        payment = await s.get(Payment, payment_id)
        if payment is None or payment.client_id != client_id:
            raise NotFound("That payment was not found.")
        if payment.status not in SETTLED or not payment.processor_ref:
            raise RefundInvalid("Only a payment that went through can be refunded.")
        left = refundable_cents(
            payment.amount_cents, payment.refunded_cents, await pending_cents(s, payment_id)
        )
        check_refund(amount_cents, left)
        refund = status.new_refund(
            payment, amount_cents, now, kind="staff", reason=reason, key=key, staff_id=staff.id
        )
        refund_id = await _written(s, refund)
        audit.payment_refund_requested(s, at=now, staff=staff, refund=refund)
        await s.commit()
        return refund_id


async def execute(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    refund_id: int,
    company: str = "",
) -> str:
    """Ask the processor to refund a pending refund and apply the answer once. Returns the
    refund's status: succeeded | pending (answer lost, asked again later) | failed."""
    async with maker() as s:
        refund = await s.get(Refund, refund_id)
        assert refund is not None
        if refund.status != "pending":
            return refund.status
        payment = await s.get(Payment, refund.payment_id)
        assert payment is not None and payment.processor_ref
    try:
        result = await gateway.refund(
            processor_ref=payment.processor_ref,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
        )
    except OutcomeUnknown:
        log.warning("refund_id=%s event=refund_outcome_unknown", refund_id)
        return "pending"
    except GatewayError as exc:
        async with locked_account(maker, refund.client_id) as s:
            row = await s.get(Refund, refund_id)
            assert row is not None
            if REFUNDS.allows(row.status, "failed"):
                message = NOT_REFUNDED if isinstance(exc, GatewayUnavailable) else exc.message
                status.set_refund(row, "failed")
                row.failure_message = message[:200]
                row.completed_at = clock.now()
                s.add(row)
                audit.payment_refund_failed(s, at=clock.now(), refund=row)
                await s.commit()
        log.error("refund_id=%s event=refund_refused", refund_id)
        return "failed"
    await _apply(maker, clock, refund_id, result.refund_ref, company)
    return "succeeded"


async def _apply(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    refund_id: int,
    refund_ref: str,
    company: str,
) -> None:
    now = clock.now()
    async with maker() as s:
        refund = await s.get(Refund, refund_id)
        assert refund is not None
        client_id = refund.client_id
    async with locked_account(maker, client_id) as s:
        refund = await s.get(Refund, refund_id)
        assert refund is not None
        if not REFUNDS.allows(refund.status, "succeeded"):
            return  # applied already (a second caller)
        payment = await s.get(Payment, refund.payment_id)
        assert payment is not None
        status.set_refund(refund, "succeeded")
        refund.processor_ref, refund.completed_at = refund_ref, now
        payment.refunded_cents += refund.amount_cents
        status.set_payment(payment, after_refund(payment.amount_cents, payment.refunded_cents))
        s.add_all([refund, payment])
        reopened: list[str] = []
        if refund.kind == "staff":
            reopened = await _reopen(s, payment, refund.amount_cents, now)
        conflict = refund.kind == CONFLICT  # the text says why the payment was given back
        await text_about_card(
            s,
            payment,
            "refund",
            now,
            company=company,
            amount=refund.amount_cents,
            conflict=conflict,
        )
        audit.payment_refunded(s, at=now, refund=refund, reopened=reopened)
        await s.commit()
    log.info("refund_id=%s payment_id=%s event=refunded", refund_id, refund.payment_id)


async def _reopen(s: AsyncSession, payment: Payment, amount_cents: int, now: datetime) -> list[str]:
    """Load what the payment settled, ask the domain what the refund reopens (plan_reopen), and
    write it. Returns the numbers of the invoices it gave money back to."""
    held: dict[int, int] = defaultdict(int)
    for alloc in (
        await s.execute(
            select(PaymentAllocation).where(col(PaymentAllocation.payment_id) == payment.id)
        )
    ).scalars():
        held[alloc.invoice_id] += alloc.amount_cents
    invoices = {i: await s.get(Invoice, i) for i in sorted(held)}
    settled = [_settled(inv, held[i]) for i, inv in invoices.items() if inv is not None]
    vehicles = {v: await s.get(Vehicle, v) for v in {i.vehicle_id for i in settled} if v}
    plan = plan_reopen(
        settled, {v: car.paid_through for v, car in vehicles.items() if car}, amount_cents
    )
    for invoice_id, share in sorted(plan.shares.items()):
        s.add(
            PaymentAllocation(
                payment_id=payment.id or 0, invoice_id=invoice_id, amount_cents=-share
            )
        )
    for invoice_id in plan.reopened:
        invoice = invoices[invoice_id]
        assert invoice is not None
        invoice.status, invoice.paid_at = "open", None
        s.add(invoice)
    for invoice_id in plan.voided:
        invoice = invoices[invoice_id]
        assert invoice is not None
        invoice.status, invoice.voided_at = "void", now
        s.add(invoice)
    for vehicle_id, paid_through in plan.paid_through.items():
        car = vehicles[vehicle_id]
        assert car is not None
        car.paid_through = paid_through
        s.add(car)
    return [inv.number for i, inv in invoices.items() if inv is not None and i in plan.shares]


def _settled(invoice: Invoice, held_cents: int) -> Settled:
    period = (
        Period(invoice.period_start, invoice.period_end)
        if invoice.period_start is not None and invoice.period_end is not None
        else None
    )
    return Settled(invoice.id or 0, held_cents, invoice.kind, invoice.vehicle_id, period)


async def unfinished(maker: async_sessionmaker[AsyncSession]) -> list[int]:
    async with maker() as s:
        ids = await s.execute(select(col(Refund.id)).where(col(Refund.status) == "pending"))
        return [int(i) for i in ids.scalars() if i is not None]
