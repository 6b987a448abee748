"""Server-side sessions: signing out ends them everywhere, ids rotate, idle and absolute
timeouts say why on the login page, and instances sharing a store share sessions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlmodel import col

from app.clock import FixedClock
from app.main import create_app
from app.settings import Settings
from app.store import staff_versions
from app.store.models import Client, Invoice, StaffUser
from app.web.sessions import COOKIE
from tests.conftest import get_page, make_settings, sign_in_client, sign_in_staff
from tests.html import parse

BASE = "http://127.0.0.1:8000"


def session_id(client: AsyncTestClient[Any]) -> str | None:
    return client.cookies.get(COOKIE)


async def client_id(session: Any, account: str = "100002") -> int:
    found = await session.execute(
        select(col(Client.id)).where(col(Client.account_number) == account)
    )
    return int(found.scalar_one())


async def invoice_count(session: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(Invoice))).scalar_one())


async def post_invoice(client: AsyncTestClient[Any], cid: int, token: str, description: str) -> Any:
    return await client.post(
        f"/plus/clients/{cid}/history/invoices",
        data={"_csrf_token": token, "description": description, "amount": "40",
              "due_date": "2026-12-01"},
        follow_redirects=False,
    )  # fmt: skip


async def test_signing_out_ends_the_session_and_a_replayed_cookie_is_refused(
    client: AsyncTestClient[Any], session: Any
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    status, page = await get_page(client, f"/plus/clients/{cid}/history")
    assert status == 200
    copied, token = session_id(client), page.csrf()
    r = await client.post("/plus/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert session_id(client) is None  # the browser was told to forget it

    client.cookies.set(COOKIE, copied or "")  # someone kept a copy of the cookie
    r = await client.get("/plus", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/plus/login")
    before = await invoice_count(session)
    r = await post_invoice(client, cid, token, "Added with a copied cookie")
    assert r.status_code == 303 and r.headers["location"].startswith("/plus/login")
    assert await invoice_count(session) == before


async def test_the_cookie_holds_only_an_opaque_id(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    await sign_in_staff(client)
    value = session_id(client) or ""
    assert re.fullmatch(r"[0-9a-f]{64}", value), value
    stored = await app.stores.get("sessions").get(value)
    assert stored is not None and b"staff_id" in stored  # the data is on the server


async def test_the_session_id_changes_at_sign_in(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    # An id planted in the browser before sign-in (session fixation) is never adopted.
    client.cookies.set(COOKIE, "a" * 64, domain="127.0.0.1")
    await sign_in_client(client)
    as_client = session_id(client)
    assert as_client and as_client != "a" * 64
    # Signing in again (here as staff, in the same browser) gives yet another id, and the one
    # before is gone from the store.
    await sign_in_staff(client)
    as_staff = session_id(client)
    assert as_staff and as_staff != as_client
    assert await app.stores.get("sessions").get(as_client) is None
    r = await client.get("/account", follow_redirects=False)
    assert r.status_code == 303  # signing in as staff ended the client's session


async def test_the_session_id_changes_when_the_role_changes(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_staff(client)
    before = session_id(client)
    await session.execute(
        update(StaffUser).where(col(StaffUser.email) == "agent@demo.test").values(role="supervisor")
    )
    await session.commit()
    # The session keeps the staff member; a change made outside accounts.change_staff moves
    # their version itself (test_staff_session.py: through the service).
    agent = (
        await session.execute(
            select(col(StaffUser.id)).where(col(StaffUser.email) == "agent@demo.test")
        )
    ).scalar_one()
    await staff_versions.bump(app.stores.get("sessions"), agent)
    r = await client.get("/plus")
    assert r.status_code == 200
    after = session_id(client)
    assert after and after != before
    assert await app.stores.get("sessions").get(before or "") is None


async def test_staff_idle_for_31_minutes_are_signed_out_and_told_why(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client)
    for _ in range(3):  # activity keeps the session alive well past 30 minutes in all
        clock.advance(minutes=20)
        assert (await client.get(f"/plus/clients/{cid}")).status_code == 200
    clock.advance(minutes=31)
    r = await client.get(f"/plus/clients/{cid}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/plus/login?next=/plus/clients/{cid}"
    status, page = await get_page(client, r.headers["location"])
    assert "signed out after 30 minutes without activity" in page.text("#signed-out-notice")
    assert page.one("input[name=next]")["value"] == f"/plus/clients/{cid}"
    status, again = await get_page(client, "/plus/login")
    assert not again.has("#signed-out-notice")  # said once
    r = await client.post(
        "/plus/login",
        data={"email": "agent@demo.test", "password": "demo-agent-pass",
              "next": f"/plus/clients/{cid}", "_csrf_token": page.csrf()},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/plus/clients/{cid}"


async def test_an_htmx_request_after_the_idle_timeout_returns_to_the_page_it_came_from(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client)
    clock.advance(minutes=31)
    r = await client.get(
        f"/plus/clients/{cid}/history",
        headers={"HX-Request": "true", "HX-Current-URL": f"{BASE}/plus/clients/{cid}"},
        follow_redirects=False,
    )
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/plus/login"
    status, page = await get_page(client, "/plus/login")
    assert "30 minutes without activity" in page.text("#signed-out-notice")
    assert page.one("input[name=next]")["value"] == f"/plus/clients/{cid}"


async def test_a_form_posted_after_the_idle_timeout_can_be_sent_again_after_sign_in(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client)
    history = f"/plus/clients/{cid}/history"
    status, page = await get_page(client, f"{history}?action=add_invoice")
    token = page.csrf()
    clock.advance(minutes=45)  # typed slowly, then pressed the button
    before = await invoice_count(session)
    r = await client.post(
        f"{history}/invoices",
        data={"_csrf_token": token, "description": "Typed before the timeout", "amount": "40",
              "due_date": "2026-12-01"},
        headers={"Referer": f"{BASE}{history}?action=add_invoice"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/plus/login"
    assert await invoice_count(session) == before
    status, page = await get_page(client, "/plus/login")
    assert page.one("input[name=next]")["value"] == f"{history}?action=add_invoice"
    r = await client.post(
        "/plus/login",
        data={"email": "agent@demo.test", "password": "demo-agent-pass",
              "next": f"{history}?action=add_invoice", "_csrf_token": page.csrf()},
    )  # fmt: skip
    page = parse(r.text)
    form = page.one("#resume-form")
    assert form["action"] == f"{history}/invoices"
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    assert fields["description"] == "Typed before the timeout" and fields["amount"] == "40"
    r = await client.post(form["action"], data=fields, follow_redirects=False)  # type: ignore[arg-type]
    assert r.status_code == 303 and "added=" in r.headers["location"]
    assert await invoice_count(session) == before + 1


async def test_a_form_is_offered_again_only_to_the_person_who_posted_it(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    cid = await client_id(session)
    await sign_in_staff(client)
    status, page = await get_page(client, f"/plus/clients/{cid}/history?action=add_invoice")
    clock.advance(minutes=45)
    await post_invoice(client, cid, page.csrf(), "Someone else's draft")
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    status, page = await get_page(client, "/plus")
    assert status == 200 and not page.has("#resume-form")


async def test_clients_idle_for_16_minutes_are_signed_out_and_told_why(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    await sign_in_client(client)
    clock.advance(minutes=14)
    assert (await client.get("/account/payment")).status_code == 200
    clock.advance(minutes=16)
    r = await client.get("/account/payment", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/account/login?next=/account/payment"
    status, page = await get_page(client, r.headers["location"])
    assert "signed out after 15 minutes without activity" in page.text("#signed-out-notice")


async def test_a_session_ends_8_hours_after_sign_in_however_active(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    await sign_in_staff(client)
    for _ in range(31):  # every 15 minutes, for 7 h 45 min
        clock.advance(minutes=15)
        assert (await client.get("/plus", follow_redirects=False)).status_code == 200
    clock.advance(minutes=15)
    r = await client.get("/plus", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/plus/login")
    status, page = await get_page(client, r.headers["location"])
    assert "8 hours after signing in" in page.text("#signed-out-notice")


async def test_the_idle_notice_is_shown_only_on_its_own_surface(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    await sign_in_staff(client)
    clock.advance(minutes=31)
    await client.get("/plus")
    status, page = await get_page(client, "/account/login")
    assert not page.has("#signed-out-notice")


# -- two instances sharing one store ---------------------------------------------------------


@pytest.fixture(params=["files", "redis"])
def shared_settings(request: pytest.FixtureRequest, db_url: str) -> Settings:
    if request.param == "files":
        return make_settings(db_url)
    return make_settings(db_url, redis_url=request.getfixturevalue("redis_url"))


@pytest.fixture
async def two_instances(
    shared_settings: Settings, clock: FixedClock
) -> AsyncIterator[tuple[AsyncTestClient[Any], AsyncTestClient[Any]]]:
    one, two = create_app(shared_settings, clock=clock), create_app(shared_settings, clock=clock)
    async with (
        AsyncTestClient(app=one, base_url=BASE) as a,
        AsyncTestClient(app=two, base_url=BASE) as b,
    ):
        yield a, b


async def test_a_session_is_shared_by_instances_and_ends_on_all_at_sign_out(
    two_instances: tuple[AsyncTestClient[Any], AsyncTestClient[Any]],
) -> None:
    one, two = two_instances
    await sign_in_staff(one)
    two.cookies.set(COOKIE, session_id(one) or "")  # the load balancer sends the next one there
    status, page = await get_page(two, "/plus")
    assert status == 200 and "Alex Agent" in page.text(".topbar")
    r = await two.post("/plus/logout", data={"_csrf_token": page.csrf()}, follow_redirects=False)
    assert r.status_code == 303
    r = await one.get("/plus", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/plus/login")
