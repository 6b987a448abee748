"""One instance at a time: reconciliation and the in-process schedules (AutoPay daily).

On PostgreSQL a session-level advisory lock, held on one connection for the length of the
job; a second instance that cannot take it skips that round. On SQLite (one machine, the
embedded default) the job runs: every job is idempotent anyway, so an overlap changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.store.db import connection_gone


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def single_runner(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    """Yields True when this instance may run `name` now."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = _key(name)
    async with engine.connect() as conn:
        got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        try:
            yield got
        finally:
            if got:
                await _unlock(conn, key)


async def _unlock(conn: AsyncConnection, key: int) -> None:
    """A connection lost meanwhile took its session's advisory lock with it: nothing to undo,
    and its error must not hide the job's own outcome."""
    try:
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        await conn.commit()
    except DBAPIError as exc:
        if not connection_gone(exc):
            raise
