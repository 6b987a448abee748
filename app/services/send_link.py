"""Send Secure Payment Link: snapshot the summary, store the link's hash, queue the text —
all in one transaction (the transactional outbox)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import links, phone
from app.domain.errors import DomainError
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


class SummaryChanged(DomainError):
    message = (
        "The amount changed since you reviewed it (the account was updated). Review the new "
        "Total Due Amount, then send."
    )


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
    reviewed_total_cents: int | None,
    now: datetime,
    ttl_seconds: int,
    base_url: str,
    company: str,
    box: SecretBox,
) -> SentLink:
    sent = await _send(
        session,
        staff=staff,
        client_id=client_id,
        vehicle_id=vehicle_id,
        days=days,
        raw_phone=raw_phone,
        reviewed_total_cents=reviewed_total_cents,
        now=now,
        ttl_seconds=ttl_seconds,
        base_url=base_url,
        company=company,
        box=box,
    )
    await session.commit()
    log.info(
        "link_id=%s client_id=%s to=%s event=link_sent",
        sent.link.id,
        client_id,
        phone.mask(sent.link.phone_e164),
    )
    return sent


async def _send(
    session: AsyncSession,
    *,
    staff: StaffUser | None,
    client_id: int,
    vehicle_id: int,
    days: int,
    raw_phone: str,
    reviewed_total_cents: int | None,
    now: datetime,
    ttl_seconds: int,
    base_url: str,
    company: str,
    box: SecretBox,
    renewed_from: int | None = None,
    origin: str | None = None,
) -> SentLink:
    """Checks, supersedes, stores and queues, in the caller's transaction (not committed).
    Without `staff`, the payer asked for it: from an expired link (`renewed_from`), or by
    replying PAY to a reminder (`origin="reply"`)."""
    origin = origin or ("staff" if staff is not None else "renewal")
    account = await load_account(session, client_id)
    if not account.location.accepts_payments:
        raise PaymentsNotAccepted()
    e164 = phone.normalize(raw_phone)
    summary = await compute(session, client_id=client_id, vehicle_id=vehicle_id, days=days, now=now)
    if reviewed_total_cents is not None and reviewed_total_cents != summary.total_cents:
        raise SummaryChanged()
    if await sms.number_opted_out(session, e164):
        raise OptedOut()
    recent_links = (
        await session.execute(
            select(func.count())
            .select_from(PaymentLink)
            .where(
                col(PaymentLink.client_id) == client_id,
                col(PaymentLink.created_at) > now - timedelta(hours=1),
            )
        )
    ).scalar_one()
    if recent_links >= LINKS_PER_CLIENT_PER_HOUR:
        raise TooManyLinks()
    texts_today = (
        await session.execute(
            select(func.count())
            .select_from(SmsMessage)
            .where(
                col(SmsMessage.to_e164) == e164,
                col(SmsMessage.created_at) > now - timedelta(days=1),
            )
        )
    ).scalar_one()
    if texts_today >= TEXTS_PER_NUMBER_PER_DAY:
        raise TooManyTexts()

    token, token_hash = links.new_token()
    expiry = links.expires_at(now, ttl_seconds)
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
        origin=origin,
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
            company=company,
            amount=summary.total_cents,
            vehicle=summary.vehicle_label,
            url=f"{base_url}/pay/{token}",
            expires=expiry,
        ),
        kind="link",
        now=now,
        client_id=client_id,
        link_id=link.id,
        secret=token,
        box=box,
    )
    audit.record(
        session,
        at=now,
        actor_type="staff" if staff is not None else "payer",
        actor_id=staff.id if staff is not None else None,
        client_id=client_id,
        action=(
            "link.requested_by_text"
            if origin == "reply"
            else "link.sent"
            if renewed_from is None
            else "link.renewed"
        ),
        link_id=link.id,
        to=e164,
        to_client_phone=e164 == account.client.phone_e164,
        total_cents=summary.total_cents,
        days=days,
        vehicle_id=vehicle_id,
        **({} if renewed_from is None else {"renewed_from_link_id": renewed_from}),
    )
    return SentLink(link=link, token=token, summary=summary)


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
    audit.record(
        session,
        at=now,
        actor_type="staff",
        actor_id=staff.id,
        client_id=client_id,
        action="link.cancelled",
        link_id=link_id,
    )
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
    ttl_seconds: int,
    base_url: str,
    company: str,
    box: SecretBox,
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
        sent = await _send(
            session,
            staff=None,
            client_id=link.client_id,
            vehicle_id=link.vehicle_id,
            days=link.days,
            raw_phone=link.phone_e164,
            reviewed_total_cents=None,
            now=now,
            ttl_seconds=ttl_seconds,
            base_url=base_url,
            company=company,
            box=box,
            renewed_from=link_id,
        )
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
