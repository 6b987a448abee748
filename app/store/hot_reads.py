"""The hot reads of PLUS Web (Get Summary, the client page, search, Account History's ledger)
and of the Secure Payment page's GET, at the floor's shape: SQL written once at import, run on the request session's own driver
connection (asyncpg on PostgreSQL, which prepares each statement once per connection and keeps
it; aiosqlite on SQLite, the same SQL with `?N` for `$N`), rows straight into the dataclasses of
store/reads.py and store/search.py (the pay page: a PaymentLink built from its row, not attached
to the session). No SQLAlchemy statement is built, cached or compiled per
request; nothing here writes (the writes and the payment core keep the ORM).

A read here takes the connection the session already holds (or checks one out for it), so a
request still holds at most one connection and it goes back to the pool with the session. On
PostgreSQL a read outside the session's transaction runs in autocommit (each statement sees the
database as it is then), which is what the pages show anyway: every path that charges reads
again in its own transaction.

tests/integration/test_hot_reads.py pins each read to the ORM path's answer (store/reads.py,
store/search.py, services/pay_link.find) on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.summary import OpenInvoice
from app.store import reads, search
from app.store.models import PaymentLink, UTCDateTime
from app.store.plain import Fix, date_of, plain, time_of, truth
from app.store.reads import HELD, AccountView, ClientView, VehicleView

# SQL below is built from this module's own constants (S608: nothing from a request).

# -- the account ------------------------------------------------------------------------------
_CLIENT = tuple(ClientView.__dataclass_fields__)
_VEHICLE = tuple(VehicleView.__dataclass_fields__)
_LINK = tuple(PaymentLink.__table__.c.keys())  # type: ignore[attr-defined]
_ACCOUNT_COLS = ", ".join([f"c.{f}" for f in _CLIENT] + [f"v.{f}" for f in _VEHICLE])
ACCOUNT = (
    f"SELECT {_ACCOUNT_COLS} FROM client c LEFT OUTER JOIN vehicle v ON v.client_id = c.id "  # noqa: S608
    "WHERE c.id = $1 ORDER BY v.id"
)
ACCOUNT_WITH_LINK = (
    f"SELECT {_ACCOUNT_COLS}, {', '.join(f'l.{f}' for f in _LINK)} "  # noqa: S608
    "FROM client c LEFT OUTER JOIN vehicle v ON v.client_id = c.id "
    "LEFT OUTER JOIN paymentlink l ON l.id = (SELECT n.id FROM paymentlink n "
    "WHERE n.client_id = c.id ORDER BY n.created_at DESC, n.id DESC LIMIT 1) "
    "WHERE c.id = $1 ORDER BY v.id"
)
_TIMES = {f for f, c in PaymentLink.__table__.c.items() if isinstance(c.type, UTCDateTime)}  # type: ignore[attr-defined]
_ACCOUNT_FIXES: tuple[Fix, ...] = (
    *(truth if f == "sms_opt_out" else None for f in _CLIENT),
    *({"paid_through": date_of, "next_appointment": time_of}.get(f) for f in _VEHICLE),
    *(time_of if f in _TIMES else None for f in _LINK),
)


async def account(
    session: AsyncSession, client_id: int, *, latest_link: bool = False
) -> AccountView | None:
    """reads.account's answer: the client, its location and vehicles (and newest link)."""
    db = await plain(session)
    rows = db.fixed(await db.rows(ACCOUNT_WITH_LINK if latest_link else ACCOUNT, client_id),
                    _ACCOUNT_FIXES)  # fmt: skip
    if not rows:
        return None
    first, nc, nv = rows[0], len(_CLIENT), len(_VEHICLE)
    client = ClientView(*first[:nc])
    vehicles = [VehicleView(*r[nc : nc + nv]) for r in rows if r[nc] is not None]
    link = None
    if latest_link and first[nc + nv] is not None:
        link = PaymentLink(**dict(zip(_LINK, first[nc + nv :], strict=True)))
    return AccountView(
        client=client,
        location=await reads.location(session, client.location_id),
        vehicles=vehicles,
        latest_link=link,
    )


# -- the Secure Payment page (services/pay_link.find's row) -----------------------------------
LINK_BY_TOKEN = (
    f"SELECT {', '.join(f'l.{f}' for f in _LINK)}, "  # noqa: S608
    "c.first_name, c.last_name, c.location_id, c.language "
    "FROM paymentlink l JOIN client c ON c.id = l.client_id WHERE l.token_hash = $1"
)
_LINK_FIXES: tuple[Fix, ...] = tuple(time_of if f in _TIMES else None for f in _LINK)

LinkRow = tuple[
    PaymentLink, str, str, int, str
]  # the link, first and last name, location, language


async def link_by_token(session: AsyncSession, token_hash: str) -> LinkRow | None:
    """The link with this token's hash and what the page says of its client, as the ORM's row
    (pay_link.find): the link as the database holds it now, never an identity map's copy."""
    db = await plain(session)
    rows = db.fixed(await db.rows(LINK_BY_TOKEN, token_hash), _LINK_FIXES)
    if not rows:
        return None
    row, n = rows[0], len(_LINK)
    link = PaymentLink(**dict(zip(_LINK, row[:n], strict=True)))
    first_name, last_name, location_id, language = row[n:]
    return link, first_name, last_name, location_id, language


OPEN_INVOICES = (
    f"SELECT i.id, i.number, i.description, i.amount_cents + i.tax_cents - {HELD}, "  # noqa: S608
    "i.due_date "
    "FROM invoice i WHERE i.client_id = $1 AND i.status = 'open' ORDER BY i.due_date, i.id"
)


async def open_invoices(session: AsyncSession, client_id: int) -> list[OpenInvoice]:
    """reads.open_invoices' answer: what is still due on each open invoice."""
    db = await plain(session)
    rows = db.fixed(await db.rows(OPEN_INVOICES, client_id), (None, None, None, None, date_of))
    return [OpenInvoice(i, n, d, int(cents), due) for i, n, d, cents, due in rows]


# -- search -----------------------------------------------------------------------------------
def _search(where: str) -> str:
    return (
        "SELECT m.id, m.account_number, m.first_name, m.last_name, m.phone_e164, l.name, "  # noqa: S608
        "count(*) OVER () FROM (SELECT c.id, c.account_number, c.first_name, c.last_name, "
        f"c.phone_e164, c.location_id FROM client c WHERE {where} LIMIT $1) m "
        "JOIN location l ON l.id = m.location_id "
        f"ORDER BY m.last_name, m.first_name, m.account_number LIMIT {search.LIMIT}"
    )


_FTS = "c.id IN (SELECT rowid FROM client_search WHERE {} MATCH $2 LIMIT $1)"
SEARCH = {  # (postgres?, number?) → SQL: LIKE on the trigram indexes, or SQLite's FTS5 table
    (True, False): _search("c.search_name LIKE $2 ESCAPE '\\'"),
    (True, True): _search(
        "c.account_number BETWEEN $3 AND $4 OR c.phone_digits LIKE $2 ESCAPE '\\'"
    ),
    (False, False): _search(_FTS.format("search_name")),
    (False, True): _search(f"c.account_number BETWEEN $3 AND $4 OR {_FTS.format('phone_digits')}"),
}


async def search_clients(
    session: AsyncSession, found: search.Needle, candidates: int = search.CANDIDATES
) -> search.Results:
    """search.search_clients' answer: LIMIT clients by name, sorted from at most
    `candidates` + 1 matches."""
    db = await plain(session)
    if db.sqlite:
        pattern = '"' + found.text.replace('"', '""') + '"'
    else:
        escaped = found.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
    args: list[Any] = [candidates + 1, pattern]
    if found.number:
        width = search.ACCOUNT_WIDTH
        args += [found.text.ljust(width, "0"), found.text.ljust(width, "9")]
    rows = await db.rows(SEARCH[(not db.sqlite, found.number)], *args)
    hits = [search.ClientHit(*row[:6]) for row in rows]
    return search.Results(hits, broad=bool(rows) and rows[0][6] > candidates)
