"""The SMS outbox: messages are rows written in the caller's transaction; a worker sends them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.services.sealed import SecretBox
from app.store import queries
from app.store.models import Client, PaymentLink, SmsMessage

# Stands for the link token in a stored body. The token itself waits sealed (encrypted) beside
# it until the worker sends the text, then is erased: the database never holds it in the clear.
TOKEN_MARK = "{token}"  # noqa: S105 - a placeholder, not a secret


def queue(
    session: AsyncSession,
    *,
    to_e164: str,
    body: str,
    kind: str,
    now: datetime,
    client_id: int | None = None,
    link_id: int | None = None,
    secret: str | None = None,
    box: SecretBox | None = None,
) -> SmsMessage:
    sealed = None
    if secret is not None:
        if box is None or secret not in body:
            raise ValueError("a secret needs a box and must appear in the body")
        body = body.replace(secret, TOKEN_MARK)
        sealed = box.seal(secret)
    message = SmsMessage(
        to_e164=to_e164,
        body=body,
        sealed_secret=sealed,
        kind=kind,
        status="queued",
        client_id=client_id,
        link_id=link_id,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message


async def number_opted_out(session: AsyncSession, e164: str) -> bool:
    """Has anyone with this number texted STOP (or been opted out by staff)?"""
    opted = (
        await session.execute(
            select(func.count())
            .select_from(Client)
            .where(col(Client.phone_e164) == e164, col(Client.sms_opt_out).is_(True))
        )
    ).scalar_one()
    return bool(opted)


async def link_follows_its_text(
    session: AsyncSession, message: SmsMessage, status: str, now: datetime
) -> None:
    """A payment link's status card moves with the text that carried it (sent, delivered,
    failed), and only while the link itself is still queued or sent."""
    if message.link_id is None or message.kind != "link":
        return
    stamp = {"delivered": {"delivered_at": now}, "failed": {"failed_at": now}}.get(status, {})
    await session.execute(
        update(PaymentLink)
        .where(
            col(PaymentLink.id) == message.link_id,
            col(PaymentLink.status).in_(("queued", "sent")),
        )
        .values(status=status, **stamp)
    )


def text_to_send(message: SmsMessage, box: SecretBox | None) -> str:
    if message.sealed_secret is None:
        return message.body
    if box is None:
        raise ValueError("this message holds a sealed secret; a box is needed to send it")
    return message.body.replace(TOKEN_MARK, box.open(message.sealed_secret))


async def recent(session: AsyncSession, limit: int = 100) -> list[SmsMessage]:
    """The newest texts first (the dev phone's inbox)."""
    return await queries.recent_sms(session, limit)


async def message(session: AsyncSession, message_id: int) -> SmsMessage | None:
    return await session.get(SmsMessage, message_id)
