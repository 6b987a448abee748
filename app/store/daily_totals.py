"""The Reports page's daily totals (`DailyTotal`), kept in the same transaction as the ledger.

Every flush of a session that adds, changes or removes a Payment, Refund or Dispute counts the
difference it makes to the figures (domain/reports.py: what each row counts for) under its local
day, location, staff member and channel: the old part is read from the database (locked
`FOR UPDATE` on PostgreSQL, so what it subtracts is the row it overwrites), the new part from the
object. The statuses move only through services/payments/status.py; its conditional UPDATE (not
a flush) reports its move itself (`moved`).

The differences are written when the transaction commits, as its last statement: one
`INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n` (SQLite and PostgreSQL alike), so two
payments of the same day and place at once each add their own and neither is lost; a totals row
stays locked only from there to the commit (not through the rest of the transaction), and rows
are written in key order, so two commits never wait on each other in a circle. A rollback
forgets them with the rest.

A client's location (and a location's timezone) is read when the row is written: history stays
where it happened. `python -m app.store.daily_totals rebuild` sums the ledger afresh into the
table (after a bulk load, or to regroup history after a location change).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.domain import reports as rules
from app.domain.payment_states import NOT_ATTEMPTED_FROM
from app.domain.periods import local_today
from app.store.models import Client, DailyTotal, Dispute, Location, Payment, Refund

Key = tuple[date, int, int, str]  # local day, location, staff (0: none), channel
Row = dict[str, Any]  # a ledger row's columns that the figures read
Change = tuple[int, type, Row]  # +1 (added) or -1 (taken away), the kind, its columns

total_t: sa.Table = DailyTotal.__table__  # type: ignore[attr-defined]
KEY = ("day", "location_id", "staff_id", "channel")
READS: dict[type, tuple[str, ...]] = {
    Payment: ("id", "status", "amount_cents", "completed_at", "client_id", "staff_id", "channel"),
    Refund: ("id", "status", "kind", "amount_cents", "completed_at", "client_id", "payment_id"),
    Dispute: ("id", "amount_cents", "opened_at", "client_id", "payment_id"),
}
# A payment taken back as not attempted never counted: nothing to subtract (status.py).
assert not set(NOT_ATTEMPTED_FROM) & set(rules.COUNTED_PAYMENTS)


def counts(kind: type, row: Row) -> rules.Counts:
    if kind is Payment:
        return rules.payment_counts(row["status"], row["amount_cents"])
    if kind is Refund:
        return rules.refund_counts(row["status"], row["kind"], row["amount_cents"])
    return rules.dispute_counts(row["amount_cents"])


def _at(kind: type, row: Row) -> datetime | None:
    return row["opened_at"] if kind is Dispute else row["completed_at"]


# -- a flush -------------------------------------------------------------------------------


def _values(obj: Any) -> Row:
    return {name: getattr(obj, name) for name in READS[type(obj)]}


def _changed(obj: Any) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in READS[type(obj)])


def _stored(session: Session, wanted: Sequence[tuple[type, int | None]]) -> dict[Any, Row]:
    """The rows as the database holds them before this flush, locked until the commit."""
    found: dict[tuple[type, int], Row] = {}
    for kind in {k for k, _ in wanted}:
        ids = [i for k, i in wanted if k is kind and i is not None]
        table: sa.Table = kind.__table__  # type: ignore[attr-defined]
        stmt = select(*(table.c[n] for n in READS[kind])).where(table.c.id.in_(ids))
        for r in session.execute(stmt.with_for_update()).mappings():
            found[(kind, r["id"])] = dict(r)
    return found


def _flush_changes(session: Session) -> list[Change]:
    changes: list[Change] = [(1, type(o), _values(o)) for o in session.new if type(o) in READS]
    dirty = [o for o in session.dirty if type(o) in READS and _changed(o)]
    gone = [o for o in session.deleted if type(o) in READS]
    if dirty or gone:
        before = _stored(session, [(type(o), o.id) for o in dirty + gone])
        for obj in dirty + gone:
            old = before.get((type(obj), obj.id))
            if old is not None:
                changes.append((-1, type(obj), old))
        changes += [(1, type(o), _values(o)) for o in dirty]
    return changes


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if any(type(o) in READS for o in (*session.new, *session.dirty, *session.deleted)):
        add(session, _flush_changes(session))


# -- the sums ------------------------------------------------------------------------------


def _places(session: Session, client_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    rows = session.execute(
        select(Client.id, Client.location_id, Location.timezone)  # type: ignore[call-overload]
        .join(Location, Location.id == Client.location_id)
        .where(Client.id.in_(set(client_ids)))  # type: ignore[union-attr]
    )
    return {cid: (loc, tz) for cid, loc, tz in rows}


def _payers(session: Session, payment_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """(staff id or 0, channel) of each payment: a refund and a dispute count under them."""
    ids = set(payment_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Payment.id, Payment.staff_id, Payment.channel).where(  # type: ignore[call-overload]
            Payment.id.in_(ids)  # type: ignore[union-attr]
        )
    )
    return {pid: (staff or 0, channel) for pid, staff, channel in rows}


def deltas(session: Session, changes: Sequence[Change]) -> dict[Key, list[int]]:
    """What `changes` add to each key's totals (keys whose sums do not move are left out)."""
    parts = [(sign, kind, row, counts(kind, row)) for sign, kind, row in changes]
    parts = [p for p in parts if p[3] != rules.NOTHING and _at(p[1], p[2]) is not None]
    places = _places(session, (row["client_id"] for _, _, row, _ in parts)) if parts else {}
    payers = _payers(session, (r["payment_id"] for _, k, r, _ in parts if k is not Payment))
    out: dict[Key, list[int]] = defaultdict(lambda: [0] * len(rules.COUNTS))
    for sign, kind, row, part in parts:
        location_id, timezone = places[row["client_id"]]
        at = _at(kind, row)
        assert at is not None
        if kind is Payment:
            staff, channel = row["staff_id"] or 0, row["channel"]
        else:
            staff, channel = payers[row["payment_id"]]
        sums = out[(local_today(at, timezone), location_id, staff, channel)]
        for i, n in enumerate(part):
            sums[i] += sign * n
    return {k: v for k, v in out.items() if any(v)}


def upsert(dialect: str, sums: dict[Key, list[int]]) -> Any:
    """One INSERT … ON CONFLICT DO UPDATE that adds `sums` to their rows, in key order."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [dict(zip(KEY, key, strict=True)) | dict(zip(rules.COUNTS, sums[key], strict=True))
            for key in sorted(sums)]  # fmt: skip
    stmt = insert(total_t).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: total_t.c[name] + stmt.excluded[name] for name in rules.COUNTS},
    )


_PENDING = "daily_totals"  # in Session.info: the sums this transaction adds, until it commits


def add(session: Session, changes: Sequence[Change]) -> None:
    pending = session.info.setdefault(_PENDING, {})
    for key, sums in deltas(session, changes).items():
        have = pending.setdefault(key, [0] * len(rules.COUNTS))
        for i, n in enumerate(sums):
            have[i] += n


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # the outer commit writes them
    session.flush()  # what is still unflushed counts too
    pending = session.info.pop(_PENDING, None) or {}
    sums = {key: v for key, v in pending.items() if any(v)}
    if sums:
        session.execute(upsert(session.get_bind().dialect.name, sums))


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # rolled back (or committed, written already)
        session.info.pop(_PENDING, None)


def payment_may_move(sources: Iterable[str], new: str, values: Iterable[str]) -> bool:
    """Whether moving a payment from any of `sources` to `new`, writing `values`, can change
    the figures (status.py skips the extra read when it cannot)."""
    counted = set(rules.COUNTED_PAYMENTS)
    touched = set(values) & set(READS[Payment])
    return bool(touched) or new in counted or bool(counted & set(sources))


def locked_payment(session: Session, payment_id: int) -> Row | None:
    """A payment's columns the figures read, locked until the commit (status.py, before its
    conditional UPDATE)."""
    return _stored(session, [(Payment, payment_id)]).get((Payment, payment_id))


def moved(session: Session, before: Row, after: Row) -> None:
    """A payment's conditional UPDATE took it from `before` to `after`."""
    add(session, [(-1, Payment, before), (1, Payment, after)])


# -- rebuilt from the ledger ---------------------------------------------------------------


def rebuild_on(conn: Connection) -> int:
    """Sum the whole ledger afresh into the table (what it held is replaced). Returns the rows
    written."""
    from app.store.report_queries import ledger_totals  # the report's own fresh aggregate

    conn.execute(sa.delete(total_t))
    fresh = ledger_totals(conn, None)
    if fresh is None:
        return 0
    done = conn.execute(sa.insert(total_t).from_select([*KEY, *rules.COUNTS], fresh))
    return int(done.rowcount or 0)


async def rebuild(url: str) -> int:
    from app.store.db import make_engine

    engine = make_engine(url)
    async with engine.begin() as conn:
        rows = await conn.run_sync(rebuild_on)
    await engine.dispose()  # a failure ends the command (or the test) with its engine
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.store.daily_totals")
    parser.add_argument("command", choices=["rebuild"], help="sum the ledger afresh")
    parser.parse_args(argv)
    from app.settings import Settings

    rows = asyncio.run(rebuild(Settings().async_database_url))
    print(f"daily totals rebuilt: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
