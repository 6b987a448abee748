"""Where a payment is applied: a succeeded charge, under the account lock, whatever the local
status (pending, unknown, or failed after a race): the processor's word is the truth. The domain
decides what it changes (`plan_application`); a success that no longer fits its snapshot, or
whose amount is not the payment's, is a misfit: recorded, refunded in full and shown to staff,
never kept silently. Safe to call twice: the second call changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import ChargeResult
from app.domain.payment_states import PAYMENTS
from app.domain.summary import (
    ApplicationPlan,
    InvoiceSummary,
    SnapshotNoLongerFits,
    plan_application,
)
from app.formatting import money
from app.services import audit
from app.services.payments import refunds, status
from app.services.payments.claim import account_of, release, release_link
from app.services.payments.context import PaymentContext
from app.services.payments.outcome import PaymentOutcome, outcome_of
from app.services.payments.payer_texts import text_about_card
from app.services.summary import current_basis, open_invoices
from app.store.locks import locked_account
from app.store.models import Invoice, Payment, PaymentAllocation, PaymentLink, Vehicle
from app.store.repo import add_invoice

log = logging.getLogger("monitorpay.payments")


def _succeed(payment: Payment, result: ChargeResult, now: datetime) -> None:
    """The processor charged: the payment says so, with the card it charged."""
    card = result.card
    status.set_payment(payment, "succeeded")
    payment.processor_ref = result.processor_ref
    payment.card_brand = card.brand if card else payment.card_brand
    payment.card_last4 = card.last4 if card else payment.card_last4
    payment.card_wallet = card.wallet if card else payment.card_wallet
    payment.failure_code = payment.failure_message = None
    payment.completed_at = now


async def _outcome(maker: async_sessionmaker[AsyncSession], payment_id: int) -> PaymentOutcome:
    async with maker() as s:
        fresh = await s.get(Payment, payment_id)
        assert fresh is not None
        return await outcome_of(s, fresh)


async def apply_success(
    ctx: PaymentContext, payment_id: int, result: ChargeResult, *, amount_mismatch: bool = False
) -> PaymentOutcome:
    """Apply a succeeded charge once. A success that no longer fits its snapshot is recorded
    and refunded in full; so is one the processor says took another amount than the payment's
    (`amount_mismatch`: refund_amount_mismatch). A replay changes nothing."""
    now = ctx.clock.now()
    async with locked_account(ctx.maker, await account_of(ctx.maker, payment_id)) as s:
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        if not PAYMENTS.allows(payment.status, "succeeded"):  # applied already: a replay
            return await outcome_of(s, payment)
        settle = _refund_other_amount if amount_mismatch else _apply_or_refund
        settled = await settle(s, payment, result, now, ctx.company)
        if isinstance(settled, PaymentOutcome):
            return settled
    await refunds.execute(ctx.maker, ctx.gateway, ctx.clock, settled, company=ctx.company)
    return await _outcome(ctx.maker, payment_id)


# The processor says it charged `result.amount_cents`, not the payment's amount: nothing is
# applied; the charge is recorded as what it took and refunded in full, with a note staff see in
# Account History and an audit event. A replay changes nothing.
refund_amount_mismatch = partial(apply_success, amount_mismatch=True)


async def _apply_or_refund(
    s: AsyncSession, payment: Payment, result: ChargeResult, now: datetime, company: str
) -> PaymentOutcome | int:
    """Inside the account lock: the payment succeeded; apply it as the domain plans, or, when
    the summary no longer fits, open its full refund (its id). Commits."""
    _succeed(payment, result, now)
    summary = InvoiceSummary.from_json(payment.summary_json)
    current = await current_basis(s, payment.client_id, summary)  # every open invoice
    try:
        plan = plan_application(summary, current)  # the domain decides
    except SnapshotNoLongerFits:
        refund_id = await _refund_misfit(s, payment, now, refunds.CONFLICT_REASON)
        log.error("payment_id=%s event=success_no_longer_fits refund=full", payment.id)
        return refund_id
    receipt, settled = await _apply_plan(s, payment, summary, plan, now)
    await _announce(s, payment, receipt, settled, now, company)
    await s.commit()
    outcome = await outcome_of(s, payment)
    log.info("payment_id=%s event=succeeded invoice_id=%s", payment.id, receipt.id)
    return outcome


async def _refund_other_amount(
    s: AsyncSession, payment: Payment, result: ChargeResult, now: datetime, company: str
) -> int:
    """Inside the account lock: the charge took another amount; record what it took and open
    its full refund (its id). Commits."""
    expected = payment.amount_cents
    _succeed(payment, result, now)
    payment.amount_cents = result.amount_cents  # what moved: the books hold what it took
    note = (
        f"The processor charged {money(result.amount_cents)}, not the {money(expected)} "
        "this payment was for, so it was refunded in full."
    )
    audit.payment_amount_mismatch(
        s, at=now, payment=payment, expected_cents=expected, charged_cents=result.amount_cents
    )
    refund_id = await _refund_misfit(s, payment, now, note, refunds.MISMATCH)
    log.error("payment_id=%s event=webhook_amount_mismatch refund=full", payment.id)
    return refund_id


async def _refund_misfit(
    s: AsyncSession, payment: Payment, now: datetime, reason: str, kind: str = refunds.CONFLICT
) -> int:
    """Inside the account lock: a success that is not applied is refunded in full (`reason`
    is the note staff read); the account and the link are released. Commits."""
    refund_id = await refunds.open_conflict_refund(s, payment, now, reason, kind)
    await release(s, payment)
    await release_link(s, payment)
    await s.commit()
    return refund_id


async def _apply_plan(
    s: AsyncSession, payment: Payment, summary: InvoiceSummary, plan: ApplicationPlan, now: datetime
) -> tuple[Invoice, list[str]]:
    """Write what the plan says (invoices paid, the period bought, the allocations, the link
    paid). Returns the receipt's invoice and the numbers of the open invoices it settled."""
    assert payment.id is not None
    due = {i.id: i.total_cents for i in await open_invoices(s, payment.client_id)}
    allocations: list[tuple[Invoice, int]] = []
    for invoice_id in plan.settle_invoice_ids:
        invoice = await s.get(Invoice, invoice_id)
        assert invoice is not None and invoice.status == "open"
        invoice.status, invoice.paid_at = "paid", now
        s.add(invoice)
        allocations.append((invoice, due[invoice_id]))
    settled = [i.number for i, _ in allocations]
    receipt = next((i for i, _ in allocations if i.id == plan.receipt_invoice_id), None)
    if plan.period is not None:  # a new period bought (not the past due only)
        receipt = await _buy_period(s, payment, summary, plan, now)
        allocations.append((receipt, receipt.total_cents))
    for invoice, cents in allocations:
        assert invoice.id is not None
        s.add(PaymentAllocation(payment_id=payment.id, invoice_id=invoice.id, amount_cents=cents))
    assert receipt is not None
    payment.invoice_id = receipt.id
    s.add(payment)
    await release(s, payment)
    if payment.link_id is not None:
        await s.execute(
            update(PaymentLink)
            .where(col(PaymentLink.id) == payment.link_id)
            .values(status="paid", paid_at=now, payment_id=payment.id, claim_payment_id=None)
        )
    return receipt, settled


async def _buy_period(
    s: AsyncSession, payment: Payment, summary: InvoiceSummary, plan: ApplicationPlan, now: datetime
) -> Invoice:
    """The vehicle's paid-through moves to the period's end; its monitoring invoice, paid."""
    assert plan.period is not None
    await s.execute(
        update(Vehicle)
        .where(col(Vehicle.id) == summary.vehicle_id)
        .values(paid_through=plan.period.end)
    )
    return await add_invoice(
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


async def _announce(
    s: AsyncSession,
    payment: Payment,
    receipt: Invoice,
    settled: list[str],
    now: datetime,
    company: str,
) -> None:
    """The receipt, for every channel (to the number that got the link, else the client's),
    and the audit event."""
    await text_about_card(
        s,
        payment,
        "receipt",
        now,
        company=company,
        amount=payment.amount_cents,
        invoice=receipt.number,
    )
    audit.payment_succeeded(s, at=now, payment=payment, invoice=receipt.number, settled=settled)
