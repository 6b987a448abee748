"""A NUL (which PostgreSQL refuses in text) or another C0 control character in a form field or a
query parameter is refused by one guard (web/forms.py) before it can reach a query: 400, with
the field's message next to the field, on SQLite and PostgreSQL alike. Each field here gave a
500 on PostgreSQL before the guard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.store.models import CardOnFile, Client, Invoice, Payment, PaymentLink
from app.web.forms import MULTI_LINE_FIELDS, refused_text
from tests.conftest import csrf_for, get_page, sign_in_client, sign_in_staff
from tests.html import parse
from tests.integration.test_account import pay_data
from tests.integration.test_pay import make_link, submit
from tests.integration.test_send_link import client_id, reviewed_now, send, summary_form

BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
REFUSED = "This has characters that can't be accepted here. Type it again."
HX = {"HX-Request": "true"}
# What hostile text looks like: a NUL anywhere, and the other C0 characters.
CONTROL = ["\x00", "a\x00b", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "x\ry", "x\ny"]


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CONTROL)
def test_control_characters_are_refused_in_a_one_line_field(text: str) -> None:
    assert refused_text(text)


@pytest.mark.parametrize("text", ["", "Carter", "a\tb", "José Núñez", "٣", "\u00a0", "\x7f", "😀"])
def test_ordinary_text_and_tab_pass(text: str) -> None:
    assert not refused_text(text)


def test_a_multi_line_field_takes_newlines_but_no_other_control_character() -> None:
    assert not refused_text("line one\r\nline two\tend", multi_line=True)
    assert refused_text("line one\x00", multi_line=True)
    assert refused_text("bell\x07", multi_line=True)


def test_the_multi_line_fields_are_the_templates_textareas() -> None:
    templates = Path(__file__).resolve().parents[2] / "app" / "templates"
    textareas = {
        name
        for f in templates.rglob("*.html")
        for name in re.findall(r'<textarea\b[^>]*?\bname="([^"]+)"', f.read_text())
    }
    assert textareas == MULTI_LINE_FIELDS


# -- each field that gave a 500 on PostgreSQL ------------------------------------------------


@BOTH
@pytest.mark.parametrize("email", ["agent\x00@demo.test", "agent@demo.test\x01"])
async def test_staff_sign_in_email_with_a_control_character_is_refused_by_the_field(
    client: AsyncTestClient[Any], db_url: str, email: str
) -> None:
    token = await csrf_for(client, "/plus/login")
    r = await client.post(
        "/plus/login", data={"_csrf_token": token, "email": email, "password": "demo-agent-pass"}
    )
    assert r.status_code == 400
    page = parse(r.text)
    assert page.text("#email-error") == f"Error: {REFUSED}"
    assert page.one("#email")["aria-invalid"] == "true"
    assert "\x00" not in r.text


@BOTH
async def test_secure_payment_pages_payment_method_with_a_nul_is_refused_by_the_card_field(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    token = await make_link(app, account="100001", vehicle="Civic")
    before = await payments_of_maria(app)
    _, page = await get_page(client, f"/pay/{token}")
    r = await client.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "payment_method": "pm_\x00", "terms": "accepted"},
    )
    assert r.status_code == 400
    shown = parse(r.text)
    assert shown.text("#card-error") == "Enter your card details."
    assert "\x00" not in r.text
    assert await payments_of_maria(app) == before
    r = await submit(client, token)  # and the link still pays
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")


@BOTH
async def test_a_pay_token_with_a_nul_is_not_found(
    client: AsyncTestClient[Any], db_url: str
) -> None:
    for path in ("/pay/%00", "/pay/abc%00def", "/pay/%01"):
        assert (await client.get(path)).status_code == 404, path


@BOTH
async def test_my_accounts_payment_method_with_a_nul_is_refused_when_paying(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    await sign_in_client(client, "100001")
    before = await payments_of_maria(app)
    _, page = await get_page(client, "/account/payment")
    for hx in ({}, HX):
        r = await client.post(
            "/account/payment",
            data=pay_data(page, card="new", payment_method="pm\x00x", save_card="yes"),
            headers=hx,
        )
        assert r.status_code == 400
        shown = parse(r.text)
        assert shown.text("#card-entry-error") == "Error: Enter your card details."
        assert not shown.one("input[name=payment_method]").get("value")
    assert await payments_of_maria(app) == before


@BOTH
async def test_my_accounts_payment_method_with_a_nul_is_refused_when_saving_a_card(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment/methods")
    async with app.state.sessionmaker() as s:
        before = (await s.execute(select(func.count()).select_from(CardOnFile))).scalar_one()
    r = await client.post(
        "/account/payment/methods",
        data={"_csrf_token": page.csrf(), "payment_method": "\x00", "make_default": "yes"},
    )
    assert r.status_code == 400
    assert parse(r.text).text("#card-entry-error") == "Error: Enter your card details."
    async with app.state.sessionmaker() as s:
        after = (await s.execute(select(func.count()).select_from(CardOnFile))).scalar_one()
    assert after == before


@BOTH
@pytest.mark.parametrize("description", ["Recalibration\x00", "Re\x1bcalibration"])
async def test_add_new_invoice_description_with_a_control_character_is_refused_by_the_field(
    app: Litestar, client: AsyncTestClient[Any], db_url: str, description: str
) -> None:
    await sign_in_staff(client)
    async with app.state.sessionmaker() as s:
        cid = (
            await s.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
        invoices = (await s.execute(select(func.count()).select_from(Invoice))).scalar_one()
    token = await csrf_for(client, f"/plus/clients/{cid}/history")
    for hx in ({}, HX):
        r = await client.post(
            f"/plus/clients/{cid}/history/invoices",
            data={"_csrf_token": token, "description": description, "amount": "25.00",
                  "due_date": "2026-12-01", "vehicle_id": ""},
            headers=hx,
        )  # fmt: skip
        assert r.status_code == 400
        page = parse(r.text)
        assert page.text("#inv-description-error").startswith("Error: ")
        assert page.one("#inv-description")["aria-invalid"] == "true"
        assert page.one("#inv-description").get("value", "") == ""
    async with app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Invoice))).scalar_one() == (
            invoices
        )


@BOTH
@pytest.mark.parametrize("phone", ["512\x00555-0102", "(512) 555-0102\x1b"])
async def test_send_secure_payment_link_phone_with_a_control_character_is_refused_by_the_field(
    app: Litestar, client: AsyncTestClient[Any], session: Any, db_url: str, phone: str
) -> None:
    """The summary stays on screen (it was shown before a vehicle step used to come back, with
    the message nowhere) and the phone field says what is wrong; no link is made."""
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    for hx in (True, False):
        r = await send(client, cid, vid, phone) if hx else await send_plain(client, cid, vid, phone)
        assert r.status_code == 400
        page = parse(r.text)
        assert page.text("#phone-error") == f"Error: {REFUSED}"
        assert page.one("#phone")["aria-invalid"] == "true"
        assert page.has("#invoice-summary") and "\x00" not in r.text
    async with app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0


async def send_plain(client: AsyncTestClient[Any], cid: int, vid: str, phone: str) -> Any:
    """Send Message as a plain form post (no htmx)."""
    token = (await get_page(client, f"/plus/clients/{cid}"))[1].csrf()
    data = {"vehicle_id": vid, "days": "30", "phone": phone, "_csrf_token": token,
            "reviewed": await reviewed_now(client, cid, vid)}  # fmt: skip
    return await client.post(f"/plus/clients/{cid}/links", data=data)


# -- query parameters ------------------------------------------------------------------------


@BOTH
async def test_a_search_with_a_control_character_is_refused_by_the_search_field(
    client: AsyncTestClient[Any], db_url: str
) -> None:
    await sign_in_staff(client)
    for hx in ({}, HX):
        r = await client.get("/plus", params={"q": "Car\x00ter"}, headers=hx)
        assert r.status_code == 400
        page = parse(r.text)
        assert page.text("#q-error") == f"Error: {REFUSED}"
        assert "\x00" not in r.text
    _, page = await get_page(client, "/plus?q=Carter")
    assert page.has("#q[aria-invalid]") is False and not page.has("#q-error")
    assert "Carter" in page.text("#search-results")


@BOTH
@pytest.mark.parametrize("name", ["from", "to", "location"])
async def test_report_filters_with_a_control_character_are_refused_by_the_field(
    client: AsyncTestClient[Any], db_url: str, name: str
) -> None:
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    r = await client.get("/plus/reports", params={name: "2026-11-01\x00"})
    assert r.status_code == 400
    page = parse(r.text)
    assert page.text(f"#{name}-error") == f"Error: {REFUSED}"
    r = await client.get("/plus/reports.csv", params={name: "\x00"})
    assert r.status_code == 400 and REFUSED in r.text


async def payments_of_maria(app: Litestar) -> int:
    async with app.state.sessionmaker() as s:
        maria = (
            await s.execute(select(Client.id).where(Client.account_number == "100001"))
        ).scalar_one()
        return int(
            (
                await s.execute(
                    select(func.count()).select_from(Payment).where(Payment.client_id == maria)
                )
            ).scalar_one()
        )
