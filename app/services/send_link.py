"""Send Secure Payment Link: snapshot the summary, store the link's hash, queue the text —
all in one transaction (the transactional outbox)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import links, phone
from app.domain.errors import DomainError
from app.domain.review import ensure_reviewed
from app.domain.summary import InvoiceSummary
from app.services import audit, sms, texts
from app.services.sealed import SecretBox
from app.services.summary import PaymentsNotAccepted, compute, load_account
from app.store.models import PaymentLink, SmsMessage, StaffUser

log = logging.getLogger("monitorpay.links")
LINKS_PER_CLIENT_PER_HOUR = 5
TEXTS_PER_NUMBER_PER_DAY = 10


class OptedOut(DomainError):
    message = (
        "This number has opted out of text messages (replied STOP), so no link can be texted "
        "to it. Ask the client to reply START, or use another number."
    )


class TooManyLinks(DomainError):
    message = (
        "This client has been sent 5 payment links in the last hour. Wait before sending another,"
        " or take the payment another way."
    )


class TooManyTexts(DomainError):
    message = "This number has received 10 texts today. Try again tomorrow or use another number."


class Texting(TypedDict):
    """How a link is texted, from the app's settings: how long it lives (`ttl_seconds`), the
    origin its URL points at, the company the text names, the box its token waits sealed in.
    `send` and `renew` take these by keyword (`**texting`)."""

    ttl_seconds: int
    base_url: str
    company: str
    box: SecretBox


@dataclass(frozen=True)
class Asked:
    """The link asked for. Without `staff`, the payer asked for it: from an expired link
    (`renewed_from`), else by replying PAY to a reminder: then no one reviewed a summary
    (`reviewed`, the fingerprint staff saw, is None) and the link is for today's."""

    client_id: int
    vehicle_id: int
    days: int
    raw_phone: str
    staff: StaffUser | None = None
    reviewed: str | None = None
    renewed_from: int | None = None

    @property
    def origin(self) -> str:
        """Who asked: staff | renewal (the payer's "Text me a new link") | reply (PAY)."""
        if self.staff is not None:
            return "staff"
        return "renewal" if self.renewed_from is not None else "reply"


@dataclass(frozen=True)
class SentLink:
    link: PaymentLink
    token: str  # only for the text message; never stored or logged
    summary: InvoiceSummary


async def send(
    session: AsyncSession,
    *,
    staff: StaffUser,
    client_id: int,
    vehicle_id: int,
    days: int,
    raw_phone: str,
    reviewed: str | None,
    now: datetime,
    **texting: Unpack[Texting],
) -> SentLink:
    """Send a link for the summary staff reviewed (`reviewed`: its fingerprint, from the form).
    StaleSummary when the summary computed now is not that one: nothing is stored or queued."""
    asked = Asked(client_id, vehicle_id, days, raw_phone, staff=staff, reviewed=reviewed)
    sent = await make(session, asked, texting, now)
    await session.commit()
    log.info(
        "link_id=%s client_id=%s to=%s event=link_sent",
        sent.link.id,
        client_id,
        phone.mask(sent.link.phone_e164),
    )
    return sent


async def make(session: AsyncSession, asked: Asked, texting: Texting, now: datetime) -> SentLink:
    """Checks, supersedes, stores and queues, in the caller's transaction (not committed): the
    one way a link is made and texted (staff's send, the payer's renewal, a PAY reply)."""
    client_id, vehicle_id, days, staff = asked.client_id, asked.vehicle_id, asked.days, asked.staff
    account = await load_account(session, client_id)
    if not account.location.accepts_payments:
        raise PaymentsNotAccepted()
    e164 = phone.normalize(asked.raw_phone)
    summary = await compute(session, client_id=client_id, vehicle_id=vehicle_id, days=days, now=now)
    if asked.reviewed is not None:
        ensure_reviewed(summary, asked.reviewed)
    if await sms.number_opted_out(session, e164):
        raise OptedOut()
    hour_ago = now - timedelta(hours=1)
    sent = await _made_since(
        session, PaymentLink.created_at, hour_ago, PaymentLink.client_id, client_id
    )
    if sent >= LINKS_PER_CLIENT_PER_HOUR:
        raise TooManyLinks()
    if await texts_today(session, e164, now) >= TEXTS_PER_NUMBER_PER_DAY:
        raise TooManyTexts()

    token, token_hash = links.new_token()
    expiry = links.expires_at(now, texting["ttl_seconds"])
    # A new link supersedes the client's older live ones.
    await session.execute(
        update(PaymentLink)
        .where(
            col(PaymentLink.client_id) == client_id,
            col(PaymentLink.status).in_(links.LIVE_STATUSES),
            col(PaymentLink.claim_payment_id).is_(None),
        )
        .values(status="superseded", cancelled_at=now)
    )
    link = PaymentLink(
        token_hash=token_hash,
        client_id=client_id,
        vehicle_id=vehicle_id,
        days=days,
        total_cents=summary.total_cents,
        summary_json=summary.to_json(),
        phone_e164=e164,
        status="queued",
        sent_by_staff_id=staff.id if staff is not None else None,
        origin=asked.origin,
        created_at=now,
        sent_at=now,
        expires_at=expiry,
    )
    session.add(link)
    await session.flush()
    sms.queue(
        session,
        to_e164=e164,
        body=texts.render_text(
            "link_past_due" if summary.past_due_only else "link",
            await texts.recipient(session, client_id),
            company=texting["company"],
            amount=summary.total_cents,
            vehicle=summary.vehicle_label,
            url=f"{texting['base_url']}/pay/{token}",
            expires=expiry,
        ),
        kind="link",
        now=now,
        client_id=client_id,
        link_id=link.id,
        secret=token,
        box=texting["box"],
    )
    _audit_sent(session, now, link, account.client.phone_e164, staff, asked.renewed_from)
    return SentLink(link=link, token=token, summary=summary)


async def _made_since(
    session: AsyncSession, created_at: Any, since: datetime, owner: Any, value: object
) -> int:
    """How many rows of `created_at`'s table whose `owner` column is `value` were made after
    `since` (the per-client and per-number limits)."""
    query = select(func.count()).where(col(owner) == value, col(created_at) > since)
    return int((await session.execute(query)).scalar_one())


async def texts_today(session: AsyncSession, e164: str, now: datetime) -> int:
    """The texts queued to a number in the last day (TEXTS_PER_NUMBER_PER_DAY)."""
    day_ago = now - timedelta(days=1)
    return await _made_since(session, SmsMessage.created_at, day_ago, SmsMessage.to_e164, e164)


def _audit_sent(
    session: AsyncSession,
    now: datetime,
    link: PaymentLink,
    client_phone: str | None,
    staff: StaffUser | None,
    renewed_from: int | None,
) -> None:
    """Staff sent the link; else the payer asked for it, renewing an expired link or by text."""
    if staff is not None:
        audit.link_sent(session, at=now, staff=staff, link=link, client_phone=client_phone)
    elif renewed_from is not None:
        audit.link_renewed(
            session, at=now, link=link, client_phone=client_phone, renewed_from=renewed_from
        )
    else:
        audit.link_requested_by_text(session, at=now, link=link, client_phone=client_phone)


class LinkNotCancellable(DomainError):
    message = "This link is no longer live, so there is nothing to cancel."


async def cancel(
    session: AsyncSession, *, staff: StaffUser, client_id: int, link_id: int, now: datetime
) -> PaymentLink:
    result = await session.execute(
        update(PaymentLink)
        .where(
            col(PaymentLink.id) == link_id,
            col(PaymentLink.client_id) == client_id,
            col(PaymentLink.status).in_(links.LIVE_STATUSES),
            col(PaymentLink.expires_at) > now,
            col(PaymentLink.claim_payment_id).is_(None),
        )
        .values(status="cancelled", cancelled_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise LinkNotCancellable()
    audit.link_cancelled(session, at=now, staff=staff, client_id=client_id, link_id=link_id)
    await session.commit()
    link = await session.get(PaymentLink, link_id)
    assert link is not None
    return link


class RenewalRefused(DomainError):
    """The payer's "Text me a new link" is not offered for this link (see links.renewal_refusal)."""

    def __init__(self, reason: links.RenewalRefusal, renewed_by_link_id: int | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.renewed_by_link_id = renewed_by_link_id


async def renewal_refusal(
    session: AsyncSession, link: PaymentLink, *, status: str, accepts_payments: bool
) -> links.RenewalRefusal | None:
    """Whether the expired-link page may offer "Text me a new link" (the domain decides)."""
    renewed = link.renewed_by_link_id is not None
    if renewed or status != "expired" or not accepts_payments:  # no need to ask the store
        opted_out = False
    else:
        opted_out = await sms.number_opted_out(session, link.phone_e164)
    return links.renewal_refusal(
        status, renewed=renewed, accepts_payments=accepts_payments, opted_out=opted_out
    )


async def renew(
    session: AsyncSession,
    *,
    link_id: int,
    now: datetime,
    **texting: Unpack[Texting],
) -> SentLink:
    """The payer's one tap on an expired link: a fresh link, recomputed from today's summary for
    the same vehicle and days, texted to the number the expired link went to (never another),
    within the staff's limits. Once per expired link: the first tap marks the expired link as
    superseded by a conditional update, so a second tap (or a race of two) sends nothing."""
    link = await session.get(PaymentLink, link_id, populate_existing=True)
    if link is None:
        raise RenewalRefused("not_expired")
    account = await load_account(session, link.client_id)
    status = links.effective_status(link.status, link.expires_at, now)
    reason = await renewal_refusal(
        session, link, status=status, accepts_payments=account.location.accepts_payments
    )
    if reason is not None:
        raise RenewalRefused(reason, link.renewed_by_link_id)
    claimed = await session.execute(
        update(PaymentLink)
        .where(
            col(PaymentLink.id) == link_id,
            col(PaymentLink.status).in_(links.LIVE_STATUSES),
            col(PaymentLink.expires_at) <= now,
            col(PaymentLink.claim_payment_id).is_(None),
            col(PaymentLink.renewed_by_link_id).is_(None),
        )
        .values(status="superseded", cancelled_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        fresh = await session.get(PaymentLink, link_id, populate_existing=True)
        renewed_by = fresh.renewed_by_link_id if fresh is not None else None
        raise RenewalRefused("renewed" if renewed_by else "not_expired", renewed_by)
    try:
        asked = Asked(
            link.client_id, link.vehicle_id, link.days, link.phone_e164, renewed_from=link_id
        )
        sent = await make(session, asked, texting, now)
    except BaseException:
        await session.rollback()
        raise
    await session.execute(
        update(PaymentLink)
        .where(col(PaymentLink.id) == link_id)
        .values(renewed_by_link_id=sent.link.id)
    )
    await session.commit()
    log.info(
        "link_id=%s renewed_from=%s client_id=%s to=%s event=link_renewed",
        sent.link.id,
        link_id,
        link.client_id,
        phone.mask(sent.link.phone_e164),
    )
    return sent
