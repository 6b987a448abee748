"""My Account through the handlers: Account Information, Make a Payment, cards, AutoPay (the
AutoPay run: test_autopay_run.py)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.store.models import (
    AutopayEnrollment,
    CardOnFile,
    Client,
    Vehicle,
)
from tests.conftest import get_page, sign_in_client
from tests.html import Page, parse
from tests.integration.test_pay import tokenize

HX = {"HX-Request": "true"}


async def who(session: Any, account: str) -> tuple[Client, dict[str, Vehicle], list[CardOnFile]]:
    client = (
        await session.execute(select(Client).where(Client.account_number == account))
    ).scalar_one()
    vehicles = (
        (await session.execute(select(Vehicle).where(Vehicle.client_id == client.id)))
        .scalars()
        .all()
    )
    cards = (
        (await session.execute(select(CardOnFile).where(CardOnFile.client_id == client.id)))
        .scalars()
        .all()
    )
    return client, {v.model: v for v in vehicles}, list(cards)


def pay_data(page: Page, **extra: str) -> dict[str, str]:
    form = page.one("#pay-form")
    data = {
        "_csrf_token": page.csrf(),
        "vehicle_id": form.select_one("input[name=vehicle_id][checked]")["value"],
        "days": form.select_one("input[name=days][checked]")["value"],
        "reviewed": page.one("input[name=reviewed]")["value"],
    }
    checked = form.select_one("input[name=card][checked]")
    if checked is not None:
        data["card"] = checked["value"]
    data.update(extra)
    return data


async def test_account_information_shows_profile_vehicles_invoices_and_autopay(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100002")
    status, page = await get_page(client, "/account")
    assert status == 200
    assert "$90.00" in page.text("#past-due")
    assert "100002" in page.text("main") and "Austin North" in page.text("main")
    vehicles = page.text(".vehicle-list")
    assert "Ford F-150" in vehicles and "Toyota Camry" in vehicles and "Paid through" in vehicles
    first = page.all(".invoice-item")[0]
    assert first.get("data-status")  # newest first, with a status
    assert page.has(".invoice-item[data-status=past-due]")
    assert page.text("#autopay-status").startswith("Off")


async def test_make_a_payment_with_the_card_on_file_lands_on_account_information(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_client(client, "100001")
    maria, vehicles, cards = await who(session, "100001")
    status, page = await get_page(
        client, "/account/payment", params={"vehicle_id": vehicles["Civic"].id, "days": "14"}
    )
    assert status == 200 and page.text("#total-due") == "$48.71"
    assert page.one("#pay-form input[name=card][checked]")["value"] == str(cards[0].id)
    assert page.has("#autopay-promo")  # not enrolled: AutoPay is promoted
    # The summary updates in place for htmx.
    r = await client.get(
        "/account/payment/summary",
        params={"vehicle_id": vehicles["Civic"].id, "days": "30"},
        headers=HX,
    )
    assert parse(r.text).text("#total-due") == "$92.01"

    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account?paid=INV-")
    status, home = await get_page(client, r.headers["location"])
    assert "$48.71" in home.text("#paid-notice")
    assert home.has(".invoice-item--new") and "$48.71" in home.text(".invoice-item--new")
    assert home.has("#autopay-promo")
    assert app.state.gateway.successful_charge_count == 1
    # A resubmission of the same reviewed summary is refused as stale and charges nothing.
    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 409 and "changed" in parse(r.text).text("#form-error")
    assert app.state.gateway.successful_charge_count == 1


async def test_a_new_card_can_be_saved_while_paying_and_a_decline_saves_nothing(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_client(client, "100001")
    maria, vehicles, before = await who(session, "100001")
    _, page = await get_page(client, "/account/payment")
    declined = await tokenize(client, "4000000000000002")
    r = await client.post(
        "/account/payment",
        data=pay_data(page, card="new", payment_method=declined, save_card="yes"),
    )
    assert r.status_code == 402
    err = parse(r.text)
    assert "declined" in err.text("#card-entry-error") and "Nothing was charged" in err.text(
        "#card-entry-error"
    )
    assert not err.one("input[name=payment_method]").get("value")  # a used token is not echoed
    live = (
        await session.execute(
            select(func.count())
            .select_from(CardOnFile)
            .where(CardOnFile.client_id == maria.id, CardOnFile.removed_at.is_(None))
        )
    ).scalar_one()
    assert live == len(before)  # the declined card was not left on file

    token = await tokenize(client, "5555 5555 5555 4444")
    r = await client.post(
        "/account/payment",
        data=pay_data(page, card="new", payment_method=token, save_card="yes"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    _, methods = await get_page(client, "/account/payment/methods")
    assert "Mastercard ending 4444" in methods.text(".card-list")
    assert app.state.gateway.successful_charge_count == 1


async def test_payment_methods_add_default_and_remove(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment/methods")
    r = await client.post("/account/payment/methods", data={"_csrf_token": page.csrf()})
    assert r.status_code == 422 and "Enter your card details" in parse(r.text).text(
        "#card-entry-error"
    )
    token = await tokenize(client, "378282246310005", cvc="1234")
    r = await client.post(
        "/account/payment/methods",
        data={"_csrf_token": page.csrf(), "payment_method": token, "make_default": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    _, page = await get_page(client, r.headers["location"])
    assert "saved" in page.text("#account-notice")
    amex = (
        await session.execute(select(CardOnFile).where(CardOnFile.last4 == "0005"))
    ).scalar_one()
    assert amex.is_default and amex.brand == "American Express"
    r = await client.post(
        f"/account/payment/methods/{amex.id}/remove",
        data={"_csrf_token": page.csrf()},
        follow_redirects=False,
    )
    assert r.status_code == 303
    await session.refresh(amex)
    assert amex.removed_at is not None


async def test_autopay_enroll_cancel_and_card_in_use(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_client(client, "100001")
    maria, vehicles, cards = await who(session, "100001")
    civic = vehicles["Civic"]
    _, page = await get_page(client, "/account/payment/autopay")
    r = await client.post(
        "/account/payment/autopay",
        data={"_csrf_token": page.csrf(), "vehicle_id": str(civic.id), "card": str(cards[0].id),
              "days": "30"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    _, page = await get_page(client, r.headers["location"])
    state = page.text(f"#autopay-{civic.id} .autopay-state")
    assert "AutoPay on" in state and "next charge" in state
    _, home = await get_page(client, "/account")
    assert home.text("#autopay-status").startswith("On for 1 vehicle")
    # The only card pays AutoPay: removing it needs another card chosen first.
    r = await client.post(
        f"/account/payment/methods/{cards[0].id}/remove", data={"_csrf_token": page.csrf()}
    )
    assert r.status_code == 422 and "AutoPay" in parse(r.text).text(f"#card-{cards[0].id}-error")
    r = await client.post(
        f"/account/payment/autopay/{civic.id}/cancel",
        data={"_csrf_token": page.csrf()},
        follow_redirects=False,
    )
    assert r.status_code == 303
    enrollment = (await session.execute(select(AutopayEnrollment))).scalar_one()
    assert enrollment.active is False


async def test_another_clients_ids_are_not_found(
    client: AsyncTestClient[Any], session: Any
) -> None:
    james, james_vehicles, james_cards = await who(session, "100002")
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment")
    token = page.csrf()
    f150 = james_vehicles["F-150"].id
    mc = james_cards[0].id
    for method, url, data in (
        ("get", f"/account/payment?vehicle_id={f150}", None),
        ("get", f"/account/payment/summary?vehicle_id={f150}&days=30", None),
        ("post", "/account/payment", {"vehicle_id": str(f150), "days": "30", "card": str(mc)}),
        ("post", f"/account/payment/methods/{mc}/default", {}),
        ("post", f"/account/payment/methods/{mc}/remove", {}),
        ("post", "/account/payment/autopay", {"vehicle_id": str(f150), "card": str(mc), "days": "30"}),
        ("post", f"/account/payment/autopay/{f150}/cancel", {}),
    ):  # fmt: skip
        if method == "get":
            r = await client.get(url, headers=HX)
        else:
            r = await client.post(url, data={"_csrf_token": token, **(data or {})})
        assert r.status_code == 404, (url, r.status_code)
    # Maria's own card used with James's... nothing changed on James's side.
    await session.refresh(james_cards[0])
    assert james_cards[0].removed_at is None and james_cards[0].is_default


async def test_signed_out_and_csrf(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/account/payment", follow_redirects=False)
    assert r.status_code in (302, 303) and "/account/login" in r.headers["location"]
    await sign_in_client(client, "100001")
    r = await client.post("/account/payment", data={"vehicle_id": "1", "days": "30"})
    assert r.status_code == 403


async def test_location_not_accepting_payments_offers_no_pay_button(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100003")
    _, page = await get_page(client, "/account/payment")
    assert "does not take payments online" in page.text("#payments-off")
    assert not page.has("[data-pay-submit]")
