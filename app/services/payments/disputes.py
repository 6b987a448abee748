"""Where a lost dispute takes the money back: the processor already did (the card's bank took
it), so nothing is asked of the processor; the books are told the way a supervisor's full
refund tells them. A Refund of kind `dispute` is written straight as `succeeded` through the
transition table, the payment's refunded total and status move (`after_refund`), and the
invoices it settled reopen as `plan_reopen` decides (`refunds._reopen`, the same rule and the
same writes as a refund).

Why a refund row and not a payment status of its own: every reader of money already nets
refunds out of a payment (`amount − refunded_cents`: the allocation check, the processor's
ledger, reports' net, the ledger's balance, what is left to refund), so the books stay whole
with no reader changed; reports tell it apart from refunds by its kind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.disputes import reason_text, reversal_cents
from app.domain.payment_states import SETTLED, after_refund
from app.services import audit
from app.services.payments import status
from app.services.payments.refunds import _reopen as reopen
from app.services.payments.refunds import pending_cents
from app.store.models import Dispute, Payment

DISPUTE = "dispute"  # the Refund kind of a lost dispute


async def reverse(s: AsyncSession, payment: Payment, dispute: Dispute, now: datetime) -> int:
    """Inside the caller's locked transaction: give back what the lost `dispute` took of
    `payment`. Returns the cents given back (0: the payment held nothing more, or never
    settled)."""
    if payment.status not in SETTLED:
        return 0
    cents = reversal_cents(
        dispute.amount_cents,
        payment.amount_cents,
        payment.refunded_cents,
        await pending_cents(s, payment.id or 0),
    )
    if cents <= 0:
        return 0
    refund = status.new_refund(
        payment,
        cents,
        now,
        kind=DISPUTE,
        reason=f"Dispute lost: {reason_text(dispute.reason)}",
        key=f"dispute_{dispute.processor_ref}"[:80],
        processor_ref=dispute.processor_ref,
    )
    status.set_refund(refund, "succeeded")
    refund.completed_at = now
    payment.refunded_cents += cents
    status.set_payment(payment, after_refund(payment.amount_cents, payment.refunded_cents))
    s.add_all([refund, payment])
    await s.flush()
    dispute.refund_id = refund.id
    reopened = await reopen(s, payment, cents, now)
    audit.payment_refunded(s, at=now, refund=refund, reopened=reopened)
    return cents
