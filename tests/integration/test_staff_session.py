"""The signed-in staff member lives in the session (web/deps.provide_staff): a staff page asks
the database nothing about them; a staff member disabled, or given another role, loses what
they had at their next request (their version, read with the session in one round trip, on
Redis and on the file store alike); the session is not written again within a minute when
nothing changed (last_seen)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.stores.base import Store
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.clock import FixedClock
from app.main import create_app
from app.services import accounts
from app.store.kv import make_store
from app.store.models import StaffUser
from app.web.sessions import COOKIE
from tests.conftest import make_settings, sign_in_staff
from tests.integration.test_query_counts import counting
from tests.integration.test_sessions import client_id


@pytest.fixture(params=["files", "redis"])
def app(request: pytest.FixtureRequest, db_url: str, clock: FixedClock) -> Litestar:
    """The app on the file store, and on Redis (the Lua call reading session and version)."""
    overrides = (
        {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    )
    return create_app(make_settings(db_url, **overrides), clock=clock)


@pytest.fixture
def store(app: Litestar) -> Store:
    """The app's "sessions" store, with a Redis client of the test's own event loop (the app's
    answers on another)."""
    if app.state.settings.redis_url:
        return make_store(app.state.settings).with_namespace("sessions")
    return app.stores.get("sessions")


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c


async def _agent_id(session: AsyncSession) -> int:
    found = await session.execute(
        select(col(StaffUser.id)).where(col(StaffUser.email) == "agent@demo.test")
    )
    return int(found.scalar_one())


async def test_a_staff_page_asks_the_database_nothing_about_the_staff_member(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    await sign_in_staff(client)
    assert (await client.get("/plus/")).status_code == 200  # the first page reads them once
    with counting(app) as statements:
        r = await client.get("/plus/")
    assert r.status_code == 200 and "Alex Agent" in r.text
    assert statements == []


async def test_a_disabled_staff_member_is_signed_out_at_the_next_request(
    client: AsyncTestClient[Any], store: Store, session: AsyncSession
) -> None:
    await sign_in_staff(client)
    assert (await client.get("/plus/")).status_code == 200
    changed = await accounts.change_staff(session, store, await _agent_id(session), active=False)
    assert changed is not None and not changed.active
    r = await client.get("/plus/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/plus/login")
    r = await client.get("/plus/", follow_redirects=False)
    assert r.status_code == 303  # and stays out


async def test_a_new_role_takes_effect_at_the_next_request_with_a_new_session_id(
    client: AsyncTestClient[Any], store: Store, session: AsyncSession
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    page = await client.get(f"/plus/clients/{cid}/history")
    assert page.status_code == 200
    before = client.cookies.get(COOKIE)
    supervisor = (
        await session.execute(
            select(col(StaffUser.id)).where(col(StaffUser.email) == "supervisor@demo.test")
        )
    ).scalar_one()
    await accounts.change_staff(session, store, supervisor, role="agent")
    r = await client.get(f"/plus/clients/{cid}/history")
    assert r.status_code == 200
    after = client.cookies.get(COOKIE)
    assert after and after != before
    assert await store.get(before or "") is None
    # an agent's page: the ledger's actions column (void, refund) was the supervisor's
    assert '<span class="visually-hidden">Actions</span>' in page.text
    assert '<span class="visually-hidden">Actions</span>' not in r.text
    assert "Sandra Supervisor" in r.text


async def test_an_unknown_role_is_refused(store: Store, session: AsyncSession) -> None:
    with pytest.raises(accounts.UnknownRole):
        await accounts.change_staff(session, store, await _agent_id(session), role="owner")


async def test_the_session_is_written_at_most_once_a_minute_when_nothing_changed(
    client: AsyncTestClient[Any], store: Store, clock: FixedClock
) -> None:
    await sign_in_staff(client)
    await client.get("/plus/")  # the staff member kept in the session: written once
    sid = client.cookies.get(COOKIE) or ""
    stored = await store.get(sid)
    for _ in range(3):
        clock.advance(seconds=19)
        assert (await client.get("/plus/")).status_code == 200
        assert await store.get(sid) == stored  # 57 s in all: not written again
    clock.advance(seconds=4)
    assert (await client.get("/plus/")).status_code == 200
    assert client.cookies.get(COOKIE) == sid
    assert await store.get(sid) != stored  # a minute on: last_seen moved
