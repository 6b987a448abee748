"""Deliver due outbox messages: retries with backoff, and no text sent twice.

A text's life: queued → sending (leased, one attempt) → sent | delivered | failed, or back to
queued when the provider certainly sent nothing (refused for now, unreachable), or `unknown`
when it may have taken the text and the answer was lost (timeout, dropped connection, 5xx, or
this worker died mid-send: its `sending` lease ran out). An unknown text is never sent again
blindly: the worker looks it up at the provider (`find_sent`) every LOOKUP_EVERY; found, it is
sent with the provider's reference; still not found GRACE after the attempt (a provider may not
list a text at once), it is sent again under the same message id. The provider's delivery
report (sms_events.delivery_report) may resolve it first.

A batch of due messages is leased in one statement (queued → sending with attempts+1, unknown
kept, next_attempt_at pushed out), choosing rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
workers on many instances never take the same row nor wait on each other. The lease is renewed
(conditionally) right before each send, and every later write is conditional on the status and
attempt count the worker leased, so a worker whose lease ran out sends nothing and changes
nothing another worker or a delivery report already decided.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import case, literal, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.sms.port import (
    Outgoing,
    SendResult,
    SmsNotSent,
    SmsOutcomeUnknown,
    SmsProvider,
)
from app.clock import Clock
from app.services.sealed import SecretBox
from app.services.sms import link_follows_its_text, text_to_send
from app.store.models import SmsMessage, UTCDateTime

log = logging.getLogger("monitorpay.sms")
MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=60)
LOOKUP_EVERY = timedelta(seconds=20)
GRACE = timedelta(minutes=2)
QUEUED, SENDING, UNKNOWN, FAILED = "queued", "sending", "unknown", "failed"
SEND_OUTCOMES = Counter(
    "monitorpay_text_sends",
    "Texts this process handed to the SMS provider, by outcome (sent; unknown: the answer was "
    "lost; retry: nothing sent, tried again later; failed: given up)",
    ["outcome"],
)


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
    """Send (or look up) what is due now. Returns how many messages were taken."""
    taken = 0
    for message in await _lease(maker, clock.now(), batch):
        worker = _Worker(maker, provider, clock, box)
        if message.status == SENDING:
            await worker.send(message)
        else:
            await worker.look_up(message)
        taken += 1
    return taken


async def _lease(
    maker: async_sessionmaker[AsyncSession], now: datetime, batch: int
) -> list[SmsMessage]:
    due = (
        col(SmsMessage.status).in_((QUEUED, UNKNOWN, SENDING)),
        col(SmsMessage.next_attempt_at) <= now,
    )
    fresh = col(SmsMessage.status) == QUEUED
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
                    .values(
                        # a `sending` row whose lease ran out: its worker died mid-send, so
                        # the text may have gone out
                        status=case((fresh, SENDING), else_=UNKNOWN),
                        attempts=SmsMessage.attempts + case((fresh, 1), else_=0),
                        sent_at=case(
                            (fresh, literal(now, UTCDateTime())), else_=col(SmsMessage.sent_at)
                        ),
                        next_attempt_at=now + LEASE,
                    )
                    .returning(col(SmsMessage.id))
                )
            )
            .scalars()
            .all()
        )
        await s.commit()
        messages = [await s.get(SmsMessage, i) for i in sorted(i for i in leased if i is not None)]
    return [m for m in messages if m is not None]


class _Worker:
    """One leased message's next step. Each write names the status and attempt it expects."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        provider: SmsProvider,
        clock: Clock,
        box: SecretBox | None,
    ) -> None:
        self.maker, self.provider, self.clock, self.box = maker, provider, clock, box

    async def send(self, message: SmsMessage) -> None:
        """One attempt of a `sending` message."""
        text = await self._outgoing(message, SENDING)
        if text is None:
            return
        # The lease is renewed just before the call: a batch's last rows may have waited long
        # enough for another worker to take them (as a crash), and must then not go out here.
        if not await self._write(message, SENDING, next_attempt_at=self.clock.now() + LEASE):
            return
        try:
            result = await self.provider.send(
                to_e164=text.to_e164, body=text.body, message_id=text.message_id
            )
        except SmsNotSent as exc:
            await self._not_sent(message, str(exc)[:200], permanent=exc.permanent)
        except Exception as exc:  # noqa: BLE001 - unknown (or an adapter's bug): it may have gone
            await self._unknown(message, _error(exc))
        else:
            await self._done(message, SENDING, result)

    async def look_up(self, message: SmsMessage) -> None:
        """An `unknown` message: found at the provider, still waiting, or sent again."""
        text = await self._outgoing(message, UNKNOWN)
        if text is None:
            return
        try:
            found = await self.provider.find_sent(text, known=await self._known(message))
        except Exception as exc:  # noqa: BLE001 - could not ask: still unknown, ask again later
            retry_at = self.clock.now() + LOOKUP_EVERY
            await self._write(message, UNKNOWN, last_error=_error(exc), next_attempt_at=retry_at)
            return
        if found is not None:
            await self._done(message, UNKNOWN, found)
        else:
            await self._not_found(message)

    async def _not_found(self, message: SmsMessage) -> None:
        """Not at the provider: wait out GRACE from the attempt (it may not list it yet), then
        send again under the same message id."""
        now = self.clock.now()
        resend_at = (message.sent_at or message.created_at) + GRACE
        if now < resend_at:
            await self._write(message, UNKNOWN, next_attempt_at=min(now + LOOKUP_EVERY, resend_at))
            return
        if message.attempts >= MAX_ATTEMPTS:
            await self._fail(message, UNKNOWN, message.last_error or "Not found at the provider.")
            return
        again: dict[str, Any] = {
            "attempts": message.attempts + 1,
            "sent_at": now,
            "next_attempt_at": now + LEASE,
        }
        if await self._write(message, UNKNOWN, status=SENDING, **again):
            log.info("sms_id=%s attempts=%s event=resend_not_found", message.id, message.attempts)
            message.status, message.attempts, message.sent_at = SENDING, message.attempts + 1, now
            await self.send(message)

    async def _outgoing(self, message: SmsMessage, status: str) -> Outgoing | None:
        """The text as it goes out, with what finds it again; None (and the message failed)
        when it cannot be put together (a sealed token without a box: a bug, not a retry)."""
        try:
            body = text_to_send(message, self.box)
        except ValueError as exc:
            await self._fail(message, status, str(exc)[:200])
            return None
        return Outgoing(
            message_id=message.id or 0,
            to_e164=message.to_e164,
            body=body,
            since=message.created_at,
        )

    async def _known(self, message: SmsMessage) -> list[str]:
        """Provider references our other texts to this number already hold."""
        async with self.maker() as s:
            refs = await s.execute(
                select(col(SmsMessage.provider_ref)).where(
                    col(SmsMessage.to_e164) == message.to_e164,
                    col(SmsMessage.id) != message.id,
                    col(SmsMessage.provider_ref).is_not(None),
                )
            )
            return [r for r in refs.scalars().all() if r is not None]

    async def _done(self, message: SmsMessage, status: str, result: SendResult) -> None:
        """The provider has the text (its answer, or a lookup found it)."""
        SEND_OUTCOMES.labels("sent").inc()
        await self._write(
            message,
            status,
            link_status=result.status,
            status=result.status,
            provider_ref=result.provider_ref,
            sent_at=self.clock.now(),
            last_error=None,
            sealed_secret=None,
            next_attempt_at=None,
        )

    async def _unknown(self, message: SmsMessage, error: str) -> None:
        now = self.clock.now()
        SEND_OUTCOMES.labels("unknown").inc()
        await self._write(
            message, SENDING, status=UNKNOWN, last_error=error, next_attempt_at=now + LOOKUP_EVERY
        )
        log.warning(
            "sms_id=%s attempts=%s event=send_outcome_unknown", message.id, message.attempts
        )

    async def _not_sent(self, message: SmsMessage, error: str, *, permanent: bool) -> None:
        """Nothing was sent: retried after a backoff, until no retry can help."""
        attempts = message.attempts  # already counts this attempt (taken with the lease)
        if permanent or attempts >= MAX_ATTEMPTS:
            await self._fail(message, SENDING, error)
            return
        retry_at = self.clock.now() + backoff(attempts)
        SEND_OUTCOMES.labels("retry").inc()
        await self._write(
            message,
            SENDING,
            status=QUEUED,
            last_error=error,
            next_attempt_at=retry_at,
            sent_at=None,
        )
        log.warning("sms_id=%s attempts=%s event=send_failed final=False", message.id, attempts)

    async def _fail(self, message: SmsMessage, status: str, error: str) -> None:
        # a token that will never be sent is not kept; nor a time it was handed over
        gone = {"next_attempt_at": None, "sealed_secret": None, "sent_at": None}
        SEND_OUTCOMES.labels("failed").inc()
        await self._write(
            message, status, link_status=FAILED, status=FAILED, last_error=error, **gone
        )
        log.warning(
            "sms_id=%s attempts=%s event=send_failed final=True", message.id, message.attempts
        )

    async def _write(
        self, message: SmsMessage, expected: str, *, link_status: str | None = None, **values: Any
    ) -> bool:
        """Change the message if it is still as this worker leased it; the link's status card
        follows. False: a delivery report or another worker decided first."""
        async with self.maker() as s:
            result: CursorResult[Any] = await s.execute(  # type: ignore[assignment]
                update(SmsMessage)
                .where(
                    col(SmsMessage.id) == message.id,
                    col(SmsMessage.status) == expected,
                    col(SmsMessage.attempts) == message.attempts,
                )
                .values(**values)
            )
            changed = result.rowcount == 1
            if changed and link_status is not None:
                await link_follows_its_text(s, message, link_status, self.clock.now())
            await s.commit()
        return changed


def _error(exc: Exception) -> str:
    if isinstance(exc, SmsOutcomeUnknown | SmsNotSent):
        return str(exc)[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


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
