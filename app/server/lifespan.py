"""The app's lifespan: the background schedules the settings turn on (the SMS worker, AutoPay and
reminders once a day, reconciliation every few minutes) run while the app serves; at shutdown
they are cancelled and the resources closed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar

from app.server.resources import Resources
from app.services import autopay, reconcile, reminders, sms_worker

Job = Coroutine[Any, Any, None]


def schedules(res: Resources) -> list[Job]:
    """The background jobs the settings turn on, not started yet."""
    s, maker, clock = res.settings, res.sessionmaker, res.clock
    jobs: list[Job] = []
    if s.sms_worker:
        jobs.append(sms_worker.run_forever(maker, res.sms, clock, s.sms_poll_seconds, res.box))
    if s.autopay_daily_at is not None:
        jobs.append(
            autopay.run_daily(
                maker,
                res.gateway,
                clock,
                s.company_name,
                s.autopay_daily_at,
                policy=autopay.Policy.from_settings(s),
            )
        )
    if s.remind_daily_at is not None:
        jobs.append(
            reminders.run_daily(
                maker, clock, s.company_name, s.remind_daily_at, s.remind_days_before
            )
        )
    if s.reconcile_every_seconds > 0:
        grace = timedelta(seconds=s.reconcile_grace_seconds)
        jobs.append(
            reconcile.run_every(
                maker, res.gateway, clock, s.company_name, s.reconcile_every_seconds, grace
            )
        )
    return jobs


def lifespan(res: Resources) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        background = [asyncio.create_task(job) for job in schedules(res)]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await res.close()

    return run
