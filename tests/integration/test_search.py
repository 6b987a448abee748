"""Client search on PLUS Web's home, served by the search index on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.domain.phone import digits, national, normalize
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Location
from app.store.search import needle, search_clients
from tests.conftest import NOW, get_page, sign_in_staff
from tests.html import Page, parse

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)

HX = {"HX-Request": "true"}
HINT = "Type at least 3 letters or digits"


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    """The test's own session, apart from the app's pool (which the test client drives from
    another event loop)."""
    engine = make_engine(db_url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


async def add_client(
    session: AsyncSession, account: str, first: str, last: str, phone: str = "(737) 555-0199"
) -> Client:
    austin = select(col(Location.id)).where(col(Location.name) == "Austin North")
    location_id = (await session.execute(austin)).scalar_one()
    assert location_id is not None
    e164 = normalize(phone)
    client = Client(
        account_number=account,
        first_name=first,
        last_name=last,
        search_name=f"{first} {last}".lower(),
        phone_e164=e164,
        phone_digits=digits(national(e164)),
        email=f"{account}@example.com",
        location_id=location_id,
        created_at=NOW,
    )
    session.add(client)
    await session.commit()
    return client


async def results(client: AsyncTestClient[Litestar], q: str) -> Page:
    r = await client.get("/plus", params={"q": q}, headers=HX)
    assert r.status_code == 200, (q, r.text)
    return parse(r.text)


def names(page: Page) -> list[str]:
    return [
        row.select("td")[1].get_text(strip=True) for row in page.all("#search-results tbody tr")
    ]


def accounts(page: Page) -> list[str]:
    return [
        row.select("td")[0].get_text(strip=True) for row in page.all("#search-results tbody tr")
    ]


@contextmanager
def client_queries(app: Litestar) -> Iterator[list[str]]:
    """The SQL statements that read clients, run while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2]).lower()
        if "from client" in statement:
            seen.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_fragment_of_a_name_finds_the_client_in_any_case(
    client: AsyncTestClient[Litestar],
) -> None:
    await sign_in_staff(client)
    for q in ("arte", "CARTER", "es car", "  James   Carter "):
        assert names(await results(client, q)) == ["Carter, James"], q
    status, page = await get_page(client, "/plus?q=lope")  # the plain form, without JavaScript
    assert status == 200 and page.has("h1") and names(page) == ["Lopez, Maria"]
    assert page.one("#q").get("value") == "lope"


async def test_phone_digits_are_found_anywhere_in_the_number(
    client: AsyncTestClient[Litestar],
) -> None:
    await sign_in_staff(client)
    for q in ("555-0102", "(512) 555-0102", "+1 512 555 0102", "15125550102", "0102"):
        assert names(await results(client, q)) == ["Carter, James"], q


async def test_an_account_number_is_found_by_how_it_starts(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    await add_client(session, "987654", "Pat", "Prefix")
    assert accounts(await results(client, "987")) == ["987654"]
    assert accounts(await results(client, "98765")) == ["987654"]
    page = await results(client, "876")  # inside the account number, not at its start
    assert names(page) == [] and "No client matches" in page.text()


async def test_too_short_a_query_shows_the_hint_and_asks_nothing(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await sign_in_staff(client)
    with client_queries(app) as seen:
        for q in ("ca", "12", "a b", "1-2", "%%", "__", "  ", "+1"):
            page = await results(client, q)
            assert HINT in page.text("#search-results") and not page.has("table"), q
    assert seen == []
    status, page = await get_page(client, "/plus")
    assert status == 200 and HINT in page.text("#search-results")


async def test_at_most_25_clients_by_last_name_first_name_and_account(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    made = []
    for i in range(30):
        last = ("Zephyrb", "Zephyra", "Zephyrc")[i % 3]
        first = ("Uma", "Abe", "Kit", "Abe", "Ned")[i % 5]
        made.append(await add_client(session, f"{900100 - i * 3}", first, last))
    page = await results(client, "zephyr")
    expected = sorted(made, key=lambda c: (c.last_name, c.first_name, c.account_number))[:25]
    assert accounts(page) == [c.account_number for c in expected]
    assert names(page) == [f"{c.last_name}, {c.first_name}" for c in expected]
    assert "(first 25 — refine the search)" in page.text("#search-results")
    assert "refine" not in (await results(client, "zephyra")).text("#search-results")


async def test_a_broad_query_sorts_a_bounded_number_of_matches_and_says_so(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    for i in range(12):
        await add_client(session, f"{900200 + i}", ("Uma", "Abe")[i % 2], f"Quillon{12 - i:02d}")
    found = needle("quillon")
    assert found is not None
    broad = await search_clients(session, found, candidates=10)
    assert broad.broad and len(broad.rows) == 11
    keys = [(r.last_name, r.first_name, r.account_number) for r in broad.rows]
    assert keys == sorted(keys) and all(r.last_name.startswith("Quillon") for r in broad.rows)
    exact = await search_clients(session, found, candidates=12)
    assert not exact.broad and [r.last_name for r in exact.rows][:2] == ["Quillon01", "Quillon02"]
    page = await results(client, "quillon")
    assert "(first 25" not in page.text() and "of more than" not in page.text()
    assert len(names(page)) == 12


async def test_clients_added_renamed_or_removed_later_are_searched_as_they_are_now(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    quentin = await add_client(session, "555001", "Quentin", "Blake", "(737) 555-0142")
    assert names(await results(client, "quent")) == ["Blake, Quentin"]
    quentin.first_name, quentin.last_name = "Quincy", "Blakemore"
    quentin.search_name = "quincy blakemore"
    quentin.phone_digits = "7375550199"
    await session.commit()
    assert names(await results(client, "quent")) == []
    assert names(await results(client, "cy blakem")) == ["Blakemore, Quincy"]
    assert names(await results(client, "5550142")) == []
    assert names(await results(client, "5550199")) == ["Blakemore, Quincy"]
    await session.execute(delete(Client).where(col(Client.id) == quentin.id))
    await session.commit()
    assert names(await results(client, "blakem")) == []


async def test_like_wildcards_and_quotes_in_a_query_are_plain_characters(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    await add_client(session, "700001", "Wren", "Smythe")
    await add_client(session, "700002", "Rae", "Under_Score")
    await add_client(session, "700003", "Al", 'O"Dell')
    assert names(await results(client, "smythe")) == ["Smythe, Wren"]
    for q in ("sm_the", "%ythe", "sm%he", "smy%", "the\\", "wr_n"):
        assert names(await results(client, q)) == [], q
    assert names(await results(client, "r_sc")) == ["Under_Score, Rae"]
    assert names(await results(client, 'o"del')) == ['O"Dell, Al']
    for q in ("smythe OR wren", "smy*", "^smythe", "NEAR(smythe", "wren: smythe", '"smythe'):
        assert names(await results(client, q)) == [], q


async def test_unicode_is_searched_and_never_an_error(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await sign_in_staff(client)
    await add_client(session, "800001", "Zoë", "Ångström")
    assert names(await results(client, "ÅNGSTR")) == ["Ångström, Zoë"]
    assert names(await results(client, "zoë å")) == ["Ångström, Zoë"]
    for q in ("😀😀😀", "\u202ecarter", "ｃａｒ", "٣٣٣", "İİİ", "ß" * 80, "car\tter"):
        await results(client, q)
    for q in ("\x00car", "car\x00ter", "\x1bcarter"):  # control characters: web/forms.py
        r = await client.get("/plus", params={"q": q}, headers=HX)
        assert r.status_code == 400 and "can't be accepted" in parse(r.text).text("#q-error")
    r = await client.get("/plus?q=%ED%A0%80%ED%A0%80abc", headers=HX)  # not UTF-8
    assert r.status_code < 500


async def test_home_searches_as_you_type_and_as_a_plain_form(
    client: AsyncTestClient[Litestar],
) -> None:
    await sign_in_staff(client)
    status, page = await get_page(client, "/plus")
    form = page.one("form[role=search]")
    assert (form.get("method"), form.get("action")) == ("get", "/plus")
    assert form.get("hx-get") == "/plus" and form.get("hx-target") == "#search-results"
    trigger = str(form.get("hx-trigger"))
    assert "input changed delay:" in trigger and "search" in trigger
    assert page.one("#q").get("name") == "q"
