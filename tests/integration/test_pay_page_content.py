"""What the Secure Payment pages say: whose page it is, why a link no longer works, how long a
link lasted, the decline said once, and, without JavaScript, the phone number first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from app.store.models import PaymentLink
from tests.html import Page, parse
from tests.integration.test_language import set_language
from tests.integration.test_pay import make_link, submit

CALL = 'a[href="tel:+18005550199"]'


async def link_row(app: Litestar) -> PaymentLink:
    """The newest link."""
    async with app.state.sessionmaker() as s:
        query = select(PaymentLink).order_by(PaymentLink.id.desc())  # type: ignore[union-attr]
        link = (await s.execute(query)).scalars().first()
    assert link is not None
    return link


async def set_link(app: Litestar, **values: Any) -> None:
    link = await link_row(app)
    async with app.state.sessionmaker() as s:
        await s.execute(update(PaymentLink).where(PaymentLink.id == link.id).values(**values))
        await s.commit()


def says_whose_page(page: Page, company: str = "Demo Interlock") -> None:
    assert company in page.text("title")
    assert page.text("header .pay-company") == company
    assert company in page.text(".pay-owner")
    assert page.has(f"footer {CALL}")  # the support number is tap-to-call


async def test_the_page_says_who_is_paid_in_english_and_spanish(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}?lang=en")).text)
    assert page.text("title") == "Pay $182.01 to Demo Interlock — Demo Interlock Secure Payment"
    says_whose_page(page)
    assert page.text(".pay-owner") == "This is the Demo Interlock My Account secure payment page."
    assert "to Demo Interlock on this card" in page.text("label.terms")

    page = parse((await client.get(f"/pay/{token}?lang=es")).text)
    assert page.text("title") == "Pagar $182.01 a Demo Interlock — Pago seguro de Demo Interlock"
    says_whose_page(page)
    assert "página de pago seguro" in page.text(".pay-owner")


async def test_the_receipt_names_the_company_and_the_time_zone(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100002", "es")
    token = await make_link(app)
    r = await submit(client, token)
    assert r.status_code == 303
    page = parse((await client.get(r.headers["location"])).text)
    says_whose_page(page)
    assert page.text("title").startswith("Pago recibido — ")
    assert page.text("#receipt-company") == "Demo Interlock"
    assert page.text("#receipt-date").endswith("CST")
    page = parse((await client.get(f"/pay/{token}")).text)  # opened again later
    assert "Demo Interlock" in page.text("main")
    says_whose_page(page)


async def test_a_decline_is_said_once_in_a_summary_linking_to_the_card_number(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    token = await make_link(app)
    r = await submit(client, token, card="decline")
    assert r.status_code == 402
    page = parse(r.text)
    message = page.text("#card-error")
    assert "declined" in message
    assert page.text("main").count(message) == 1  # once, not again next to the field
    assert page.one("#pay-errors a")["href"] == "#cc-number"
    assert page.one("#pay-errors")["tabindex"] == "-1"  # pay.js focuses it on load
    number = page.one("#cc-number")
    assert "card-error" in str(number["aria-describedby"]) and number["aria-invalid"] == "true"
    assert page.one("#terms").has_attr("checked")  # the tick the payer gave is kept
    assert not page.one("[data-pay-submit]").has_attr("disabled")


async def test_missing_terms_are_said_once_and_the_box_points_to_the_message(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    token = await make_link(app)
    r = await submit(client, token, terms=False)
    assert r.status_code == 422
    page = parse(r.text)
    assert page.text("main").count(page.text("#terms-error")) == 1
    assert "terms-error" in str(page.one("#terms")["aria-describedby"])
    assert not page.one("#terms").has_attr("checked")


async def test_without_javascript_the_phone_notice_comes_first_and_no_card_field_shows(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    first = page.one("main").find(True)
    assert first is not None and first.name == "noscript"
    notice = page.one("noscript #no-js")
    assert "JavaScript" in notice.get_text() and notice.select(CALL)
    # The card form and the countdown wait for pay.js to unhide them.
    assert page.one(".pay-by-card").has_attr("hidden")
    assert page.one(".pay-by-card #cc-number") is not None
    assert page.one(".time-left[data-needs-js]").has_attr("hidden")
    assert not page.one("#payment-summary").has_attr("hidden")


async def test_a_cancelled_link_says_cancelled_not_expired(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    token = await make_link(app)
    await set_link(app, status="cancelled", cancelled_at=app.state.clock.now())
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 410  # gone for good, like an expired one, but said as it is
    page = parse(r.text)
    assert page.text("h1") == "This payment link was cancelled"
    assert "expired" not in page.text("main").lower()
    assert page.text("title").startswith("Link cancelled — ")
    says_whose_page(page)
    assert page.has(f"main {CALL}")
    r = await submit(client, token)
    assert r.status_code == 410 and "cancelled" in parse(r.text).text("h1")


async def test_a_superseded_link_says_replaced_in_spanish(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100002", "es")
    first = await make_link(app)
    await make_link(app)
    r = await client.get(f"/pay/{first}")
    assert r.status_code == 410
    page = parse(r.text)
    assert page.text("h1") == "Este enlace de pago fue reemplazado por uno más reciente"
    assert "venció" not in page.text("main")


async def test_an_expired_link_says_its_real_lifetime_singular_or_in_seconds(
    app: Litestar, client: AsyncTestClient[Litestar], clock: Any
) -> None:
    token = await make_link(app)
    link = await link_row(app)
    await set_link(app, expires_at=link.created_at + timedelta(seconds=60))
    clock.advance(seconds=61)
    page = parse((await client.get(f"/pay/{token}")).text)
    assert "Payment links work for 1 minute after they are sent." in page.text("main")
    says_whose_page(page)

    await set_link(app, expires_at=link.created_at + timedelta(seconds=20))
    page = parse((await client.get(f"/pay/{token}")).text)
    assert "Payment links work for 20 seconds after they are sent." in page.text("main")
    page = parse((await client.get(f"/pay/{token}?lang=es")).text)
    assert "funcionan durante 20 segundos" in page.text("main")


async def test_every_final_page_names_the_company_with_a_tap_to_call_number(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    r = await client.get("/pay/" + "x" * 43)
    assert r.status_code == 404
    page = parse(r.text)
    says_whose_page(page)
    assert page.has(f"main {CALL}")
    token = await make_link(app)
    await set_link(app, status="locked")
    page = parse((await client.get(f"/pay/{token}")).text)
    says_whose_page(page)
    assert page.has(f"main {CALL}")
