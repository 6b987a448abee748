"""The Secure Payment page's use cases: open a link, pay it once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain import links
from app.domain.errors import DomainError, InvalidPaymentMethod
from app.domain.summary import InvoiceSummary
from app.services import audit, cards, payments
from app.services.summary import NotFound
from app.store import hot_reads, reads
from app.store.models import Client, Invoice, Location, Payment, PaymentLink

__all__ = [
    "LinkNotFound",
    "LinkState",
    "Payment",
    "claimed",
    "find",
    "mark_opened",
    "pay",
    "payment",
    "receipt",
]

log = logging.getLogger("monitorpay.pay")


class LinkNotFound(DomainError):
    message = "This payment link is not valid. Check the text message and try again."


@dataclass(frozen=True)
class LinkState:
    link: PaymentLink
    status: str  # effective status
    summary: InvoiceSummary
    payer_name: str  # first name and last initial only
    location: Location
    seconds_left: int
    language: str = "en"  # the client's: the page speaks it unless the reader chose another


async def _link_row(session: AsyncSession, token_hash: str) -> hot_reads.LinkRow | None:
    row = (
        await session.execute(
            select(
                PaymentLink,
                col(Client.first_name),
                col(Client.last_name),
                col(Client.location_id),
                col(Client.language),
            )
            .join(Client, col(Client.id) == col(PaymentLink.client_id))
            .where(col(PaymentLink.token_hash) == token_hash)
            .execution_options(populate_existing=True)  # payments change it in other sessions
        )
    ).one_or_none()
    if row is None:
        return None
    link, first_name, last_name, location_id, language = row
    return link, first_name, last_name, location_id, language


async def find(session: AsyncSession, token: str, now: datetime, *, hot: bool = False) -> LinkState:
    """The link a token opens, else LinkNotFound. `hot`: read on the session's plain connection
    (store/hot_reads.py: the pay page's GETs, which only read it); the same state, its link
    not attached to the session. The POST and the payment core read through the ORM."""
    if not links.well_formed(token):
        raise LinkNotFound()
    hashed = links.hash_token(token)
    row = await (hot_reads.link_by_token(session, hashed) if hot else _link_row(session, hashed))
    if row is None:
        raise LinkNotFound()
    link, first_name, last_name, location_id, language = row
    return LinkState(
        link=link,
        status=links.effective_status(link.status, link.expires_at, now),
        summary=InvoiceSummary.from_json(link.summary_json),
        payer_name=f"{first_name} {last_name[:1]}.",
        location=await reads.location(session, location_id),
        seconds_left=links.seconds_left(link.expires_at, now),
        language=language,
    )


async def mark_opened(session: AsyncSession, state: LinkState, now: datetime) -> None:
    """First open moves the staff status card to `opened` (once)."""
    if state.link.opened_at is not None or state.status not in links.LIVE_STATUSES:
        return
    result = await session.execute(
        update(PaymentLink)
        .where(col(PaymentLink.id) == state.link.id, col(PaymentLink.opened_at).is_(None))
        .values(
            opened_at=now,
            status=case(
                (col(PaymentLink.status).in_(("queued", "sent", "delivered")), "opened"),
                else_=col(PaymentLink.status),
            ),
        )
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        audit.link_opened(session, at=now, link=state.link)
    await session.commit()


async def pay(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    state: LinkState,
    payment_method: str,
    company: str,
) -> payments.PaymentOutcome:
    """Charge the link's snapshot once. Raises the payment core's domain errors."""
    if state.status not in links.LIVE_STATUSES:
        raise payments.LinkNotPayable(state.status)
    if state.link.claim_payment_id is not None:
        # Another attempt already holds the link: turn this one away before it queues for the
        # account lock holding a connection (the lock's own check stays the one that decides).
        raise payments.LinkNotPayable("busy")
    async with maker() as s:
        # Single-use card entry: never a reference to anyone's card on file.
        try:
            await cards.refuse_saved_reference(s, payment_method, client_id=None)
        except NotFound:
            raise InvalidPaymentMethod() from None
    outcome = await payments.charge(
        maker,
        gateway,
        clock,
        payments.ChargeRequest(
            client_id=state.link.client_id,
            summary=state.summary,
            channel="link",
            payment_method=payment_method,
            actor_type="payer",
            link_id=state.link.id,
        ),
        company=company,
    )
    log.info(
        "link_id=%s payment_id=%s status=%s event=link_payment",
        state.link.id,
        outcome.payment_id,
        outcome.status,
    )
    return outcome


async def payment(session: AsyncSession, payment_id: int | None) -> Payment | None:
    """A payment the link's pages speak of (its claim, this browser's last attempt)."""
    return await session.get(Payment, payment_id) if payment_id else None


async def claimed(maker: async_sessionmaker[AsyncSession], link_id: int | None) -> bool:
    """Whether a payment holds the link (or the link is gone), read on a session of its own."""
    async with maker() as s:
        link = await s.get(PaymentLink, link_id)
        return link is None or link.claim_payment_id is not None


async def receipt(session: AsyncSession, state: LinkState) -> tuple[Payment, Invoice | None]:
    """The payment that paid the link, and the invoice it paid for."""
    paid = await session.get(Payment, state.link.payment_id)
    assert paid is not None
    invoice = await session.get(Invoice, paid.invoice_id) if paid.invoice_id else None
    return paid, invoice
