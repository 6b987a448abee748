"""My Account in stripe mode: a new card that needs 3-D Secure is finished in the browser, then
confirmed by the server; only the signed-in client can confirm their own payment."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.store.models import Payment
from tests.conftest import get_page, sign_in_client
from tests.fakes.fake_stripe import FakeStripe
from tests.html import Page, parse
from tests.integration.test_stripe_flow import client, fake, settings  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def pay_form(page: Page, payment_method: str) -> dict[str, str]:
    form = page.one("#pay-form")
    return {
        "_csrf_token": page.csrf(),
        "vehicle_id": form.select_one("input[name=vehicle_id][checked]")["value"],
        "days": form.select_one("input[name=days][checked]")["value"],
        "reviewed": page.one("input[name=reviewed]")["value"],
        "card": "new",
        "payment_method": payment_method,
    }


async def start(client: AsyncTestClient[Any], app: Litestar) -> tuple[Page, Payment]:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment")
    r = await client.post("/account/payment", data=pay_form(page, "pm_card_authenticationRequired"))
    assert r.status_code == 200, r.text
    page = parse(r.text)
    form = page.one("#pay-form")
    assert (
        form["data-next-action-secret"] and form["data-confirm-url"] == "/account/payment/confirm"
    )
    async with app.state.sessionmaker() as s:
        payment = (await s.execute(select(Payment).where(Payment.channel == "portal"))).scalar_one()
    assert payment.status == "pending" and page.one("input[name=pending_payment]")["value"] == str(
        payment.id
    )
    return page, payment


async def confirm(client: AsyncTestClient[Any], page: Page) -> Any:
    return await client.post(
        "/account/payment/confirm",
        data={"_csrf_token": page.csrf(), "pending_payment": page.one("input[name=pending_payment]")["value"]},
        follow_redirects=False,
    )  # fmt: skip


async def test_3ds_then_confirm_lands_on_account_information(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    page, payment = await start(client, app)
    fake.complete_action(payment.processor_ref)
    r = await confirm(client, page)
    assert r.status_code == 303 and r.headers["location"].startswith("/account?paid=INV-")
    r = await confirm(client, page)  # again: applied once, same answer
    assert r.status_code == 303
    async with app.state.sessionmaker() as s:
        done = (await s.execute(select(Payment).where(Payment.channel == "portal"))).scalar_one()
    assert done.status == "succeeded" and len(fake.charges) == 1


async def test_3ds_refused_by_the_bank_charges_nothing(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    page, payment = await start(client, app)
    fake.fail_action(payment.processor_ref)
    r = await confirm(client, page)
    assert r.status_code == 402
    assert "did not confirm" in parse(r.text).text("#card-entry-error")
    assert fake.charges == []


async def test_another_client_cannot_confirm_the_payment(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    page, payment = await start(client, app)
    fake.complete_action(payment.processor_ref)
    await client.post("/account/logout", data={"_csrf_token": page.csrf()})
    await sign_in_client(client, "100002")
    _, other = await get_page(client, "/account/payment")
    r = await client.post(
        "/account/payment/confirm",
        data={"_csrf_token": other.csrf(), "pending_payment": str(payment.id)},
    )
    assert r.status_code == 404


async def test_payment_methods_uses_the_payment_element_in_setup_mode(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment/methods")
    entry = page.one("#add-card-form [data-card-entry]")
    assert entry["data-gateway"] == "stripe" and entry["data-mode"] == "setup"
    assert page.has("#payment-element") and not page.has("#cc-number")


async def test_the_same_card_saved_twice_is_kept_once_by_its_fingerprint(
    client: AsyncTestClient[Any], fake: FakeStripe
) -> None:
    """Each card entry makes a new PaymentMethod; Stripe's card.fingerprint says it is the
    same card: one "Visa ending 4242" stays, on the newest PaymentMethod, the other detached."""
    await sign_in_client(client, "100002")
    refs = []
    for _ in range(2):
        pm = fake.enter_card("pm_card_visa")
        refs.append(pm)
        _, page = await get_page(client, "/account/payment/methods")
        r = await client.post(
            "/account/payment/methods",
            data={"_csrf_token": page.csrf(), "payment_method": pm},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    _, page = await get_page(client, "/account/payment/methods")
    visas = [li for li in page.all(".card-item") if "Visa ending 4242" in li.get_text()]
    assert len(visas) == 1 and "Expires 12/2034" in visas[0].get_text()
    assert fake.payment_methods[refs[0]]["customer"] is None  # detached
    assert fake.payment_methods[refs[1]]["customer"] is not None
