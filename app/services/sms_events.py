"""What the SMS provider tells us: delivery reports, and replies (STOP, START, HELP, and PAY
to a reminder: app/services/reminders.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import phone
from app.domain.errors import DomainError
from app.domain.reminders import pay_word
from app.services import audit, reminders, sms, texts
from app.store.models import Client, SmsMessage

log = logging.getLogger("monitorpay.sms")

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "YES", "UNSTOP", "OPTIN"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}
# Twilio's MessageStatus → ours. Anything else (queued, sending, accepted…) changes nothing.
STATUSES = {"sent": "sent", "delivered": "delivered", "undelivered": "failed", "failed": "failed"}
RANK = {"queued": 0, "sent": 1, "delivered": 2, "failed": 2}


async def delivery_report(
    session: AsyncSession, *, provider_ref: str, provider_status: str, now: datetime
) -> str:
    """Move the message (and its link's status card) forward; never backward; replays are no-ops."""
    status = STATUSES.get(provider_status.lower())
    if status is None:
        return "ignored"
    message = (
        await session.execute(
            select(SmsMessage).where(col(SmsMessage.provider_ref) == provider_ref)
        )
    ).scalar_one_or_none()
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


async def inbound(
    session: AsyncSession,
    *,
    from_number: str,
    body: str,
    now: datetime,
    reply: reminders.ReplyContext | None = None,
) -> str:
    """A reply. STOP opts the number out of our texts, START back in; returns the keyword.
    PAY (or PAGAR) asks for a payment link (with `reply`, the app's settings for sending one):
    returns "pay_" + what happened (reminders.answer_pay), the answer queued in the outbox."""
    word = (body or "").strip().split(" ", 1)[0].upper()
    try:
        e164 = phone.normalize(from_number)
    except DomainError:
        return "ignored"
    pay = pay_word(body)
    if pay is not None and reply is not None:
        return "pay_" + await reminders.answer_pay(session, e164=e164, word=pay, now=now, ctx=reply)
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
                audit.record(
                    session,
                    at=now,
                    actor_type="payer",
                    actor_id=None,
                    client_id=c.id,
                    action="sms.opted_out" if opt_out else "sms.opted_in",
                    phone=phone.mask(e164),
                )
        await session.commit()
        log.info(
            "to=%s keyword=%s clients=%s event=sms_keyword", phone.mask(e164), word, len(clients)
        )
        return "stop" if opt_out else "start"
    if word in HELP_WORDS:
        return "help"
    return "ignored"


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
