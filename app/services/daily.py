"""A job the app runs once a day in-process (AutoPay, reminders): at a UTC time of day, by one
of the app's processes (an advisory lock on PostgreSQL); the job itself is idempotent, so a
second runner would change nothing anyway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock
from app.store.advisory import single_runner

log = logging.getLogger("monitorpay.daily")


def next_run_at(now: datetime, at: time) -> datetime:
    """The next daily run at `at` (UTC) strictly after `now`."""
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


async def every_day(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    at: time,
    name: str,
    job: Callable[[], Awaitable[Iterable[str]]],
) -> None:
    """Run `job` each day at `at` until cancelled, logging the lines it reports; an error is
    logged and the schedule goes on."""
    while True:
        now = clock.now()
        await asyncio.sleep(max(1.0, (next_run_at(now, at) - now).total_seconds()))
        try:
            async with single_runner(maker.kw["bind"], f"{name}-daily") as mine:
                if not mine:  # another instance runs today's job
                    continue
                lines = await job()
            for line in lines:
                log.info("event=%s_daily %s", name, line)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the schedule alive; the error is logged
            log.exception("event=%s_daily_error", name)
