"""What the SMS provider tells us: delivery reports, and replies (STOP, START, HELP, and PAY
to a reminder: app/services/reminders.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import phone
from app.domain.errors import DomainError
from app.domain.reminders import pay_word
from app.services import audit, reminders, sms, texts
from app.store.models import Client, ProcessedEvent, SmsMessage

log = logging.getLogger("monitorpay.sms")

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "YES", "UNSTOP", "OPTIN"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}
# Twilio's MessageStatus → ours. Anything else (queued, sending, accepted…) changes nothing on
# a text we know the reference of; it does resolve one whose send answer was lost (TAKEN).
STATUSES = {"sent": "sent", "delivered": "delivered", "undelivered": "failed", "failed": "failed"}
TAKEN = {"accepted", "scheduled", "queued", "sending"}
RANK = {"queued": 0, "sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "failed": 2}
# Rows a report may resolve by our message id (the StatusCallback's sms_id): no reference yet.
UNRESOLVED = ("queued", "sending", "unknown")
# An inbound text already answered, by its provider id (Twilio's MessageSid), in ProcessedEvent.
INBOUND_EVENT = "sms.inbound"


async def delivery_report(
    session: AsyncSession,
    *,
    provider_ref: str,
    provider_status: str,
    now: datetime,
    message_id: int | None = None,
) -> str:
    """Move the message (and its link's status card) forward; never backward; replays are no-ops.
    `message_id` (our id, carried in the callback URL) finds a text whose send answer was lost:
    the report is the provider's word that it has the text, so it is never sent again."""
    message = (
        await session.execute(
            select(SmsMessage).where(col(SmsMessage.provider_ref) == provider_ref)
        )
    ).scalar_one_or_none()
    if message is None and message_id is not None and provider_ref:
        return await _resolve(session, message_id, provider_ref, provider_status.lower(), now)
    status = STATUSES.get(provider_status.lower())
    if status is None:
        return "ignored"
    if message is None:
        return "unknown"
    if RANK.get(message.status, 0) >= RANK[status]:
        return "unchanged"
    await session.execute(
        update(SmsMessage).where(col(SmsMessage.id) == message.id).values(status=status)
    )
    await sms.link_follows_its_text(session, message, status, now)
    await session.commit()
    log.info("sms_id=%s status=%s event=delivery_report", message.id, status)
    return status


async def _resolve(
    session: AsyncSession, message_id: int, provider_ref: str, provider_status: str, now: datetime
) -> str:
    """A report for a text we hold no reference for: it is ours if the id names an unresolved
    text. Conditional on that, so the worker (which may be sending or looking it up) and a
    replayed report each see the other's decision."""
    status = STATUSES.get(provider_status) or ("sent" if provider_status in TAKEN else None)
    message = await session.get(SmsMessage, message_id)
    if status is None or message is None:
        return "ignored" if status is None else "unknown"
    result = await session.execute(
        update(SmsMessage)
        .where(
            col(SmsMessage.id) == message_id,
            col(SmsMessage.provider_ref).is_(None),
            col(SmsMessage.status).in_(UNRESOLVED),
        )
        .values(
            status=status,
            provider_ref=provider_ref,
            sent_at=func.coalesce(col(SmsMessage.sent_at), now),
            last_error=None,
            sealed_secret=None,  # sent (or failed at the provider): never sent again
            next_attempt_at=None,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return "unknown"
    await sms.link_follows_its_text(session, message, status, now)
    await session.commit()
    log.info("sms_id=%s sid=%s status=%s event=delivery_resolves", message_id, provider_ref, status)
    return status


async def inbound(
    session: AsyncSession,
    *,
    from_number: str,
    body: str,
    now: datetime,
    reply: reminders.ReplyContext | None = None,
    event_id: str = "",
) -> str:
    """A reply. STOP opts the number out of our texts, START back in; returns the keyword.
    PAY (or PAGAR) asks for a payment link (with `reply`, the app's settings for sending one):
    returns "pay_" + what happened (reminders.answer_pay), the answer queued in the outbox.
    `event_id` names the text at its provider ("twilio:" + MessageSid): a PAY already answered
    (the provider sends a text again when it did not hear our answer) is "duplicate"."""
    word = (body or "").strip().split(" ", 1)[0].upper()
    try:
        e164 = phone.normalize(from_number)
    except DomainError:
        return "ignored"
    pay = pay_word(body)
    if pay is not None and reply is not None:
        return await _pay(session, e164=e164, word=pay, now=now, ctx=reply, event_id=event_id)
    if word in STOP_WORDS | START_WORDS:
        opt_out = word in STOP_WORDS
        clients = (
            (await session.execute(select(Client).where(col(Client.phone_e164) == e164)))
            .scalars()
            .all()
        )
        for c in clients:
            if c.sms_opt_out != opt_out:
                c.sms_opt_out = opt_out
                session.add(c)
                opted = audit.sms_opted_out if opt_out else audit.sms_opted_in
                opted(session, at=now, client_id=c.id, phone=phone.mask(e164))
        await session.commit()
        log.info(
            "to=%s keyword=%s clients=%s event=sms_keyword", phone.mask(e164), word, len(clients)
        )
        return "stop" if opt_out else "start"
    if word in HELP_WORDS:
        return "help"
    return "ignored"


async def _pay(
    session: AsyncSession,
    *,
    e164: str,
    word: str,
    now: datetime,
    ctx: reminders.ReplyContext,
    event_id: str,
) -> str:
    """Answer a PAY once per `event_id`. The id is claimed in the transaction that makes the
    link (answer_pay commits both), so of two deliveries of one text, at the same time or
    after, one makes a link and the other finds the claim: on PostgreSQL the second insert
    waits for the first transaction and then fails on the key; SQLite has one writer."""
    if event_id and not await _claim(session, event_id, now):
        log.info("event_id=%s event=inbound_replay_ignored", event_id)
        return "duplicate"
    outcome = await reminders.answer_pay(session, e164=e164, word=word, now=now, ctx=ctx)
    if event_id:
        await _keep_claim(session, event_id, now)
    return "pay_" + outcome


async def _claim(session: AsyncSession, event_id: str, now: datetime) -> bool:
    """Add the event in the session's transaction; False if it was handled already."""
    session.add(ProcessedEvent(event_id=event_id[:100], kind=INBOUND_EVENT, at=now))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def _keep_claim(session: AsyncSession, event_id: str, now: datetime) -> None:
    """A PAY answered without a link (a refusal's text, or nothing) may have rolled its
    transaction back, and the claim with it: claim again, so a replay sends no second answer.
    A concurrent delivery that claimed it in between has answered it."""
    if await session.get(ProcessedEvent, event_id[:100]) is None:
        session.add(ProcessedEvent(event_id=event_id[:100], kind=INBOUND_EVENT, at=now))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()


async def help_reply(
    session: AsyncSession, *, from_number: str, body: str, company: str, support_phone: str
) -> str:
    """HELP's answer (who we are, the support number, STOP), in the language of the client who
    has that number; for an unknown number, Spanish when they wrote AYUDA, else English."""
    language = (
        "es" if (body or "").strip().split(" ", 1)[0].upper().strip("!¡.?¿") == "AYUDA" else "en"
    )
    try:
        e164 = phone.normalize(from_number)
    except DomainError:
        e164 = None
    known = await texts.recipients_at(session, e164) if e164 is not None else {}
    if known:
        language = next(iter(known.values())).language
    to = texts.Recipient("", "", language, "UTC", support_phone)
    return texts.render_text("help", to, company=company)
