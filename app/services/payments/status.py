"""The one writer of payment and refund statuses: every change is checked against the domain's
transition table (`app/domain/payment_states.py`) before it is written. Nothing else assigns a
status: a new row starts in the table's start state; an in-memory row moves through
`set_payment` / `set_refund`; a conditional UPDATE moves only from the states the table allows,
and its row count says whether it won. A payment the processor did nothing with is taken back
(`discard_payment`), only as the domain's NOT_ATTEMPTED rule allows.

The Reports page's daily totals move in the same transaction (store/daily_totals.py): rows
written by a flush (`set_payment`, `set_refund`, new rows) are counted by the session's flush;
a conditional UPDATE that can change the figures reads and locks the row first, and adds the
difference itself. A payment taken back never counted (it is still in the start state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.payment_states import NOT_ATTEMPTED_FROM, PAYMENTS, REFUNDS
from app.store import daily_totals
from app.store.models import Payment, Refund


def new_payment(**fields: Any) -> Payment:
    return Payment(status=PAYMENTS.start, **fields)


def new_refund(
    payment: Payment, cents: int, now: datetime, *, kind: str, reason: str, key: str, **more: Any
) -> Refund:
    """A refund of `cents` of `payment`, made `now`, in the table's start state: `reason` is the
    note staff read (its first 200 characters), `key` its idempotency key."""
    return Refund(
        status=REFUNDS.start,
        payment_id=payment.id or 0,
        client_id=payment.client_id,
        amount_cents=cents,
        kind=kind,
        reason=reason[:200],
        idempotency_key=key,
        created_at=now,
        **more,
    )


def set_payment(payment: Payment, new: str) -> None:
    """Move a loaded payment (IllegalTransition when the table refuses)."""
    payment.status = PAYMENTS.transition(payment.status, new)


def set_refund(refund: Refund, new: str) -> None:
    refund.status = REFUNDS.transition(refund.status, new)


async def move_payment(s: AsyncSession, payment_id: int, new: str, **values: Any) -> bool:
    """`UPDATE payment SET status=new … WHERE status IN (every state new is legal from)`.
    False when the payment was in none of them (another writer got there first)."""
    sources = PAYMENTS.sources(new)
    before = None
    if daily_totals.payment_may_move(sources, new, values):
        before = await s.run_sync(daily_totals.locked_payment, payment_id)
    done = await s.execute(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.status).in_(sources))
        .values(status=new, **values)
    )
    moved = bool(done.rowcount == 1)  # type: ignore[attr-defined]
    if moved and before is not None:
        after = before | {"status": new} | values
        await s.run_sync(daily_totals.moved, before, after)
    return moved


async def discard_payment(s: AsyncSession, payment_id: int) -> bool:
    """Remove a payment the processor did nothing with (the domain's NOT_ATTEMPTED_FROM, and
    no processor reference yet): `DELETE … WHERE
    status IN NOT_ATTEMPTED_FROM AND processor_ref IS NULL`. False when it had moved on."""
    done = await s.execute(
        delete(Payment).where(
            col(Payment.id) == payment_id,
            col(Payment.status).in_(NOT_ATTEMPTED_FROM),
            col(Payment.processor_ref).is_(None),
        )
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]
