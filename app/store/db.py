"""Engine and sessions. SQLite gets WAL, a busy timeout and foreign keys. PostgreSQL gets no
ping per checkout (a round trip on every request): a connection the server closed (restart,
terminated backend, idle timeout) is noticed by asyncpg itself and replaced at checkout without
asking the server; connections are recycled after `RECYCLE_SECONDS`, below the usual idle
limits of servers and proxies. A connection that dies in use fails that one request, and
SQLAlchemy then renews every connection of the pool opened before it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

RECYCLE_SECONDS = 1800


def make_engine(
    url: str, *, pool_size: int | None = None, pool_timeout: float | None = None, **kwargs: Any
) -> AsyncEngine:
    """`pool_size`: a fixed pool with no overflow; waiting longer than `pool_timeout` for a
    connection raises sqlalchemy's TimeoutError (the web layer answers 503)."""
    if pool_size is not None:
        kwargs |= {"pool_size": pool_size, "max_overflow": 0}
    if pool_timeout is not None:
        kwargs["pool_timeout"] = pool_timeout
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # JIT off: the hot reads are small indexed queries, but on a large ledger the planner's
    # cost estimate crosses jit_above_cost and every request paid ~150 ms compiling (bench/).
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("server_settings", {}).setdefault("jit", "off")
    engine = create_async_engine(
        url, pool_recycle=RECYCLE_SECONDS, connect_args=connect_args, **kwargs
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _unusable(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        """Closed by the server, or opened on another event loop (an engine shared by two
        loops, as tests do): the pool replaces it, without a round trip."""
        driver = getattr(dbapi_conn, "driver_connection", None)
        if driver is None:
            return
        if driver.is_closed() or getattr(driver, "_loop", None) is not asyncio.get_running_loop():
            raise DisconnectionError("connection closed or on another event loop")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
