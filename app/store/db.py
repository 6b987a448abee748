"""Engine and sessions. SQLite gets WAL, a busy timeout and foreign keys. PostgreSQL gets no
ping per checkout (a round trip on every request): a connection the server closed (restart,
terminated backend, idle timeout) is noticed by asyncpg itself and replaced at checkout without
asking the server; connections are recycled after `RECYCLE_SECONDS`, below the usual idle
limits of servers and proxies.

A connection that dies in use fails that one statement and is discarded (`connection_gone`
tells SQLAlchemy it is a disconnect), and SQLAlchemy then renews every connection of the pool
opened before it. asyncpg alone does not say so in one case: a backend terminated while its
connection sat idle in the pool sends its FATAL error first and closes the socket after; a
checkout between the two sees an open connection whose protocol is still swallowing that
error, and its first statement fails with "another operation (2) is in progress" (2 is
asyncpg's PROTOCOL_ERROR_CONSUME). SQLAlchemy's asyncpg dialect only counts a connection as
lost once `is_closed()`, so without the rule below that failure was not a disconnect: the
connection was not invalidated, the pool kept the other terminated ones, and the request
answered 500."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

RECYCLE_SECONDS = 1800
# SQLSTATEs of a server that ended or refuses this connection: class 08 (connection exception),
# 57P01-57P03 (terminated by an administrator, crash shutdown, cannot connect now).
_GONE_SQLSTATE = re.compile(r"08...|57P0[123]")
_ERROR_CONSUME = re.compile(r"another operation \(2\) is in progress")


def _gone(exc: BaseException) -> bool:
    if isinstance(exc, DisconnectionError | ConnectionError):
        return True  # refused, reset or closed at the socket
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return True
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return bool(_ERROR_CONSUME.search(str(exc)))
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and bool(_GONE_SQLSTATE.fullmatch(sqlstate))


def connection_gone(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database connection was lost or refused:
    the connection is unusable, nothing of its open transaction was committed, and asking again
    on a new connection may work. One rule for the pool (invalidate) and the web (503, retry)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    seen: BaseException | None = exc
    for _ in range(10):  # a cause chain is short; never loop on a cycle
        if seen is None:
            return False
        if _gone(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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

    @event.listens_for(engine.sync_engine, "handle_error")
    def _disconnect(context: ExceptionContext) -> None:
        """A lost connection is invalidated (closed, never back in the pool), and the pool
        renews the connections opened before it: the server may have ended those too."""
        if not context.is_disconnect and connection_gone(context.original_exception):
            context.is_disconnect = True

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
