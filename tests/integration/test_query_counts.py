"""The hot reads answer in a few SQL statements: Get Summary, the client page, Account History
and the Secure Payment page (a count is behaviour, not time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.store import plain
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Vehicle
from tests.conftest import sign_in_staff
from tests.integration.test_pay import make_link

HX = {"HX-Request": "true"}
MAX_QUERIES = 3


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions for the test's own reads and writes, apart from the app's pool (which the test
    client drives from another event loop)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


@contextmanager
def counting(app: Litestar) -> Iterator[list[str]]:
    """Every statement the app sends while the block runs: through the engine, and on the
    session's plain connection (store/plain.py: the hot reads)."""
    statements: list[str] = []
    engine = app.state.engine.sync_engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def plain_seen(statement: str) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    plain.observers.append(plain_seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        plain.observers.remove(plain_seen)


async def _james(maker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with maker() as s:
        cid = (
            await s.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
        vid = (
            await s.execute(select(Vehicle.id).where(Vehicle.client_id == cid).limit(1))
        ).scalar_one()
    return cid, vid


async def _count(client: AsyncTestClient[Any], app: Litestar, url: str, **kw: Any) -> list[str]:
    await client.get(url, **kw)  # warm: the first request may fill per-process caches
    with counting(app) as statements:
        r = await client.get(url, **kw)
    assert r.status_code == 200, r.text
    return statements


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_staff_hot_reads_take_at_most_three_queries(
    client: AsyncTestClient[Any], app: Litestar, own_maker: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in_staff(client)
    cid, vid = await _james(own_maker)
    urls = {
        "get summary": (f"/plus/clients/{cid}/send-link?vehicle_id={vid}&days=30", HX),
        "client page": (f"/plus/clients/{cid}", {}),
        "account history": (f"/plus/clients/{cid}/history", {}),
    }
    for name, (url, headers) in urls.items():
        statements = await _count(client, app, url, headers=headers)
        assert len(statements) <= MAX_QUERIES, (name, statements)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_pay_page_takes_at_most_three_queries(
    client: AsyncTestClient[Any], app: Litestar, own_maker: async_sessionmaker[AsyncSession]
) -> None:
    token = await make_link(app, maker=own_maker)
    statements = await _count(client, app, f"/pay/{token}")
    assert len(statements) <= MAX_QUERIES, statements
