"""Where a payment is claimed: under the account lock, check the snapshot is still exactly what
was reviewed (the domain decides), then claim the account (and the link) and write the pending
payment with its idempotency key. The claim lasts until the payment is resolved (`release`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails
from app.domain.errors import DomainError
from app.domain.links import LIVE_STATUSES
from app.domain.summary import InvoiceSummary, ensure_current
from app.i18n import N_
from app.services.payments import status
from app.services.summary import current_basis
from app.store.models import Client, Payment, PaymentLink, StaffUser


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

    @classmethod
    def card_on_file(
        cls,
        client_id: int,
        summary: InvoiceSummary,
        payment_method: str,
        card: CardDetails,
        *,
        customer: str | None,
        key: str,
        staff: StaffUser | None = None,
    ) -> ChargeRequest:
        """A saved card charged without its holder present (off session): by `staff`, or else
        by AutoPay."""
        staff_id = staff.id if staff is not None else None
        return cls(
            client_id=client_id,
            summary=summary,
            channel="autopay" if staff is None else "staff_card_on_file",
            payment_method=payment_method,
            card=card,
            customer=customer,
            off_session=True,
            actor_type="system" if staff is None else "staff",
            actor_id=staff_id,
            staff_id=staff_id,
            idempotency_key=key,
        )


async def _check_link(s: AsyncSession, link_id: int, now: datetime) -> None:
    link = await s.get(PaymentLink, link_id)
    if link is None:
        raise LinkNotPayable("")
    if link.expires_at <= now:
        raise LinkNotPayable("expired")
    if link.status not in LIVE_STATUSES:
        raise LinkNotPayable(link.status)
    if link.claim_payment_id is not None:
        raise LinkNotPayable("busy")


def new_payment(req: ChargeRequest, key: str, now: datetime) -> Payment:
    """The payment row a request is recorded as, in the table's start state."""
    return status.new_payment(
        client_id=req.client_id,
        vehicle_id=req.summary.vehicle_id,
        amount_cents=req.summary.total_cents,
        channel=req.channel,
        idempotency_key=key,
        summary_json=req.summary.to_json(),
        link_id=req.link_id,
        staff_id=req.staff_id,
        card_brand=req.card.brand if req.card else None,
        card_last4=req.card.last4 if req.card else None,
        created_at=now,
    )


async def claim(s: AsyncSession, req: ChargeRequest, key: str, now: datetime) -> int:
    """Inside the account lock: refuse (StaleSummary, PaymentInProgress, LinkNotPayable) or
    write the pending payment and its claims. Returns the payment's id."""
    if req.link_id is not None:
        await _check_link(s, req.link_id, now)
    client = await s.get(Client, req.client_id)
    assert client is not None
    if client.payment_in_flight is not None:
        raise PaymentInProgress()
    basis = await current_basis(s, req.client_id, req.summary, now)
    ensure_current(req.summary.basis, basis)  # the domain decides; StaleSummary otherwise
    payment = new_payment(req, key, now)
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


async def release(s: AsyncSession, payment: Payment) -> None:
    """Let the account take another payment, if this one held it."""
    await s.execute(
        update(Client)
        .where(col(Client.id) == payment.client_id, col(Client.payment_in_flight) == payment.id)
        .values(payment_in_flight=None)
    )


async def release_link(s: AsyncSession, payment: Payment) -> None:
    """Let the link take another payment, if this one held it (the link stays as it was)."""
    if payment.link_id is not None:
        await s.execute(
            update(PaymentLink)
            .where(
                col(PaymentLink.id) == payment.link_id,
                col(PaymentLink.claim_payment_id) == payment.id,
            )
            .values(claim_payment_id=None)
        )


# A payment's client never changes: what this process claimed it knows without asking again
# (one read transaction less for every charge). Bounded; others are read from the database.
_CLIENT_OF: OrderedDict[int, int] = OrderedDict()


def remember_client(payment_id: int, client_id: int) -> None:
    """Once the claim is committed (an id rolled back may be given to another payment)."""
    _CLIENT_OF[payment_id] = client_id
    while len(_CLIENT_OF) > 10_000:
        _CLIENT_OF.popitem(last=False)


def forget_client(payment_id: int) -> None:
    """The payment was taken back: its id may be given to another payment (SQLite)."""
    _CLIENT_OF.pop(payment_id, None)


async def account_of(maker: async_sessionmaker[AsyncSession], payment_id: int) -> int:
    """The client whose account lock guards `payment_id`."""
    known = _CLIENT_OF.get(payment_id)
    if known is not None:
        return known
    async with maker() as s:
        payment = await s.get(Payment, payment_id)
        if payment is None:
            raise LookupError(f"payment {payment_id} not found")
        return payment.client_id
