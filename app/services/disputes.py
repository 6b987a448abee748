"""Disputes: what the processor's dispute events write, what supervisors see, and the
sandbox's stand-in for a card's bank.

- `record`: one event's facts, under the account lock: the dispute is written when the domain
  says the event moves it (`takes`: late, repeated and out-of-order events never move a closed
  dispute back), and a dispute that becomes lost gives its money back through the payment core
  (`payments.disputes.reverse`).
- `needing_response`: the supervisors' list, soonest evidence due first.
- `Badge`: a payment's dispute as Account History shows it (the ledger's query reads it).
- `sandbox_decide`: a supervisor makes a sandbox dispute lost or won (its event is delivered
  by services/sandbox_events.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.clock import Clock
from app.domain import disputes as rules
from app.domain.errors import DomainError
from app.domain.views import view_of
from app.services import audit
from app.services.payments import disputes as money
from app.store.locks import locked_account
from app.store.models import Client, Dispute, Location, Payment, StaffUser

log = logging.getLogger("monitorpay.disputes")
DISPUTE_ROLES = ("supervisor", "admin")


class DisputesNotAllowed(DomainError):
    message = "Disputes are for supervisors and admins. Ask a supervisor."


class DisputeNotFound(DomainError):
    message = "That dispute was not found."


def can_see(staff: StaffUser) -> bool:
    return staff.role in DISPUTE_ROLES


# -- the processor's events ----------------------------------------------------------------


async def payment_for(maker: async_sessionmaker[AsyncSession], payment_ref: str) -> Payment | None:
    """Our payment for the processor's payment reference (PaymentIntent id)."""
    async with maker() as s:
        found = await s.execute(
            select(Payment).where(col(Payment.processor_ref) == payment_ref).limit(1)
        )
        return found.scalars().first()


async def record(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    payment: Payment,
    facts: rules.DisputeFacts,
    event_at: datetime,
) -> str:
    """Write what one event says. Returns opened | updated | lost | won | closed | stale."""
    now = clock.now()
    async with locked_account(maker, payment.client_id) as s:
        row = (
            await s.execute(select(Dispute).where(col(Dispute.processor_ref) == facts.ref))
        ).scalar_one_or_none()
        was = row.status if row is not None else None
        if not rules.takes(was, row.event_at if row else None, facts.status, event_at):
            return "stale"
        row = _written(row, payment, facts, event_at, now)
        s.add(row)
        await s.flush()
        if rules.reverses(was, facts.status):
            held = await s.get(Payment, payment.id)
            assert held is not None
            await money.reverse(s, held, row, now)
        write = audit.payment_disputed if was is None else audit.payment_dispute_updated
        write(s, at=now, payment=payment, dispute=row)
        await s.commit()
    done = _outcome(was, facts.status)
    log.info("payment_id=%s dispute=%s event=dispute_%s", payment.id, facts.ref, done)
    return done


def _written(
    row: Dispute | None,
    payment: Payment,
    facts: rules.DisputeFacts,
    event_at: datetime,
    now: datetime,
) -> Dispute:
    row = row or Dispute(
        processor_ref=facts.ref,
        payment_id=payment.id or 0,
        client_id=payment.client_id,
        amount_cents=facts.amount_cents,
        reason=facts.reason[:40],
        status=facts.status,
        opened_at=facts.opened_at,
        event_at=event_at,
        updated_at=now,
    )
    row.charge_ref = facts.charge_ref
    row.amount_cents = facts.amount_cents
    row.reason = facts.reason[:40]
    row.status = facts.status
    row.evidence_due_by = facts.evidence_due_by
    row.livemode = facts.livemode
    row.opened_at = facts.opened_at
    row.event_at = event_at
    row.updated_at = now
    if not rules.is_open(facts.status) and row.closed_at is None:
        row.closed_at = event_at
    return row


def _outcome(was: str | None, now: str) -> str:
    if now in ("lost", "won"):
        return now
    if not rules.is_open(now):
        return "closed"
    return "opened" if was is None else "updated"


# -- what staff see ------------------------------------------------------------------------


class _Status:
    """What a dispute's status says, in words and for the page's choices (`status` is the
    processor's)."""

    status: str

    @property
    def status_text(self) -> str:
        return rules.status_text(self.status)

    @property
    def is_open(self) -> bool:
        return rules.is_open(self.status)

    @property
    def needs_response(self) -> bool:
        return rules.needs_response(self.status)


@dataclass(frozen=True)
class DisputeRow(_Status):
    """One dispute as a page shows it."""

    id: int
    ref: str
    payment_id: int
    client_id: int
    client_name: str
    account_number: str
    amount_cents: int
    payment_cents: int
    reason: str
    status: str
    evidence_due_by: datetime | None
    opened_at: datetime
    livemode: bool
    timezone: str  # the client's location's: dates are shown in it

    @property
    def reason_text(self) -> str:
        return rules.reason_text(self.reason)

    @property
    def dashboard_url(self) -> str:
        return rules.dashboard_url(self.ref, self.livemode)


def _row(d: Dispute, client: Client, payment_cents: int, tz: str) -> DisputeRow:
    return view_of(
        DisputeRow,
        d,
        id=d.id or 0,
        ref=d.processor_ref,
        client_name=client.name,
        account_number=client.account_number,
        payment_cents=payment_cents,
        timezone=tz,
    )


def _listed() -> Any:
    return (
        select(Dispute, Client, col(Payment.amount_cents), col(Location.timezone))
        .join(Client, col(Client.id) == col(Dispute.client_id))
        .join(Location, col(Location.id) == col(Client.location_id))
        .join(Payment, col(Payment.id) == col(Dispute.payment_id))
    )


async def needing_response(session: AsyncSession, limit: int = 200) -> list[DisputeRow]:
    """Disputes whose evidence is due, the soonest first (no due date last)."""
    rows = await session.execute(
        _listed()
        .where(col(Dispute.status).in_(rules.NEEDS_RESPONSE))
        .order_by(
            col(Dispute.evidence_due_by).is_(None),
            col(Dispute.evidence_due_by),
            col(Dispute.id),
        )
        .limit(limit)
    )
    return [_row(d, c, int(cents), tz) for d, c, cents, tz in rows.all()]


async def recent(session: AsyncSession, limit: int = 50) -> list[DisputeRow]:
    """Every other dispute (under review or closed), the newest first."""
    rows = await session.execute(
        _listed()
        .where(col(Dispute.status).not_in(rules.NEEDS_RESPONSE))
        .order_by(col(Dispute.updated_at).desc(), col(Dispute.id).desc())
        .limit(limit)
    )
    return [_row(d, c, int(cents), tz) for d, c, cents, tz in rows.all()]


@dataclass(frozen=True)
class Badge(_Status):
    """A payment's dispute as its row in Account History shows it."""

    status: str

    @property
    def lost(self) -> bool:
        return self.status == rules.LOST


# -- the sandbox ---------------------------------------------------------------------------


async def sandbox_decide(
    maker: async_sessionmaker[AsyncSession],
    gateway: Any,
    *,
    staff: StaffUser,
    dispute_id: int,
    outcome: str,
) -> str:
    """A supervisor plays the card's bank: the sandbox closes its dispute as `outcome` (lost or
    won); its event is delivered after (services/sandbox_events.py). DisputeNotFound when the
    dispute is not the sandbox's or is closed already."""
    if not can_see(staff):
        raise DisputesNotAllowed()
    if outcome not in ("lost", "won"):
        raise DomainError("Choose lost or won.")
    decide = getattr(gateway, "close_dispute", None)
    async with maker() as s:
        row = await s.get(Dispute, dispute_id)
    if decide is None or row is None or not rules.is_open(row.status):
        raise DisputeNotFound()
    if not decide(row.processor_ref, outcome):
        raise DisputeNotFound()
    log.info(
        "dispute=%s staff_id=%s event=sandbox_dispute_%s", row.processor_ref, staff.id, outcome
    )
    return outcome
