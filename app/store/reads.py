"""The hot reads, as columns (SQLAlchemy Core): the client's account with its vehicles in one
statement, its open invoices in one, a page of its ledger in one. Nothing here writes; the
writes keep the ORM.

Locations are read from a per-process cache that is refreshed every `LOCATION_TTL_SECONDS`
(and at once for a location it has not seen). Nothing in the app writes locations (the seed
does, before the server starts); a price changed in the database shows within the TTL on every
process. It is never what is charged: every path that charges (send link, Take Payment, My
Account, AutoPay) computes its snapshot from the location it reads in its own transaction, and
sending a link refuses a total that moved since staff reviewed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy import Engine, and_, case, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import outcomes
from app.domain.summary import OpenInvoice
from app.store.models import (
    Client,
    Dispute,
    Invoice,
    Location,
    Payment,
    PaymentAllocation,
    PaymentLink,
    Refund,
    UTCDateTime,
    Vehicle,
)
from app.store.plain import Fix, date_of, plain, time_of

LOCATION_TTL_SECONDS = 30.0


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


client_t, vehicle_t, location_t = _table(Client), _table(Vehicle), _table(Location)
invoice_t, payment_t, refund_t = _table(Invoice), _table(Payment), _table(Refund)
allocation_t, link_t = _table(PaymentAllocation), _table(PaymentLink)
dispute_t = _table(Dispute)


@dataclass(frozen=True, slots=True)
class ClientView:
    id: int
    account_number: str
    first_name: str
    last_name: str
    phone_e164: str
    email: str
    sms_opt_out: bool
    location_id: int
    language: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class VehicleView:
    id: int
    year: int
    make: str
    model: str
    plate: str
    device_serial: str
    billing_cycle_days: int
    paid_through: date
    next_appointment: datetime | None

    @property
    def label(self) -> str:
        return f"{self.year} {self.make} {self.model}"


@dataclass(frozen=True, slots=True)
class AccountView:
    client: ClientView
    location: Location  # shared by every request of this process: read it, never add it
    vehicles: list[VehicleView]
    latest_link: PaymentLink | None = None  # with `account(..., latest_link=True)`

    @property
    def labels(self) -> dict[int, str]:
        return {v.id: v.label for v in self.vehicles}


# -- locations ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Locations:
    by_id: dict[int, Location]
    loaded_at: float


_locations: WeakKeyDictionary[Engine, _Locations] = WeakKeyDictionary()


async def location(session: AsyncSession, location_id: int) -> Location:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    cached = _locations.get(engine)
    now = time.monotonic()
    if (
        cached is None
        or now - cached.loaded_at > LOCATION_TTL_SECONDS
        or (location_id not in cached.by_id)
    ):
        rows = (await session.execute(select(location_t))).mappings().all()
        cached = _Locations({r["id"]: Location(**r) for r in rows}, now)
        _locations[engine] = cached
    return cached.by_id[location_id]


# -- the account ----------------------------------------------------------------------------
_CLIENT_COLS = [getattr(client_t.c, f) for f in ClientView.__dataclass_fields__]
_VEHICLE_COLS = [getattr(vehicle_t.c, f).label(f"v_{f}") for f in VehicleView.__dataclass_fields__]
_LINK_COLS = [c.label(f"l_{c.name}") for c in link_t.c]


async def account(
    session: AsyncSession, client_id: int, *, latest_link: bool = False
) -> AccountView | None:
    """The client, its location and vehicles (and its newest payment link) in one statement."""
    stmt = (
        select(*_CLIENT_COLS, *_VEHICLE_COLS)
        .outerjoin(vehicle_t, vehicle_t.c.client_id == client_t.c.id)
        .where(client_t.c.id == client_id)
        .order_by(vehicle_t.c.id)
    )
    if latest_link:
        other = link_t.alias("newest")
        newest = (
            select(other.c.id)
            .where(other.c.client_id == client_t.c.id)
            .order_by(other.c.created_at.desc(), other.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = stmt.add_columns(*_LINK_COLS).outerjoin(link_t, link_t.c.id == newest)
    rows = (await session.execute(stmt)).mappings().all()
    if not rows:
        return None
    first = rows[0]
    client = ClientView(**{f: first[f] for f in ClientView.__dataclass_fields__})
    vehicles = [
        VehicleView(**{f: r[f"v_{f}"] for f in VehicleView.__dataclass_fields__})
        for r in rows
        if r["v_id"] is not None
    ]
    link = None
    if latest_link and first["l_id"] is not None:
        link = PaymentLink(**{c.name: first[f"l_{c.name}"] for c in link_t.c})
    return AccountView(
        client=client,
        location=await location(session, client.location_id),
        vehicles=vehicles,
        latest_link=link,
    )


def _held() -> sa.ScalarSelect[Any]:
    """What payments still hold of the invoice in the enclosing statement."""
    return (
        select(func.coalesce(func.sum(allocation_t.c.amount_cents), 0))
        .where(allocation_t.c.invoice_id == invoice_t.c.id)
        .scalar_subquery()
    )


async def open_invoices(session: AsyncSession, client_id: int) -> list[OpenInvoice]:
    """The account's open invoices with what is still due on each: the total, less what
    payments still hold of it (an invoice a partial refund reopened owes only its share)."""
    rows = await session.execute(
        select(
            invoice_t.c.id,
            invoice_t.c.number,
            invoice_t.c.description,
            invoice_t.c.amount_cents + invoice_t.c.tax_cents - _held(),
            invoice_t.c.due_date,
        )
        .where(invoice_t.c.client_id == client_id, invoice_t.c.status == "open")
        .order_by(invoice_t.c.due_date, invoice_t.c.id)
    )
    return [OpenInvoice(i, n, d, int(cents), due) for i, n, d, cents, due in rows]


async def open_invoices_by_client(
    session: AsyncSession, client_ids: set[int]
) -> dict[int, list[OpenInvoice]]:
    """The open invoices of those of `client_ids` that have any (few do), for batch jobs
    (AutoPay, reminders): one query finds who owes, then one read per owing client."""
    if not client_ids:
        return {}
    owing = (
        await session.execute(
            select(invoice_t.c.client_id)
            .where(invoice_t.c.client_id.in_(client_ids), invoice_t.c.status == "open")
            .distinct()
        )
    ).scalars()
    return {int(cid): await open_invoices(session, cid) for cid in owing.all()}


HELD = (
    "(SELECT coalesce(sum(a.amount_cents), 0) FROM paymentallocation a WHERE a.invoice_id = i.id)"
)


# -- the ledger -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LedgerKey:
    """Where an entry sorts: its time, then invoice < payment < refund < credit, then id."""

    at: datetime
    rank: int
    id: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: str  # invoice | payment | refund | credit (a paid invoice voided by a refund)
    id: int
    at: datetime
    rank: int
    reference: str | None  # an invoice's number
    description: str  # an invoice's description, a refund's reason
    vehicle_id: int | None
    status: str  # the record's status; "given back" for an invoice a refund voided
    cents: int
    due_date: date | None
    held_cents: int
    card_brand: str | None
    card_last4: str | None
    channel: str | None
    failure: str | None
    balance_cents: int  # running balance after this entry
    dispute: str | None = None  # a payment's dispute, by its status (the newest dispute)


@dataclass(frozen=True, slots=True)
class LedgerPage:
    entries: list[LedgerEntry]  # newest first
    balance_cents: int  # after every entry of the account
    past_due_cents: int  # owed on open invoices due before `today`
    older: LedgerKey | None  # the last entry shown, when older ones follow


def _none(type_: Any) -> sa.Cast[Any]:
    return sa.cast(sa.null(), type_)


def _dispute_status() -> Any:
    """The status of a payment's newest dispute (ix_dispute_payment_id), or NULL."""
    d = dispute_t.c
    newest = select(d.status).where(d.payment_id == payment_t.c.id)
    return newest.order_by(d.opened_at.desc(), d.id.desc()).limit(1).scalar_subquery()


def _entries(client_id: int) -> sa.Subquery:
    """Every ledger entry of the account with its effect on the balance: open and paid
    invoices add (a void one does not), money that went through takes away (whatever was
    refunded later), a refund given back adds again; an invoice that was paid, then voided by
    a refund, counted until it was voided, when a credit takes it away."""
    inv, pay, ref = invoice_t.c, payment_t.c, refund_t.c
    total = inv.amount_cents + inv.tax_cents
    allocated = sa.exists().where(allocation_t.c.invoice_id == inv.id)
    given_back = and_(inv.status == "void", inv.voided_at.is_not(None), allocated)
    text = number = sa.literal_column
    invoices = select(
        text("'invoice'", sa.String).label("kind"),
        inv.id,
        inv.created_at.label("at"),
        number("0", sa.Integer).label("rank"),
        inv.number.label("reference"),
        inv.description,
        inv.vehicle_id,
        case((given_back, "given back"), else_=inv.status).label("status"),
        total.label("cents"),
        inv.due_date,
        _held().label("held_cents"),
        _none(sa.String).label("card_brand"),
        _none(sa.String).label("card_last4"),
        _none(sa.String).label("channel"),
        _none(sa.String).label("failure"),
        case((or_(inv.status != "void", given_back), total), else_=0).label("effect"),
        _none(sa.String).label("dispute"),
    ).where(inv.client_id == client_id)
    credits = select(
        text("'credit'", sa.String),
        inv.id,
        inv.voided_at,
        number("3", sa.Integer),
        inv.number,
        inv.description,
        inv.vehicle_id,
        text("'credited'", sa.String),
        total,
        inv.due_date,
        number("0", sa.Integer),
        _none(sa.String),
        _none(sa.String),
        _none(sa.String),
        _none(sa.String),
        -total,
        _none(sa.String),
    ).where(inv.client_id == client_id, given_back)
    payments = select(
        text("'payment'", sa.String),
        pay.id,
        func.coalesce(pay.completed_at, pay.created_at, type_=UTCDateTime()),
        number("1", sa.Integer),
        _none(sa.String),
        text("''", sa.String),
        pay.vehicle_id,
        pay.status,
        pay.amount_cents,
        _none(sa.Date),
        number("0", sa.Integer),
        pay.card_brand,
        pay.card_last4,
        pay.channel,
        pay.failure_message,
        case((pay.status.in_(outcomes.SETTLED), -pay.amount_cents), else_=0),
        _dispute_status(),
    ).where(pay.client_id == client_id)
    refunds = (
        select(
            text("'refund'", sa.String),
            ref.id,
            func.coalesce(ref.completed_at, ref.created_at, type_=UTCDateTime()),
            number("2", sa.Integer),
            _none(sa.String),
            ref.reason,
            pay.vehicle_id,
            ref.status,
            ref.amount_cents,
            _none(sa.Date),
            number("0", sa.Integer),
            pay.card_brand,
            pay.card_last4,
            pay.channel,
            _none(sa.String),
            case((ref.status == "succeeded", ref.amount_cents), else_=0),
            _none(sa.String),
        )
        .join(payment_t, pay.id == ref.payment_id)
        .where(ref.client_id == client_id, ref.status != "failed")
    )
    return sa.union_all(invoices, credits, payments, refunds).subquery("entries")


_ENTRY_FIELDS = tuple(LedgerEntry.__dataclass_fields__)
_SUMS = ("cents", "held_cents", "balance_cents")  # bigint or numeric on PostgreSQL


def _entry(row: Any) -> dict[str, Any]:
    return {f: int(row[f] or 0) if f in _SUMS else row[f] for f in _ENTRY_FIELDS}


async def ledger_page_orm(
    session: AsyncSession, client_id: int, *, today: date, before: LedgerKey | None, size: int
) -> LedgerPage:
    """Up to `size` entries older than `before` (the newest, without it), newest first, each
    with its running balance; with the account's balance and past-due total. One statement:
    the database sums the effects of every entry (window functions), only the page comes back.

    The ORM statement ledger_page replaced, kept as its reference (tests/integration/
    test_hot_reads.py): a window over the whole ledger on every request."""
    e = _entries(client_id)
    in_order = (e.c.at, e.c.rank, e.c.id)
    # domain.summary.is_past_due (open, due before the location's today) said in SQL so the
    # database sums it with the page; tests/integration/test_past_due_sql.py pins it to the
    # domain around the boundary.
    past_due = case(
        (and_(e.c.kind == "invoice", e.c.status == "open", e.c.due_date < today),
         e.c.cents - e.c.held_cents),
        else_=0,
    )  # fmt: skip
    ranked = select(
        e,
        func.sum(e.c.effect).over(order_by=in_order, rows=(None, 0)).label("balance_cents"),
        func.sum(e.c.effect).over().label("total_cents"),
        func.sum(past_due).over().label("past_due_cents"),
    ).subquery("ranked")
    r = ranked.c
    stmt = select(ranked).order_by(r.at.desc(), r.rank.desc(), r.id.desc()).limit(size + 1)
    if before is not None:
        stmt = stmt.where(
            tuple_(r.at, r.rank, r.id)
            < tuple_(
                sa.bindparam("at", before.at, type_=UTCDateTime()),
                sa.bindparam("rank", before.rank, type_=sa.Integer()),
                sa.bindparam("id", before.id, type_=sa.Integer()),
            )
        )
    rows = (await session.execute(stmt)).mappings().all()
    entries = [LedgerEntry(**_entry(row)) for row in rows[:size]]
    if not rows:
        return LedgerPage([], 0, 0, None)
    last = entries[-1]
    return LedgerPage(
        entries=entries,
        balance_cents=int(rows[0]["total_cents"]),
        past_due_cents=int(rows[0]["past_due_cents"]),
        older=LedgerKey(last.at, last.rank, last.id) if len(rows) > size else None,
    )


# -- the ledger on a plain connection ---------------------------------------------------------
_GIVEN_BACK = (
    "(i.status = 'void' AND i.voided_at IS NOT NULL AND EXISTS "
    "(SELECT 1 FROM paymentallocation a WHERE a.invoice_id = i.id))"
)
_SETTLED = ", ".join(f"'{s}'" for s in sorted(outcomes.SETTLED))
_DISPUTE = (
    "(SELECT d.status FROM dispute d WHERE d.payment_id = p.id "
    "ORDER BY d.opened_at DESC, d.id DESC LIMIT 1)"
)
# Every entry of the account with its effect on the balance (reads._entries, said in SQL).
_ENTRIES = f"""
SELECT 'invoice' AS kind, i.id AS id, i.created_at AS at, 0 AS rank, i.number AS reference,
  i.description AS description, i.vehicle_id AS vehicle_id,
  CASE WHEN {_GIVEN_BACK} THEN 'given back' ELSE i.status END AS status,
  i.amount_cents + i.tax_cents AS cents, i.due_date AS due_date, {HELD} AS held_cents,
  NULL AS card_brand, NULL AS card_last4, NULL AS channel, NULL AS failure,
  CASE WHEN i.status <> 'void' OR {_GIVEN_BACK} THEN i.amount_cents + i.tax_cents ELSE 0 END
    AS effect,
  NULL AS dispute
FROM invoice i WHERE i.client_id = $1
UNION ALL
SELECT 'credit', i.id, i.voided_at, 3, i.number, i.description, i.vehicle_id, 'credited',
  i.amount_cents + i.tax_cents, i.due_date, 0, NULL, NULL, NULL, NULL,
  -(i.amount_cents + i.tax_cents), NULL
FROM invoice i WHERE i.client_id = $1 AND {_GIVEN_BACK}
UNION ALL
SELECT 'payment', p.id, coalesce(p.completed_at, p.created_at), 1, NULL, '', p.vehicle_id,
  p.status, p.amount_cents, NULL, 0, p.card_brand, p.card_last4, p.channel, p.failure_message,
  CASE WHEN p.status IN ({_SETTLED}) THEN -p.amount_cents ELSE 0 END, {_DISPUTE}
FROM payment p WHERE p.client_id = $1
UNION ALL
SELECT 'refund', r.id, coalesce(r.completed_at, r.created_at), 2, NULL, r.reason, p.vehicle_id,
  r.status, r.amount_cents, NULL, 0, p.card_brand, p.card_last4, p.channel, NULL,
  CASE WHEN r.status = 'succeeded' THEN r.amount_cents ELSE 0 END, NULL
FROM refund r JOIN payment p ON p.id = r.payment_id
WHERE r.client_id = $1 AND r.status <> 'failed'
"""  # noqa: S608 - our own names
_FIELDS = tuple(f for f in LedgerEntry.__dataclass_fields__ if f != "balance_cents")
_COLS = ", ".join(f"e.{f}" for f in _FIELDS)
_PAST_DUE = (
    "coalesce(sum(CASE WHEN kind = 'invoice' AND status = 'open' AND due_date < $2 "
    "THEN cents - held_cents ELSE 0 END), 0)"
)
# One pass: the page (newest first) and, in the same statement, the sums of the account (its
# balance, its past due total) and of what is newer than the page; each row's running balance
# is then the one above it less that row's effect. No window, no sort of the whole ledger.
LEDGER_FIRST = f"""
WITH e AS ({_ENTRIES}),
t AS (SELECT coalesce(sum(effect), 0) AS total, {_PAST_DUE} AS past_due, 0 AS newer FROM e)
SELECT {_COLS}, e.effect, t.total, t.past_due, t.newer FROM e CROSS JOIN t
ORDER BY e.at DESC, e.rank DESC, e.id DESC LIMIT $3
"""  # noqa: S608 - our own names
_OLDER = "(e.at < $4 OR (e.at = $4 AND (e.rank < $5 OR (e.rank = $5 AND e.id < $6))))"
LEDGER_OLDER = f"""
WITH e AS ({_ENTRIES}),
t AS (SELECT coalesce(sum(effect), 0) AS total, {_PAST_DUE} AS past_due,
  coalesce(sum(CASE WHEN {_OLDER} THEN 0 ELSE effect END), 0) AS newer FROM e)
SELECT {_COLS}, e.effect, t.total, t.past_due, t.newer FROM e CROSS JOIN t
WHERE {_OLDER}
ORDER BY e.at DESC, e.rank DESC, e.id DESC LIMIT $3
"""  # noqa: S608 - our own names
_LEDGER_FIXES: tuple[Fix, ...] = tuple({"at": time_of, "due_date": date_of}.get(f) for f in _FIELDS)
_SUMMED = {_FIELDS.index("cents"), _FIELDS.index("held_cents")}


async def ledger_page(
    session: AsyncSession, client_id: int, *, today: date, before: LedgerKey | None, size: int
) -> LedgerPage:
    """reads.ledger_page's answer: up to `size` entries older than `before`, newest first, each
    with its running balance, and the account's balance and past due total."""
    db = await plain(session)
    if before is None:
        rows = await db.rows(LEDGER_FIRST, client_id, db.day(today), size + 1)
    else:
        rows = await db.rows(
            LEDGER_OLDER, client_id, db.day(today), size + 1,
            db.time(before.at), before.rank, before.id,
        )  # fmt: skip
    if not rows:
        return LedgerPage([], 0, 0, None)
    rows = db.fixed(rows, _LEDGER_FIXES)
    n = len(_FIELDS)
    total, past_due, newer = (int(v) for v in rows[0][n + 1 : n + 4])
    balance = total - newer
    entries = []
    for row in rows[:size]:
        values: dict[str, Any] = {
            f: int(v or 0) if i in _SUMMED else v
            for i, (f, v) in enumerate(zip(_FIELDS, row, strict=False))
        }
        entries.append(LedgerEntry(**values, balance_cents=balance))
        balance -= int(row[n])
    last = entries[-1]
    return LedgerPage(
        entries=entries,
        balance_cents=total,
        past_due_cents=past_due,
        older=LedgerKey(last.at, last.rank, last.id) if len(rows) > size else None,
    )
