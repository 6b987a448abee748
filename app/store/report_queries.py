"""The Reports page's SQL, all of it: the database sums (GROUP BY); Python gets one row per day,
location, staff member or channel, never a row per payment.

Dates are the location's local dates. Each location in scope comes as a `Zone`: the UTC
instants its range begins and ends, and the UTC offsets in between (domain/reports.py cuts the
range where daylight saving changes the offset). A row counts when its instant falls in its own
location's bounds, and its local day is date(instant + offset): plain arithmetic that SQLite and
PostgreSQL both do, so both databases give the same answer. Indexes: migration 0013.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import outcomes
from app.domain.reports import Segment
from app.store.models import Location, StaffUser
from app.store.reads import (
    _held,
    client_t,
    invoice_t,
    link_t,
    location_t,
    payment_t,
    refund_t,
)

staff_t: sa.Table = StaffUser.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Zone:
    """A location in the report's scope, with its local range in UTC."""

    location_id: int
    start: datetime  # the first local midnight of the range, in UTC
    end: datetime  # the local midnight after the range, in UTC
    segments: Sequence[Segment]
    today: date  # the location's date now (past due is "due before today")


@dataclass(frozen=True)
class MoneyRow:
    key: Any  # a date, a location id, a staff id (None: no staff member) or a channel
    label: str
    payments: int
    collected_cents: int
    refunds: int
    refunded_cents: int
    declines: int
    declined_cents: int

    @property
    def net_cents(self) -> int:
        return self.collected_cents - self.refunded_cents


@dataclass(frozen=True)
class LinkRow:
    location_id: int | None  # None: every location in scope
    label: str
    sent: int
    opened: int
    paid: int


@dataclass(frozen=True)
class PastDueRow:
    location_id: int | None
    label: str
    invoices: int
    clients: int
    owed_cents: int


async def locations(session: AsyncSession) -> list[Location]:
    rows = (await session.execute(select(location_t).order_by(location_t.c.name))).mappings()
    return [Location(**r) for r in rows]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _shifted_date(dialect: str, at: sa.ColumnElement[Any], seconds: int) -> Any:
    """date(at + seconds), at being a UTC timestamp, on either database."""
    if dialect == "sqlite":
        return func.date(at, literal(f"{seconds:+d} seconds"))
    utc = func.timezone(literal("UTC"), at)  # timestamptz -> the UTC wall clock
    return sa.cast(utc + literal(timedelta(seconds=seconds), sa.Interval()), sa.Date)


def _local_day(dialect: str, at: sa.ColumnElement[Any], zones: Sequence[Zone]) -> Any:
    whens = []
    for zone in zones:
        here = client_t.c.location_id == zone.location_id
        for seg in zone.segments:
            whens.append((and_(here, at < seg.end), _shifted_date(dialect, at, seg.offset_seconds)))
    return sa.type_coerce(case(*whens, else_=None), sa.Date)


def _in_range(at: sa.ColumnElement[Any], zones: Sequence[Zone]) -> sa.ColumnElement[bool]:
    """`at` within its own location's local range; the outer bounds first, for the index."""
    first, last = min(z.start for z in zones), max(z.end for z in zones)
    each = [and_(client_t.c.location_id == z.location_id, at >= z.start, at < z.end) for z in zones]
    return and_(at >= first, at < last, or_(*each))


def _money_events(dialect: str, zones: Sequence[Zone]) -> sa.Subquery:
    """One row per settled or declined payment and per refund given, with its local day,
    location, staff member (the payment's) and channel (the payment's)."""
    pay, ref = payment_t.c, refund_t.c
    settled = pay.status.in_(outcomes.SETTLED)
    zero = literal(0)
    payments = (
        select(
            _local_day(dialect, pay.completed_at, zones).label("day"),
            client_t.c.location_id.label("location_id"),
            pay.staff_id.label("staff_id"),
            pay.channel.label("channel"),
            case((settled, 1), else_=0).label("payments"),
            case((settled, pay.amount_cents), else_=0).label("collected"),
            zero.label("refunds"),
            zero.label("refunded"),
            case((pay.status == "failed", 1), else_=0).label("declines"),
            case((pay.status == "failed", pay.amount_cents), else_=0).label("declined"),
        )
        .join(client_t, client_t.c.id == pay.client_id)
        .where(pay.status.in_((*outcomes.SETTLED, "failed")), _in_range(pay.completed_at, zones))
    )
    refunds = (
        select(
            _local_day(dialect, ref.completed_at, zones),
            client_t.c.location_id,
            pay.staff_id,
            pay.channel,
            zero,
            zero,
            literal(1),
            ref.amount_cents,
            zero,
            zero,
        )
        .join(payment_t, pay.id == ref.payment_id)
        .join(client_t, client_t.c.id == ref.client_id)
        .where(ref.status == "succeeded", _in_range(ref.completed_at, zones))
    )
    return sa.union_all(payments, refunds).subquery("events")


def _sums(e: sa.Subquery | sa.CTE) -> list[Any]:
    return [
        func.coalesce(func.sum(e.c[name]), 0).label(name)
        for name in ("payments", "collected", "refunds", "refunded", "declines", "declined")
    ]


def _money_row(key: Any, label: str, r: Any) -> MoneyRow:
    if r is None:
        return MoneyRow(key, label, 0, 0, 0, 0, 0, 0)
    return MoneyRow(
        key=key,
        label=label,
        payments=int(r.payments),
        collected_cents=int(r.collected),
        refunds=int(r.refunds),
        refunded_cents=int(r.refunded),
        declines=int(r.declines),
        declined_cents=int(r.declined),
    )


@dataclass(frozen=True)
class Money:
    total: MoneyRow
    by_day: list[MoneyRow]
    by_location: list[MoneyRow]
    by_staff: list[MoneyRow]
    by_channel: list[MoneyRow]


async def money(session: AsyncSession, zones: Sequence[Zone]) -> Money:
    """Collected, refunded and declined, in total and by day, location, staff and channel:
    one statement, one pass over the range's payments and refunds. The database first sums
    them by (day, location, staff, channel) — a few hundred rows at most — then rolls that up
    once per dimension."""
    dialect = _dialect(session)
    if dialect == "postgresql":
        # Room to group in memory: PostgreSQL overestimates the (day, location, staff,
        # channel) groups and, at the default 4 MB, sorts a year of payments on disk instead
        # of hashing them (a year on the 100k bench set: ~2.5 s -> ~1.5 s). This transaction only.
        await session.execute(sa.text("SET LOCAL work_mem = '32MB'"))
    e = _money_events(dialect, zones)
    dims = (e.c.day, e.c.location_id, e.c.staff_id, e.c.channel)
    fine = select(*dims, *_sums(e)).group_by(*dims).cte("fine")
    f = fine.c

    def rollup(dim: str, *keep: Any) -> Any:
        cols: dict[str, Any] = {
            "day": sa.type_coerce(sa.null(), sa.Date),
            "location_id": sa.cast(sa.null(), sa.Integer),
            "staff_id": sa.cast(sa.null(), sa.Integer),
            "channel": sa.cast(sa.null(), sa.String),
        }
        cols |= {c.name: c for c in keep}
        part = select(
            literal(dim).label("dim"),
            *(col.label(name) for name, col in cols.items()),
            *_sums(fine),
        )
        return part.group_by(*keep) if keep else part

    stmt = sa.union_all(
        rollup("total"),
        rollup("day", f.day),
        rollup("location", f.location_id),
        rollup("staff", f.staff_id),
        rollup("channel", f.channel),
    )
    rows = (await session.execute(stmt)).all()
    staff_ids = {r.staff_id for r in rows if r.dim == "staff" and r.staff_id is not None}
    names = await _names(session, staff_t, staff_ids)
    places = await _names(session, location_t, {r.location_id for r in rows if r.dim == "location"})
    total = next((r for r in rows if r.dim == "total"), None)
    part = {
        dim: [r for r in rows if r.dim == dim] for dim in ("day", "location", "staff", "channel")
    }
    by_staff = [_money_row(r.staff_id, names.get(r.staff_id, ""), r) for r in part["staff"]]
    return Money(
        total=_money_row(None, "All", total)
        if total is not None
        else _money_row(None, "All", None),
        by_day=sorted(
            (_money_row(_as_date(r.day), "", r) for r in part["day"]), key=lambda m: m.key
        ),
        by_location=sorted(
            (_money_row(r.location_id, places.get(r.location_id, ""), r) for r in part["location"]),
            key=lambda m: m.label,
        ),
        by_staff=sorted(by_staff, key=lambda m: (m.key is None, m.label, m.key or 0)),
        by_channel=sorted(
            (_money_row(r.channel, r.channel, r) for r in part["channel"]), key=lambda m: m.key
        ),
    )


async def _names(session: AsyncSession, table: sa.Table, ids: set[Any]) -> dict[Any, str]:
    ids.discard(None)
    if not ids:
        return {}
    rows = await session.execute(select(table.c.id, table.c.name).where(table.c.id.in_(ids)))
    return {i: name for i, name in rows}


def _as_date(value: Any) -> date:
    # SQLite's date() answers text; type_coerce(Date) parses it, but be explicit for both.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- payment links -------------------------------------------------------------------------


async def links(session: AsyncSession, zones: Sequence[Zone]) -> list[LinkRow]:
    """Links sent in the range, by location: how many were opened and paid (whenever)."""
    opened = or_(link_t.c.opened_at.is_not(None), link_t.c.paid_at.is_not(None))
    rows = await session.execute(
        select(
            client_t.c.location_id,
            location_t.c.name,
            func.count().label("sent"),
            func.coalesce(func.sum(case((opened, 1), else_=0)), 0).label("opened"),
            func.count(link_t.c.paid_at).label("paid"),
        )
        .select_from(link_t)
        .join(client_t, client_t.c.id == link_t.c.client_id)
        .join(location_t, location_t.c.id == client_t.c.location_id)
        .where(link_t.c.sent_at.is_not(None), _in_range(link_t.c.sent_at, zones))
        .group_by(client_t.c.location_id, location_t.c.name)
        .order_by(location_t.c.name)
    )
    return [LinkRow(r.location_id, r.name, int(r.sent), int(r.opened), int(r.paid)) for r in rows]


def _seconds_to_pay(dialect: str) -> Any:
    paid, sent = link_t.c.paid_at, link_t.c.sent_at
    if dialect == "sqlite":
        days = func.julianday(paid) - func.julianday(sent)
        return sa.cast(func.round(days * 86400), sa.Integer)
    return sa.cast(func.round(func.extract("epoch", paid - sent)), sa.BigInteger)


async def middle_seconds_to_pay(
    session: AsyncSession, zones: Sequence[Zone], offset: int, count: int
) -> list[int]:
    """The `count` values at `offset` of the sorted times from text to payment of the paid
    links sent in the range (domain.reports.median_window says which)."""
    if count <= 0:
        return []
    seconds = _seconds_to_pay(_dialect(session)).label("seconds")
    rows = await session.execute(
        select(seconds)
        .select_from(link_t)
        .join(client_t, client_t.c.id == link_t.c.client_id)
        .where(
            link_t.c.sent_at.is_not(None),
            link_t.c.paid_at.is_not(None),
            _in_range(link_t.c.sent_at, zones),
        )
        .order_by(seconds)
        .offset(offset)
        .limit(count)
    )
    return [int(s) for (s,) in rows]


# -- past due ------------------------------------------------------------------------------


async def past_due(session: AsyncSession, zones: Sequence[Zone]) -> list[PastDueRow]:
    """Open invoices past due today, by location: how many, for how many clients, and what is
    still owed on them (the total less what payments still hold: reads.open_invoices' amount).
    Past due is domain.summary.is_past_due — open, and due before the location's today — said
    here in SQL so the database can sum it; tests/integration/test_reports.py checks the sums
    against domain.summary.past_due_total of every client's open invoices."""
    inv = invoice_t.c
    each = [and_(client_t.c.location_id == z.location_id, inv.due_date < z.today) for z in zones]
    rows = await session.execute(
        select(
            client_t.c.location_id,
            location_t.c.name,
            func.count().label("invoices"),
            func.count(sa.distinct(inv.client_id)).label("clients"),
            func.coalesce(func.sum(inv.amount_cents + inv.tax_cents - _held()), 0).label("owed"),
        )
        .select_from(invoice_t)
        .join(client_t, client_t.c.id == inv.client_id)
        .join(location_t, location_t.c.id == client_t.c.location_id)
        .where(inv.status == "open", inv.due_date < max(z.today for z in zones), or_(*each))
        .group_by(client_t.c.location_id, location_t.c.name)
        .order_by(location_t.c.name)
    )
    return [
        PastDueRow(r.location_id, r.name, int(r.invoices), int(r.clients), int(r.owed))
        for r in rows
    ]
