"""Client search for PLUS Web: names and phone digits ("contains"), account numbers
("starts with"), each served by an index (migration 0007): pg_trgm GIN indexes on PostgreSQL,
the FTS5 trigram table client_search on SQLite.

`needle` holds the rules (what a query means, when it is too short); `search_clients` turns
a needle into one query whose cost does not grow with the number of clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, column, func, label, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.expression import ColumnClause
from sqlmodel import col

from app.store.models import Client, Location

# Fewer characters than this would match most clients, so they do not search (and an index
# of three-character sequences cannot serve them).
MIN_CHARS = 3
LIMIT = 25
# A query matching more clients than this is "broad": its rows are sorted from the first
# CANDIDATES + 1 found, not from all of them (which at 1M clients would be 80,000 rows for
# "mar"), and the page asks for more letters.
CANDIDATES = 1000
ACCOUNT_WIDTH = 6
MAX_QUERY = 80
DIGITS = frozenset("0123456789")
PHONE_PUNCTUATION = frozenset(" -().+")

# SQLite's FTS5 table over client (rowid = client.id), created by migration 0007.
client_search = table(
    "client_search",
    column("rowid", Integer),
    column("search_name", String),
    column("phone_digits", String),
)


@dataclass(frozen=True)
class Needle:
    text: str
    number: bool  # digits: an account number's start or part of a phone; else part of a name


@dataclass(frozen=True)
class ClientHit:
    id: int
    account_number: str
    first_name: str
    last_name: str
    phone_e164: str
    location_name: str


@dataclass(frozen=True)
class Results:
    rows: list[ClientHit]
    broad: bool  # more than CANDIDATES matched: the rows are LIMIT of them, not the first LIMIT


def needle(q: str) -> Needle | None:
    """What to look for, or None when the query is too short to search.

    Digits with only phone punctuation are a number (a leading US country code 1 is dropped
    from 11 digits); anything else is part of a name, lower-cased with spaces collapsed, as
    client.search_name is stored. Invisible characters count as spaces."""
    text = " ".join(
        "".join(ch if ch.isprintable() else " " for ch in q[:MAX_QUERY]).lower().split()
    )
    if any(ch in DIGITS for ch in text) and all(
        ch in DIGITS or ch in PHONE_PUNCTUATION for ch in text
    ):
        number = "".join(ch for ch in text if ch in DIGITS)
        if len(number) == 11 and number.startswith("1"):
            number = number[1:]
        return Needle(number, number=True) if len(number) >= MIN_CHARS else None
    if sum(ch.isalnum() for ch in text) < MIN_CHARS:
        return None
    return Needle(text, number=False)


async def search_clients(
    session: AsyncSession, found: Needle, candidates: int = CANDIDATES
) -> Results:
    """LIMIT clients by last name, first name and account number, sorted from at most
    `candidates` + 1 matches, so a broad query costs the same at 10k clients as at 1M."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if found.number:
        where = or_(
            _account_starts_with(found.text),
            _contains(
                postgres,
                found.text,
                col(Client.phone_digits),
                client_search.c.phone_digits,
                candidates,
            ),
        )
    else:
        where = _contains(
            postgres, found.text, col(Client.search_name), client_search.c.search_name, candidates
        )
    matches = (
        select(
            col(Client.id),
            col(Client.account_number),
            col(Client.first_name),
            col(Client.last_name),
            col(Client.phone_e164),
            col(Client.location_id),
        )
        .where(where)
        .limit(candidates + 1)
        .subquery()
    )
    stmt = (
        select(
            matches.c.id,
            matches.c.account_number,
            matches.c.first_name,
            matches.c.last_name,
            matches.c.phone_e164,
            label("location_name", col(Location.name)),
            label("matched", func.count().over()),
        )
        .join(Location, col(Location.id) == matches.c.location_id)
        .order_by(matches.c.last_name, matches.c.first_name, matches.c.account_number)
        .limit(LIMIT)
    )
    rows = (await session.execute(stmt)).mappings().all()
    hits = [ClientHit(**{k: v for k, v in row.items() if k != "matched"}) for row in rows]
    return Results(hits, broad=bool(rows) and rows[0]["matched"] > candidates)


def _contains(
    postgres: bool, text: str, searched: Mapped[str], indexed: ColumnClause[Any], candidates: int
) -> ColumnElement[bool]:
    if postgres:  # LIKE with at least 3 characters uses the column's trigram index
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return searched.like(f"%{escaped}%", escape="\\")
    # An FTS5 phrase of 3+ characters matches where it appears in the text; inside the
    # quotes nothing is an operator, and a quote is written twice. The limit stops FTS5 early
    # (SQLite would otherwise list every match before the outer limit).
    phrase = '"' + text.replace('"', '""') + '"'
    matching = select(client_search.c.rowid).where(indexed.match(phrase)).limit(candidates + 1)
    return col(Client.id).in_(matching)


def _account_starts_with(digits: str) -> ColumnElement[bool]:
    # Account numbers are six digits, so those starting with `digits` lie between two
    # six-digit strings, which every collation orders alike: the unique index serves it, on
    # both databases and in a prepared statement's generic plan (LIKE 'x%' would need a
    # constant pattern).
    low, high = digits.ljust(ACCOUNT_WIDTH, "0"), digits.ljust(ACCOUNT_WIDTH, "9")
    return col(Client.account_number).between(low, high)
