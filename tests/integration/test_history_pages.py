"""Account History in pages: newest first, 50 rows a page, an "Older" link (plain and htmx), and
the running balance right on every page (the database sums the entries before the page)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.formatting import money
from app.services import ledger
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice, Location, Payment
from tests.conftest import NOW, sign_in_staff
from tests.html import Page, parse

HX = {"HX-Request": "true"}
# The ledger pages read what is in the tables: these histories are written by hand (payments
# without allocations), so the books check does not apply to them.
HAND_MADE = pytest.mark.books_unchecked("a history written by hand to test how it is paged")
TZ = "America/Chicago"


@dataclass(frozen=True)
class Entry:
    kind: str  # invoice | payment
    id: int
    effect: int  # on the balance


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The test's own sessions, apart from the app's pool (the test client's event loop)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def new_client(s: AsyncSession, account: str = "700001") -> int:
    location = (await s.execute(select(Location).limit(1))).scalar_one()
    client = Client(
        account_number=account, first_name="Paige", last_name="Turner",
        search_name="paige turner", phone_e164="+15125550177", phone_digits="5125550177",
        email="paige@example.test", location_id=location.id or 0, created_at=NOW,
    )  # fmt: skip
    s.add(client)
    await s.flush()
    return client.id or 0


def _invoice(cid: int, n: int, cents: int, status: str, at: datetime, due: date) -> Invoice:
    return Invoice(
        number=f"T-{cid}-{n:05d}", client_id=cid, description=f"Charge {n}", amount_cents=cents,
        tax_cents=0, due_date=due, status=status, created_at=at,
        voided_at=at if status == "void" else None,
    )  # fmt: skip


def _payment(cid: int, n: int, cents: int, status: str, at: datetime) -> Payment:
    return Payment(
        client_id=cid, amount_cents=cents, channel="link", status=status,
        idempotency_key=f"t-{cid}-{n}", summary_json="{}", created_at=at,
        completed_at=None if status == "pending" else at, card_brand="Visa", card_last4="4242",
    )  # fmt: skip


async def hundred_twenty_entries(
    maker: async_sessionmaker[AsyncSession],
) -> tuple[int, list[Entry]]:
    """A client with 80 invoices and 40 payment attempts, oldest first; each payment at the
    same time as the invoice before it (it sorts after it)."""
    async with maker() as s:
        cid = await new_client(s)
        start = NOW - timedelta(days=30)
        made: list[Invoice | Payment] = []
        for n in range(120):
            at = start + timedelta(hours=n - (n % 3 == 2))
            if n % 3 == 2:
                made.append(_payment(cid, n, 1_000 + n, ("succeeded", "failed")[n % 2], at))
            else:
                status = ("open", "paid", "void", "paid")[n % 4]
                made.append(_invoice(cid, n, 2_500 + n, status, at, NOW.date() + timedelta(30)))
        s.add_all(made)
        await s.commit()
    entries = []
    for item in made:
        if isinstance(item, Invoice):
            effect = item.total_cents if item.status != "void" else 0
            entries.append(Entry("invoice", item.id or 0, effect))
        else:
            effect = -item.amount_cents if item.status == "succeeded" else 0
            entries.append(Entry("payment", item.id or 0, effect))
    return cid, entries


def expected_newest_first(entries: list[Entry]) -> list[tuple[str, str]]:
    """The unpaginated computation: every entry's row id and running balance."""
    rows, balance = [], 0
    for e in entries:
        balance += e.effect
        rows.append((f"{e.kind}-{e.id}", money(balance)))
    return rows[::-1]


def shown(page: Page) -> list[tuple[str, str]]:
    return [
        (str(tr["id"]), tr.select("td.num")[2].get_text(strip=True))
        for tr in page.all("#ledger tbody tr")
    ]


@HAND_MADE
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_history_pages_of_fifty_with_the_running_balance_right_on_every_page(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    cid, entries = await hundred_twenty_entries(own_maker)
    expected = expected_newest_first(entries)
    await sign_in_staff(client)
    url, pages = f"/plus/clients/{cid}/history", []
    while url:
        r = await client.get(url)
        assert r.status_code == 200, r.text
        page = parse(r.text)
        pages.append(page)
        # The account's balance heads every page, whichever page it is.
        assert page.text("#ledger-balance") == expected[0][1]
        older = page.all("#ledger-older")
        url = ""
        if older:
            url = str(older[0]["hx-get"])
            assert url == str(older[0]["href"]).split("#")[0]  # htmx and plain alike
    assert [len(shown(p)) for p in pages] == [50, 50, 20]
    assert shown(pages[0]) == expected[:50]
    assert shown(pages[1]) == expected[50:100]  # balances computed at the page boundary
    assert shown(pages[2]) == expected[100:]
    assert not pages[2].has("#ledger-older") and pages[2].has("#ledger-newest")


@HAND_MADE
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_older_as_htmx_swaps_only_the_ledger_and_a_bogus_cursor_is_400(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    cid, entries = await hundred_twenty_entries(own_maker)
    await sign_in_staff(client)
    base = f"/plus/clients/{cid}/history"
    older = str(parse((await client.get(base)).text).one("#ledger-older")["hx-get"])
    r = await client.get(older, headers={**HX, "HX-Target": "ledger"})
    assert r.status_code == 200 and "HX-Target" in r.headers["vary"]
    fragment = parse(r.text)
    assert fragment.has("#ledger") and not fragment.has(".client-header")
    assert shown(fragment) == expected_newest_first(entries)[50:100]
    for bogus in ("x", "1.2", "99999999999999999.1.1", "1.9.1", "-5.1.1", "1.1.1; drop", "١.1.1"):
        r = await client.get(base, params={"before": bogus})
        assert r.status_code == 400, (bogus, r.status_code)
    # A cursor older than everything: an empty page that says so, with a way back.
    r = await client.get(base, params={"before": "0.0.0"})
    page = parse(r.text)
    assert r.status_code == 200 and "No older entries" in page.text("#ledger")
    assert page.has("#ledger-newest") and not page.has("#ledger-older")


# -- the running balance, whatever the mix (SQLite) ------------------------------------------
invoices = st.lists(
    st.tuples(
        st.integers(1, 1_000_000),
        st.sampled_from(["open", "paid", "void"]),
        st.integers(0, 40),  # days ago: many entries share a time
        st.integers(-60, 60),  # due, from today
    ),
    max_size=25,
)
payments = st.lists(
    st.tuples(
        st.integers(1, 1_000_000),
        st.sampled_from(["succeeded", "failed", "pending"]),
        st.integers(0, 40),
    ),
    max_size=25,
)


@HAND_MADE
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(invoices, payments, st.integers(1, 9))
def test_running_balance_adds_up_on_every_page_size(
    empty_ledger: tuple[str, int], invs: list[Any], pays: list[Any], size: int
) -> None:
    url, cid = empty_ledger

    async def check() -> None:
        engine = make_engine(url, poolclass=NullPool)
        try:
            async with make_sessionmaker(engine)() as s:
                await s.execute(delete(Payment))
                await s.execute(delete(Invoice))
                today = NOW.date()
                s.add_all(
                    _invoice(cid, n, c, st_, NOW - timedelta(days=ago), today + timedelta(due))
                    for n, (c, st_, ago, due) in enumerate(invs)
                )
                s.add_all(
                    _payment(cid, n, c, st_, NOW - timedelta(days=ago))
                    for n, (c, st_, ago) in enumerate(pays)
                )
                await s.commit()
                whole = await ledger.ledger(s, cid, now=NOW, tz=TZ, vehicles={}, size=1000)
                paged, before = [], ""
                while True:
                    page = await ledger.ledger(
                        s, cid, now=NOW, tz=TZ, vehicles={}, before=before, size=size
                    )
                    paged += page.rows
                    assert page.balance_cents == whole.balance_cents
                    if page.older is None:
                        break
                    before = page.older
        finally:
            await engine.dispose()
        assert paged == whole.rows
        assert len(whole.rows) == len(invs) + len(pays)
        owed = sum(c for c, st_, _, _ in invs if st_ != "void")
        paid = sum(c for c, st_, _ in pays if st_ == "succeeded")
        assert whole.balance_cents == owed - paid
        assert whole.past_due_cents == sum(
            c for c, st_, _, due in invs if st_ == "open" and due < 0
        )
        running = 0
        for row in reversed(whole.rows):
            if row.kind == "invoice" and row.status != "void":
                running += row.charge_cents or 0
            if row.kind == "payment" and row.status == "succeeded":
                running -= row.payment_cents or 0
            assert row.balance_cents == running
        assert [r.at for r in whole.rows] == sorted((r.at for r in whole.rows), reverse=True)

    asyncio.run(check())


@pytest.fixture
def empty_ledger(empty_db_url: str) -> tuple[str, int]:
    """An empty SQLite database with one location and one client, who has no history yet."""

    async def make() -> int:
        engine = make_engine(empty_db_url, poolclass=NullPool)
        async with make_sessionmaker(engine)() as s:
            s.add(
                Location(
                    name="Austin North",
                    timezone=TZ,
                    tax_rate_bp=825,
                    price_14_cents=4500,
                    price_30_cents=8500,
                    support_phone="+18005550199",
                )  # fmt: skip
            )
            await s.flush()
            cid = await new_client(s, "700002")
            await s.commit()
        await engine.dispose()
        return cid

    return empty_db_url, asyncio.run(make())


def test_cursor_round_trips() -> None:
    key = ledger.parse_cursor("1795622400123456.2.42")
    assert key.at == datetime(2026, 11, 25, 16, 0, 0, 123456, tzinfo=UTC) and key.id == 42
    assert ledger.cursor(key) == "1795622400123456.2.42"
    assert re.fullmatch(r"[0-9.]+", ledger.cursor(key))
