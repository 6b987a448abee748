"""Every card, vehicle and payment a form names is checked against the signed-in user's own
records before use: another client's is not found, and nothing is charged, saved or changed.
The sandbox charges any card reference it can read, so the app is the only guard here."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.services import autopay
from app.store.models import AutopayEnrollment, CardOnFile, Client, Payment, Vehicle
from tests.conftest import get_page, sign_in_client, sign_in_staff
from tests.html import parse
from tests.integration.test_account import pay_data, who
from tests.integration.test_history import card_ids, charge, history, review, take_form
from tests.integration.test_pay import make_link

HX = {"HX-Request": "true"}


async def owner(session: Any, account: str) -> tuple[Client, list[Vehicle], list[CardOnFile]]:
    client, vehicles, cards = await who(session, account)
    return client, list(vehicles.values()), cards


async def count(session: Any, model: Any, **where: Any) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return int((await session.execute(query)).scalar_one())


def usable(cards: list[CardOnFile]) -> CardOnFile:
    """A card that still works (James also has an expired one): a refusal is about whose it
    is, never about its expiry."""
    return max(cards, key=lambda c: (c.exp_year, c.exp_month))


async def test_make_a_payment_refuses_another_clients_card_id_or_reference(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    james, _, james_cards = await owner(session, "100002")
    maria, _, maria_cards = await owner(session, "100001")
    theirs = usable(james_cards)
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment")
    charged, payments = app.state.gateway.successful_charge_count, await count(session, Payment)

    # James's card on file by its id ...
    r = await client.post("/account/payment", data=pay_data(page, card=str(theirs.id)))
    assert r.status_code == 404
    # ... or by its processor reference posted as a "new card" token, saved or not.
    for save in ("", "yes"):
        r = await client.post(
            "/account/payment",
            data=pay_data(page, card="new", payment_method=theirs.processor_ref, save_card=save),
        )
        assert r.status_code == 404, save

    assert app.state.gateway.successful_charge_count == charged
    assert await count(session, Payment) == payments  # not even a pending attempt
    assert await count(session, CardOnFile, client_id=maria.id) == len(maria_cards)
    # Her own card still pays: the refusal is about whose card it is, not the form.
    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 303 and app.state.gateway.successful_charge_count == charged + 1


async def test_payment_methods_refuse_another_clients_cards(
    client: AsyncTestClient[Any], session: Any
) -> None:
    james, _, james_cards = await owner(session, "100002")
    maria, _, maria_cards = await owner(session, "100001")
    theirs = usable(james_cards)
    was_default = theirs.is_default
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment/methods")
    token = page.csrf()

    # Saving James's card reference as a new card of Maria's.
    r = await client.post(
        "/account/payment/methods",
        data={"_csrf_token": token, "payment_method": theirs.processor_ref},
    )
    assert r.status_code == 404
    assert await count(session, CardOnFile, client_id=maria.id) == len(maria_cards)
    assert await count(session, CardOnFile, processor_ref=theirs.processor_ref) == 1
    # Making James's card her default, or removing it.
    for action in ("default", "remove"):
        r = await client.post(
            f"/account/payment/methods/{theirs.id}/{action}", data={"_csrf_token": token}
        )
        assert r.status_code == 404, action
    await session.refresh(theirs)
    assert theirs.removed_at is None and theirs.is_default == was_default


async def test_autopay_refuses_another_clients_card_or_vehicle(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    james, james_vehicles, james_cards = await owner(session, "100002")
    maria, maria_vehicles, maria_cards = await owner(session, "100001")
    mine, theirs = usable(maria_cards), usable(james_cards)
    civic, f150 = maria_vehicles[0], james_vehicles[0]
    await autopay.enroll(
        session, client_id=james.id or 0, vehicle_id=f150.id or 0, card_id=theirs.id or 0,
        days=30, now=app.state.clock.now(),
    )  # fmt: skip
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment/autopay")
    token = page.csrf()

    for vehicle, card in ((civic, theirs), (f150, mine)):
        r = await client.post(
            "/account/payment/autopay",
            data={"_csrf_token": token, "vehicle_id": vehicle.id, "card": card.id, "days": "30"},
        )
        assert r.status_code == 404, (vehicle.model, card.last4)
    assert await count(session, AutopayEnrollment, client_id=maria.id) == 0
    r = await client.post(f"/account/payment/autopay/{f150.id}/cancel", data={"_csrf_token": token})
    assert r.status_code == 404
    enrollment = (
        await session.execute(
            select(AutopayEnrollment).where(AutopayEnrollment.vehicle_id == f150.id)
        )
    ).scalar_one()
    await session.refresh(enrollment)
    assert enrollment.active and enrollment.card_id == theirs.id

    # Removing her own AutoPay card cannot hand AutoPay over to James's card.
    r = await client.post(
        "/account/payment/autopay",
        data={"_csrf_token": token, "vehicle_id": civic.id, "card": mine.id, "days": "30"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = await client.post(
        f"/account/payment/methods/{mine.id}/remove",
        data={"_csrf_token": token, "move_autopay_to": theirs.id},
    )
    assert r.status_code == 404
    await session.refresh(mine)
    assert mine.removed_at is None


async def test_another_clients_vehicle_or_payment_in_my_account_is_not_found(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    james, james_vehicles, _ = await owner(session, "100002")
    f150 = james_vehicles[0]
    their_payment = (
        (await session.execute(select(Payment.id).where(Payment.client_id == james.id)))
        .scalars()
        .first()
    )
    assert their_payment is not None
    await sign_in_client(client, "100001")
    _, page = await get_page(client, "/account/payment")
    for url, params in (
        ("/account/payment", {"vehicle_id": f150.id}),
        ("/account/payment/summary", {"vehicle_id": f150.id, "days": "30"}),
        (f"/account/payment/return/{their_payment}", {}),
    ):
        r = await client.get(url, params=params, headers=HX)
        assert r.status_code == 404, url
    r = await client.post(
        "/account/payment",
        data=pay_data(page, vehicle_id=str(f150.id)),
    )
    assert r.status_code == 404
    r = await client.post(
        "/account/payment/confirm",
        data={"_csrf_token": page.csrf(), "pending_payment": str(their_payment)},
    )
    assert r.status_code == 404


async def test_a_payment_link_refuses_any_saved_card_reference(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    """Single-use card entry: a link paid with someone's card on file by typing its reference
    in would charge that card for another client's bill."""
    _, _, maria_cards = await owner(session, "100001")
    token = await make_link(app, account="100002")
    page = parse((await client.get(f"/pay/{token}")).text)
    charged = app.state.gateway.successful_charge_count
    for reference in {c.processor_ref for c in maria_cards}:
        r = await client.post(
            f"/pay/{token}",
            data={"_csrf_token": page.csrf(), "payment_method": reference, "terms": "accepted"},
            follow_redirects=False,
        )
        assert r.status_code >= 400, reference
        assert "could not be read" in parse(r.text).text("main")
    assert app.state.gateway.successful_charge_count == charged
    assert (await client.get(f"/pay/{token}")).status_code == 200  # still payable


async def test_take_payment_refuses_a_card_of_another_client(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    james, james_vehicles, james_cards = await owner(session, "100002")
    _, _, maria_cards = await owner(session, "100001")
    hers = usable(maria_cards)
    await sign_in_staff(client)
    cid = james.id or 0
    page = await take_form(client, cid, james_vehicles[0].id or 0)
    assert str(hers.id) not in {v for v, _ in card_ids(page).values()}
    # Reviewing with her card id: refused next to the field.
    r = await review(client, cid, page, str(hers.id))
    assert r.status_code == 422 and "not found" in parse(r.text).text()
    # Charging a reviewed payment with the card swapped for hers: refused, nothing charged.
    confirm = parse((await review(client, cid, page, str(usable(james_cards).id))).text)
    form = confirm.one("#confirm-charge form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    charged = app.state.gateway.successful_charge_count
    r = await client.post(
        f"{history(cid)}/payments", data={**data, "card_id": str(hers.id)}, headers=HX
    )
    assert r.status_code == 422 and "not found" in parse(r.text).text()
    assert app.state.gateway.successful_charge_count == charged
    # The same form with James's own card goes through.
    r, _ = await charge(client, cid, confirm)
    assert r.status_code == 200 and app.state.gateway.successful_charge_count == charged + 1
