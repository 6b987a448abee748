"""My Account's seed points: the live payment link a client was texted, the next service
appointment next to what paying covers, and cards on file kept once (with their expiry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from app.clock import FixedClock
from app.store.models import CardOnFile, Client, Vehicle
from tests.conftest import get_page, sign_in_client, sign_in_staff
from tests.html import Page, parse
from tests.integration.test_account import pay_data, who
from tests.integration.test_send_link import client_id, send, summary_form

HX = {"HX-Request": "true"}
BOTH = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def text_a_link(client: AsyncTestClient[Any], session: Any, days: int = 14) -> None:
    """Staff send Maria a Secure Payment Link for her Civic, then she signs in to My Account."""
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic", days)
    r = await send(client, cid, vid, "(512) 555-0177", days)
    assert r.status_code == 200, r.text
    await client.post(
        "/plus/logout", data={"_csrf_token": (await get_page(client, "/plus"))[1].csrf()}
    )
    await sign_in_client(client, "100001")


@BOTH
async def test_account_information_and_payment_show_the_live_link_without_its_url(
    client: AsyncTestClient[Any], session: Any, clock: FixedClock
) -> None:
    await text_a_link(client, session)
    _, home = await get_page(client, "/account")
    panel = home.text("#live-link")
    assert "$48.71" in panel and "Civic" in panel and "14 days" in panel
    assert "ending in 0177" in panel and "10:10 AM CST" in panel  # sent at 10:00 CST, 10 min
    assert not any("/pay/" in (a.get("href") or "") for a in home.all("a"))
    _, vehicles, _ = await who(session, "100001")
    pay_now = home.one("#live-link a")
    assert pay_now.get_text(strip=True) == "Pay now"
    assert pay_now["href"] == f"/account/payment?vehicle_id={vehicles['Civic'].id}&days=14"

    # "Pay now" is My Account's own Make a Payment for the same vehicle and days.
    _, page = await get_page(client, pay_now["href"])
    assert page.text("#total-due") == "$48.71"
    assert "same vehicle and days" in page.text("#live-link")
    for tab in ("/account/payment/methods", "/account/payment/autopay"):
        assert "$48.71" in (await get_page(client, tab))[1].text("#live-link")

    # Paid here, the link's period is paid: the panel goes.
    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 303
    assert not (await get_page(client, "/account"))[1].has("#live-link")


async def test_the_live_link_panel_goes_when_the_link_expires(
    client: AsyncTestClient[Any], session: Any, clock: FixedClock
) -> None:
    await text_a_link(client, session)
    assert (await get_page(client, "/account"))[1].has("#live-link")
    clock.advance(seconds=601)
    assert not (await get_page(client, "/account"))[1].has("#live-link")
    assert not (await get_page(client, "/account/payment"))[1].has("#live-link")


async def test_no_live_link_no_panel(client: AsyncTestClient[Any]) -> None:
    await sign_in_client(client, "100002")
    assert not (await get_page(client, "/account"))[1].has("#live-link")


async def test_make_a_payment_says_what_paying_covers_next_to_the_appointment(
    client: AsyncTestClient[Any], session: Any, clock: FixedClock
) -> None:
    await sign_in_client(client, "100001")
    _, vehicles, _ = await who(session, "100001")
    civic = vehicles["Civic"]  # paid through Nov 30, appointment Dec 7 (seed)
    _, page = await get_page(
        client, "/account/payment", params={"vehicle_id": civic.id, "days": "14"}
    )
    assert page.text("#covers") == (
        "Paying now covers you through Dec 14, 2026, past your Dec 7, 2026 service appointment."
    )
    # An appointment after the period: pay again before it (the fragment says so too).
    await session.execute(
        update(Vehicle)
        .where(Vehicle.id == civic.id)
        .values(next_appointment=clock.now() + timedelta(days=40))
    )
    await session.commit()
    r = await client.get(
        "/account/payment/summary", params={"vehicle_id": civic.id, "days": "14"}, headers=HX
    )
    assert parse(r.text).text("#covers") == (
        "Paying now covers you through Dec 14, 2026. Your next service appointment is "
        "Jan 4, 2027: you will need to pay again before then."
    )
    await session.execute(
        update(Vehicle).where(Vehicle.id == civic.id).values(next_appointment=None)
    )
    await session.commit()
    _, page = await get_page(
        client, "/account/payment", params={"vehicle_id": civic.id, "days": "30"}
    )
    assert "No service appointment is booked" in page.text("#covers")


async def save_card(client: AsyncTestClient[Any], number: str, exp: str) -> Page:
    r = await client.post(
        "/sandbox/payment_methods",
        json={"number": number, "exp": exp, "cvc": "123", "postal_code": "78701"},
    )
    token = r.json()["id"]
    _, page = await get_page(client, "/account/payment/methods")
    r = await client.post(
        "/account/payment/methods",
        data={"_csrf_token": page.csrf(), "payment_method": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return (await get_page(client, r.headers["location"]))[1]


@BOTH
async def test_saving_the_same_card_twice_keeps_one_with_its_latest_expiry(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_client(client, "100002")
    await save_card(client, "4242424242424242", "12/30")
    page = await save_card(client, "4242 4242 4242 4242", "01/31")
    visas = [li for li in page.all(".card-item") if "Visa ending 4242" in li.get_text()]
    assert len(visas) == 1 and "Expires 01/2031" in visas[0].get_text()
    james_id = (
        await session.execute(select(Client.id).where(Client.account_number == "100002"))
    ).scalar_one()
    rows = (
        (
            await session.execute(
                select(CardOnFile).where(
                    CardOnFile.last4 == "4242", CardOnFile.client_id == james_id
                )
            )
        )
        .scalars()
        .all()
    )
    james = [c for c in rows if c.removed_at is None and c.fingerprint]
    assert len(james) == 1 and (james[0].exp_month, james[0].exp_year) == (1, 2031)
    assert len(app.state.gateway._removed) == 1  # the reference it replaced was detached
    # Another card is another card.
    page = await save_card(client, "6011111111111117", "12/30")
    assert len(page.all(".card-item")) == 4  # Mastercard 4444, expired Visa 1881, 4242, Discover
    # The expired Visa 1881 typed again with a new expiry is that card, renewed: still 4.
    page = await save_card(client, "4012888888881881", "12/30")
    assert len(page.all(".card-item")) == 4 and any(
        "Visa ending 1881" in li.get_text() and "Expires 12/2030" in li.get_text()
        for li in page.all(".card-item")
    )


async def test_saving_while_paying_a_card_already_on_file_keeps_one(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_client(client, "100002")
    await save_card(client, "4242424242424242", "12/30")
    _, page = await get_page(client, "/account/payment")
    r = await client.post(
        "/sandbox/payment_methods",
        json={"number": "4242424242424242", "exp": "12/30", "cvc": "123", "postal_code": "78701"},
    )
    data = pay_data(page, card="new", payment_method=r.json()["id"], save_card="yes")
    r = await client.post("/account/payment", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    _, methods = await get_page(client, "/account/payment/methods")
    assert sum("Visa ending 4242" in li.get_text() for li in methods.all(".card-item")) == 1


async def test_cards_always_show_their_expiry(client: AsyncTestClient[Any]) -> None:
    await sign_in_client(client, "100002")
    _, make = await get_page(client, "/account/payment")
    assert all("expires" in c.get_text() for c in make.all(".card-choice"))
    assert all("expires" in c.get_text() for c in make.all("#promo-card .card-choice"))
    _, autopay = await get_page(client, "/account/payment/autopay")
    choices = autopay.all(".autopay-form .card-choice")
    assert choices and all("expires" in c.get_text() for c in choices)
    _, methods = await get_page(client, "/account/payment/methods")
    assert all("Expires" in li.get_text() for li in methods.all(".card-item"))


async def test_errors_are_written_once_and_the_summary_links_to_their_fields(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100001")
    _, first = await get_page(client, "/account/payment")
    r = await client.post("/account/payment", data=pay_data(first, card="new"))
    assert r.status_code == 422
    page = parse(r.text)
    summary = page.one("#error-summary")
    assert summary.has_attr("autofocus") and summary["tabindex"] == "-1"
    assert [(a["href"], a.get_text(strip=True)) for a in summary.select("a")] == [
        ("#new-card", "Card details")
    ]
    # Written once where a reader sees it (card.js carries the same words in a data attribute).
    assert page.has("#new-card") and page.text("body").count("Enter your card details.") == 1
    assert page.one("#cc-number")["aria-invalid"] == "true"
    assert "card-entry-error" in page.one("#cc-number")["aria-describedby"]
    # A message about the whole form is in the summary, once.
    stale = pay_data(first, reviewed="0" * 16)
    r = await client.post("/account/payment", data=stale)
    assert r.status_code == 409
    page = parse(r.text)
    assert "changed" in page.text("#error-summary #form-error") and not page.all("#error-summary a")
    assert r.text.count("Your account changed since") == 1


async def test_a_payment_still_being_confirmed_is_said_as_news_not_as_a_problem(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment")
    lost = await client.post(
        "/sandbox/payment_methods",
        json={"number": "4000000000000408", "exp": "12/30", "cvc": "123", "postal_code": "78701"},
    )
    data = pay_data(page, card="new", payment_method=lost.json()["id"])
    r = await client.post("/account/payment", data=data)
    assert r.status_code == 202
    page = parse(r.text)
    assert "confirming your payment" in page.text("#confirming")
    assert page.one("#confirming")["role"] == "status" and not page.has("#error-summary")


async def test_monitoring_invoices_are_written_in_the_readers_language(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100002")
    _, page = await get_page(client, "/account", params={"lang": "es"})
    lines = page.text(".invoice-list")
    assert "Monitoreo — 30 días, 2015 Ford F-150" in lines and "Monitoring —" not in lines
    _, page = await get_page(client, "/account", params={"lang": "en"})
    assert "Monitoring — 30 days, 2015 Ford F-150, Oct 29, 2026 – Nov 27, 2026" in page.text(
        ".invoice-list"
    )


async def test_an_unknown_language_is_said_once_by_its_field_and_linked_from_the_summary(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account")
    r = await client.post("/account/language", data={"_csrf_token": page.csrf(), "language": "xx"})
    assert r.status_code == 422
    page = parse(r.text)
    assert [a["href"] for a in page.all("#error-summary a")] == ["#language"]
    assert page.one("#language")["aria-invalid"] == "true"
    assert len(page.all(".field-error")) == 1


async def test_sign_in_errors_are_said_once(client: AsyncTestClient[Any]) -> None:
    _, page = await get_page(client, "/account/login")
    r = await client.post(
        "/account/login", data={"_csrf_token": page.csrf(), "account_number": "12"}
    )
    page = parse(r.text)
    links = [a["href"] for a in page.all("#error-summary a")]
    assert links and set(links) <= {"#account_number", "#password"}
    for error in page.all(".field-error"):
        message = error.get_text(strip=True).removeprefix("Error:").strip()
        assert r.text.count(message) == 1, message


async def test_saving_the_seeded_card_again_with_a_new_expiry_keeps_one(
    client: AsyncTestClient[Any],
) -> None:
    """Maria's seeded Visa 4242 carries the sandbox's fingerprint: typed again, it is the same
    card (with its new expiry), not a second one."""
    await sign_in_client(client, "100001")
    page = await save_card(client, "4242 4242 4242 4242", "01/31")
    visas = [li for li in page.all(".card-item") if "Visa ending 4242" in li.get_text()]
    assert len(visas) == 1 and "Expires 01/2031" in visas[0].get_text()
