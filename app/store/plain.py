"""A plain connection for the hot reads (store/hot_reads.py, reads.ledger_page): the request
session's own driver connection (asyncpg on PostgreSQL, which prepares each statement once per
connection and keeps it; aiosqlite on SQLite), asked with SQL written once at import, with
`$N` parameters (`?N` on SQLite: the same statement on both databases). Rows come back as
tuples; SQLite's text dates and 0/1 booleans are turned into what asyncpg gives.

Taking the session's connection (or checking one out for it) keeps one connection per request,
given back with the session. On PostgreSQL a read outside the session's transaction runs in
autocommit: each statement sees the database as it is then."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# Whoever wants to see every statement sent (tests/integration/test_query_counts.py counts them
# with the ORM's). Empty in the app: one truth test per statement.
observers: list[Callable[[str], None]] = []

Row = Sequence[Any]
Fix = Callable[[Any], Any] | None


# -- what SQLite hands back as text or 0/1 ----------------------------------------------------
def time_of(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def date_of(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def truth(value: Any) -> bool:
    return bool(value)


def sqlite_time(at: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DATETIME stores it (so text compares in time order)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Plain:
    """The session's driver connection, asked with SQL written once."""

    def __init__(self, driver: Any, sqlite: bool) -> None:
        self.driver = driver
        self.sqlite = sqlite

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        for observe in observers:
            observe(sql)
        if self.sqlite:
            cursor = await self.driver.execute(_SQLITE.get(sql) or _to_sqlite(sql), args)
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()
        return list(await self.driver.fetch(sql, *args))

    def fixed(self, rows: list[Row], fixes: Sequence[Fix]) -> list[Row]:
        """SQLite's text dates and 0/1 booleans as PostgreSQL's driver gives them."""
        if not self.sqlite:
            return rows
        width = len(rows[0]) if rows else 0  # fixes past the row's end: columns not asked for
        pairs = [(i, f) for i, f in enumerate(fixes[:width]) if f is not None]
        out: list[Row] = []
        for row in rows:
            values = list(row)
            for i, fix in pairs:
                values[i] = fix(values[i])
            out.append(values)
        return out

    def time(self, at: datetime) -> Any:
        return sqlite_time(at) if self.sqlite else at

    def day(self, on: date) -> Any:
        return on.isoformat() if self.sqlite else on


_SQLITE: dict[str, str] = {}


def _to_sqlite(sql: str) -> str:
    """`$1` → `?1` (SQLite's numbered parameters): the same statement on both databases."""
    converted = re.sub(r"\$(\d+)", r"?\1", sql)
    _SQLITE[sql] = converted
    return converted


async def plain(session: AsyncSession) -> Plain:
    """The driver connection under the session's (checked out for it when it has none yet)."""
    connection = await session.connection()
    # The checked-out connection's pool entry, read without another greenlet hop (what
    # AsyncConnection.get_raw_connection returns, awaited).
    raw = connection.sync_connection.connection if connection.sync_connection else None
    if raw is None:
        raw = await connection.get_raw_connection()
    return Plain(raw.driver_connection, connection.dialect.name == "sqlite")
