"""The SMS outbox: messages are rows written in the caller's transaction; a worker sends them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import SmsMessage


def queue(
    session: AsyncSession,
    *,
    to_e164: str,
    body: str,
    kind: str,
    now: datetime,
    client_id: int | None = None,
    link_id: int | None = None,
) -> SmsMessage:
    message = SmsMessage(
        to_e164=to_e164,
        body=body,
        kind=kind,
        status="queued",
        client_id=client_id,
        link_id=link_id,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message
