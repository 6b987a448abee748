"""The Reports page's SQL, all of it: the database sums (GROUP BY); Python gets one row per day,
location, staff member or channel, never a row per payment. The money is read from the daily
totals (store/daily_totals.py keeps them with every ledger write); `ledger_totals` is the same
figures summed afresh from the ledger (the rebuild, and the tests that hold the two equal).

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
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import outcomes
from app.domain import reports as rules
from app.domain.reports import COUNTS, DateRange, Segment, offset_segments, utc_bounds
from app.store.models import DailyTotal, Location, StaffUser
from app.store.reads import (
    _held,
    client_t,
    dispute_t,
    invoice_t,
    link_t,
    location_t,
    payment_t,
    refund_t,
)

staff_t: sa.Table = StaffUser.__table__  # type: ignore[attr-defined]
total_t: sa.Table = DailyTotal.__table__  # type: ignore[attr-defined]


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
    # Disputes apart from refunds: opened in the range (and what they dispute), and lost in it
    # (what lost disputes gave back: a refund of kind `dispute`, counted here, not as refunds).
    disputes: int = 0
    disputed_cents: int = 0
    lost: int = 0
    lost_cents: int = 0

    @property
    def net_cents(self) -> int:
        return self.collected_cents - self.refunded_cents - self.lost_cents


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
    """One row per settled or declined payment, per refund given (a lost dispute's apart) and
    per dispute opened, with its local day, location, staff member (the payment's) and channel
    (the payment's)."""
    pay, ref, dis = payment_t.c, refund_t.c, dispute_t.c
    lost = ref.kind == rules.LOST_DISPUTE
    settled = pay.status.in_(outcomes.SETTLED)
    failed = pay.status == rules.DECLINED
    zero = literal(0)
    payments = (
        select(
            _local_day(dialect, pay.completed_at, zones).label("day"),
            client_t.c.location_id.label("location_id"),
            pay.staff_id.label("staff_id"),
            pay.channel.label("channel"),
            case((settled, 1), else_=0).label("payments"),
            case((settled, pay.amount_cents), else_=0).label("collected_cents"),
            zero.label("refunds"),
            zero.label("refunded_cents"),
            case((failed, 1), else_=0).label("declines"),
            case((failed, pay.amount_cents), else_=0).label("declined_cents"),
            zero.label("disputes"),
            zero.label("disputed_cents"),
            zero.label("lost"),
            zero.label("lost_cents"),
        )
        .join(client_t, client_t.c.id == pay.client_id)
        .where(pay.status.in_(rules.COUNTED_PAYMENTS), _in_range(pay.completed_at, zones))
    )
    refunds = (
        select(
            _local_day(dialect, ref.completed_at, zones),
            client_t.c.location_id,
            pay.staff_id,
            pay.channel,
            zero,
            zero,
            case((lost, 0), else_=1),
            case((lost, 0), else_=ref.amount_cents),
            zero,
            zero,
            zero,
            zero,
            case((lost, 1), else_=0),
            case((lost, ref.amount_cents), else_=0),
        )
        .join(payment_t, pay.id == ref.payment_id)
        .join(client_t, client_t.c.id == ref.client_id)
        .where(ref.status == "succeeded", _in_range(ref.completed_at, zones))
    )
    disputes = (
        select(
            _local_day(dialect, dis.opened_at, zones),
            client_t.c.location_id,
            pay.staff_id,
            pay.channel,
            *(zero,) * 6,
            literal(1),
            dis.amount_cents,
            zero,
            zero,
        )
        .join(payment_t, pay.id == dis.payment_id)
        .join(client_t, client_t.c.id == dis.client_id)
        .where(_in_range(dis.opened_at, zones))
    )
    return sa.union_all(payments, refunds, disputes).subquery("events")


def _sums(e: sa.Subquery | sa.CTE) -> list[Any]:
    return [func.coalesce(func.sum(e.c[name]), 0).label(name) for name in COUNTS]


def _money_row(key: Any, label: str, r: Any) -> MoneyRow:
    if r is None:
        return MoneyRow(key, label, 0, 0, 0, 0, 0, 0)
    return MoneyRow(key, label, **{name: int(getattr(r, name)) for name in COUNTS})


@dataclass(frozen=True)
class Money:
    total: MoneyRow
    by_day: list[MoneyRow]
    by_location: list[MoneyRow]
    by_staff: list[MoneyRow]
    by_channel: list[MoneyRow]


def _kept(location_ids: Sequence[int], span: DateRange) -> sa.CTE:
    """The daily totals of the range's local days at these locations (staff 0 read as none);
    rows whose every count went back to zero (a decline that later succeeded) left out, as a
    fresh sum would never show them."""
    t = total_t.c
    return (
        select(
            t.day,
            t.location_id,
            sa.case((t.staff_id == 0, sa.null()), else_=t.staff_id).label("staff_id"),
            t.channel,
            *(t[name] for name in COUNTS),
        )
        .where(
            t.day >= span.start,
            t.day <= span.end,
            t.location_id.in_(list(location_ids)),
            or_(*(t[n] != 0 for n in ("payments", "refunds", "declines", "disputes", "lost"))),
        )
        .cte("fine")
    )


async def money(session: AsyncSession, location_ids: Sequence[int], span: DateRange) -> Money:
    """Collected, refunded, declined and disputed, in total and by day, location, staff and
    channel: one statement over the daily totals (a row per day, location, staff member and
    channel with activity), rolled up once per dimension."""
    fine = _kept(location_ids, span)
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
        total=_money_row(None, "All", total),
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


# -- the same figures, summed afresh from the ledger ---------------------------------------


def _whole_history(conn: Connection) -> list[Zone] | None:
    """Every location, over every local day the ledger has a dated row on (None: no rows)."""
    firsts, lasts = [], []
    for at in (payment_t.c.completed_at, refund_t.c.completed_at, dispute_t.c.opened_at):
        first, last = conn.execute(select(func.min(at), func.max(at))).one()
        firsts += [first] if first is not None else []
        lasts += [last] if last is not None else []
    if not firsts:
        return None
    # a day either side: a location's local date is within a day of the UTC one
    span = DateRange(
        _utc_date(min(firsts)) - timedelta(days=1), _utc_date(max(lasts)) + timedelta(days=1)
    )
    zones = []
    for loc_id, timezone in conn.execute(select(location_t.c.id, location_t.c.timezone)):
        start, end = utc_bounds(span, timezone)
        segments = offset_segments(span, timezone)
        zones.append(Zone(loc_id, start, end, segments, span.end))
    return zones


def _utc_date(at: datetime | str) -> date:
    return (at if isinstance(at, datetime) else datetime.fromisoformat(str(at))).date()


def ledger_totals(conn: Connection, zones: Sequence[Zone] | None) -> sa.Select[Any] | None:
    """The daily totals summed afresh from the ledger, one row per (local day, location, staff
    or 0, channel) with activity, in the table's columns (`zones`: where and when; None: the
    whole history, or None when the ledger has nothing dated)."""
    zones = zones if zones is not None else _whole_history(conn)
    if not zones:
        return None
    e = _money_events(conn.dialect.name, zones)
    staff = func.coalesce(e.c.staff_id, 0)
    dims = (e.c.day, e.c.location_id, staff, e.c.channel)
    return select(
        e.c.day, e.c.location_id, staff.label("staff_id"), e.c.channel, *_sums(e)
    ).group_by(*dims)


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
    against domain.summary.past_due_total of every client's open invoices, and
    tests/integration/test_past_due_sql.py around the boundary in two timezones."""
    inv = invoice_t.c
    # domain.summary.is_past_due, per location (its own today): the rule itself.
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
        # domain.summary.is_past_due again, against the latest today in scope: a range on
        # ix_invoice_status_due that `each` narrows per location (both pinned by the tests).
        .where(inv.status == "open", inv.due_date < max(z.today for z in zones), or_(*each))
        .group_by(client_t.c.location_id, location_t.c.name)
        .order_by(location_t.c.name)
    )
    return [
        PastDueRow(r.location_id, r.name, int(r.invoices), int(r.clients), int(r.owed))
        for r in rows
    ]
