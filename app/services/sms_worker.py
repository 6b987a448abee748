"""Deliver due outbox messages with retries and exponential backoff.

A batch of due messages is leased in one statement (attempts+1, next_attempt_at pushed out),
choosing rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on many instances never
send the same row nor wait on each other; a worker that dies mid-send only delays a retry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.sms.port import SmsProvider, SmsSendFailed
from app.clock import Clock
from app.services.sealed import SecretBox
from app.services.sms import link_follows_its_text, text_to_send
from app.store.models import SmsMessage

log = logging.getLogger("monitorpay.sms")
MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=60)


def backoff(attempts: int) -> timedelta:
    """1st retry after 2 s, then 4, 8, 16 …"""
    return timedelta(seconds=2**attempts)


async def deliver_due(
    maker: async_sessionmaker[AsyncSession],
    provider: SmsProvider,
    clock: Clock,
    box: SecretBox | None = None,
    batch: int = 20,
) -> int:
    """Send what is due now. Returns how many messages were attempted."""
    attempted = 0
    for message in await _lease(maker, clock.now(), batch):
        await _deliver_one(maker, provider, clock, box, message)
        attempted += 1
    return attempted


async def _lease(
    maker: async_sessionmaker[AsyncSession], now: datetime, batch: int
) -> list[SmsMessage]:
    due = (col(SmsMessage.status) == "queued", col(SmsMessage.next_attempt_at) <= now)
    async with maker() as s:
        chosen = (
            select(col(SmsMessage.id))
            .where(*due)
            .order_by(col(SmsMessage.id))
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        leased = (
            (
                await s.execute(
                    update(SmsMessage)
                    .where(col(SmsMessage.id).in_(chosen), *due)
                    .values(attempts=SmsMessage.attempts + 1, next_attempt_at=now + LEASE)
                    .returning(col(SmsMessage.id))
                )
            )
            .scalars()
            .all()
        )
        await s.commit()
        messages = [await s.get(SmsMessage, i) for i in sorted(i for i in leased if i is not None)]
    return [m for m in messages if m is not None]


async def _deliver_one(
    maker: async_sessionmaker[AsyncSession],
    provider: SmsProvider,
    clock: Clock,
    box: SecretBox | None,
    message: SmsMessage,
) -> None:
    message_id = message.id
    try:
        result = await provider.send(
            to_e164=message.to_e164, body=text_to_send(message, box), message_id=message_id or 0
        )
    except Exception as exc:  # noqa: BLE001 - any provider failure is retried, then reported
        permanent = isinstance(exc, SmsSendFailed) and exc.permanent
        await _after_failure(maker, clock, message, str(exc)[:200], permanent=permanent)
        return
    async with maker() as s:
        await s.execute(
            update(SmsMessage)
            .where(col(SmsMessage.id) == message_id)
            .values(
                status=result.status,
                provider_ref=result.provider_ref,
                sent_at=clock.now(),
                last_error=None,
                sealed_secret=None,
            )
        )
        await link_follows_its_text(s, message, result.status, clock.now())
        await s.commit()


async def _after_failure(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    message: SmsMessage,
    error: str,
    permanent: bool = False,
) -> None:
    now = clock.now()
    attempts = message.attempts  # already counts this attempt (taken with the lease)
    final = permanent or attempts >= MAX_ATTEMPTS
    async with maker() as s:
        await s.execute(
            update(SmsMessage)
            .where(col(SmsMessage.id) == message.id)
            .values(
                status="failed" if final else "queued",
                last_error=error,
                next_attempt_at=None if final else now + backoff(attempts),
                **({"sealed_secret": None} if final else {}),
            )
        )
        if final:
            await link_follows_its_text(s, message, "failed", now)
        await s.commit()
    log.warning("sms_id=%s attempts=%s final=%s event=send_failed", message.id, attempts, final)


async def run_forever(
    maker: async_sessionmaker[AsyncSession],
    provider: SmsProvider,
    clock: Clock,
    poll_seconds: float,
    box: SecretBox | None = None,
) -> None:
    """The background worker started with the app."""
    while True:
        try:
            await deliver_due(maker, provider, clock, box)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the worker alive; the error is logged
            log.exception("event=sms_worker_error")
        await asyncio.sleep(poll_seconds)
