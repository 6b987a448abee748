"""Paying the past due balance only (issue 14 item 3): in My Account and by a staff link.
Nothing but the past due invoices is settled, no period is bought, and the ledger and the
receipt say what was paid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.domain.summary import PAST_DUE_ONLY
from app.services.sms_worker import deliver_due
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Invoice, Payment, PaymentAllocation, PaymentLink, Vehicle
from tests.books import books_balance
from tests.conftest import get_page, sign_in_client, sign_in_staff
from tests.html import parse
from tests.integration.test_account import pay_data, who
from tests.integration.test_money_failures import (
    LOST_ANSWER,
    both_databases,
    link_payments,
)
from tests.integration.test_money_failures import pay as pay_with
from tests.integration.test_pay import make_link, submit
from tests.integration.test_send_link import client_id

HX = {"HX-Request": "true"}


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The test's own sessions, on its event loop (as in test_money_failures)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _fee(session: Any, client_id: int) -> Invoice:
    return (
        await session.execute(
            select(Invoice).where(
                Invoice.client_id == client_id, Invoice.description == "Missed appointment fee"
            )
        )
    ).scalar_one()


async def _allocations(session: Any, payment_id: int) -> list[tuple[int, int]]:
    rows = await session.execute(
        select(PaymentAllocation.invoice_id, PaymentAllocation.amount_cents).where(
            PaymentAllocation.payment_id == payment_id
        )
    )
    return sorted((int(i), int(c)) for i, c in rows)


async def test_james_pays_only_his_past_due_balance_in_my_account(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_client(client, "100002")
    james, vehicles, cards = await who(session, "100002")
    f150 = vehicles["F-150"]
    james_id, f150_id, paid_through = james.id, f150.id, f150.paid_through
    status, page = await get_page(client, "/account/payment", params={"vehicle_id": f150.id})
    assert status == 200
    offer = page.one("#days-past-due")
    assert offer["value"] == "past_due" and "$90.00" in offer.parent.get_text()
    assert page.one("#days-14").find_parent("fieldset").legend.get_text(strip=True) == "What to pay"

    # The summary updates in place for the choice, and as a page without JavaScript.
    r = await client.get(
        "/account/payment/summary",
        params={"vehicle_id": f150.id, "days": "past_due"},
        headers=HX,
    )
    fragment = parse(r.text)
    assert fragment.text("#total-due") == "$90.00"
    assert [line["class"][1] for line in fragment.all(".summary-line:not(.summary-total)")] == [
        "summary-line--past_due"
    ]
    assert "still paid through" in fragment.text("#payment-summary .muted")
    status, page = await get_page(
        client, "/account/payment", params={"vehicle_id": f150.id, "days": "past_due"}
    )
    assert page.one("#days-past-due").has_attr("checked") and page.text("#total-due") == "$90.00"

    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 303, r.text
    fee = await _fee(session, james_id or 0)
    fee_id, fee_number = fee.id, fee.number
    assert r.headers["location"] == f"/account?paid={fee_number}"
    assert app.state.gateway.successful_charge_count == 1

    session.expire_all()
    payment = (
        (await session.execute(select(Payment).where(Payment.client_id == james_id)))
        .scalars()
        .all()[-1]
    )
    assert (payment.status, payment.amount_cents, payment.channel) == ("succeeded", 9000, "portal")
    assert await _allocations(session, payment.id or 0) == [(fee_id or 0, 9000)]
    assert (await _fee(session, james_id or 0)).status == "paid"
    vehicle = await session.get(Vehicle, f150_id)
    assert vehicle is not None and vehicle.paid_through == paid_through  # no period bought
    new_monitoring = (
        (
            await session.execute(
                select(Invoice).where(
                    Invoice.client_id == james_id, Invoice.created_at >= payment.created_at
                )
            )
        )
        .scalars()
        .all()
    )
    assert new_monitoring == []

    # Account Information: no past due any more, and the option is gone from Make a Payment.
    _, home = await get_page(client, r.headers["location"])
    assert "$90.00" in home.text("#paid-notice")
    assert not home.has("#past-due") or "$0.00" in home.text("#past-due")
    _, page = await get_page(client, "/account/payment")
    assert not page.has("#days-past-due")
    assert (
        page.one("#days-14").find_parent("fieldset").legend.get_text(strip=True) == "Monitor days"
    )
    # The receipt text names the amount and the invoice it paid.
    await deliver_due(app.state.sessionmaker, app.state.sms, app.state.clock, app.state.box)
    receipt = list(app.state.sms.delivered.values())[-1]
    assert "$90.00" in receipt and fee_number in receipt


async def test_past_due_only_without_a_past_due_balance_is_refused_next_to_the_field(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_client(client, "100001")  # Maria owes nothing past due
    _, vehicles, _ = await who(session, "100001")
    _, page = await get_page(client, "/account/payment")
    assert not page.has("#days-past-due")
    # Asked for by address: the usual days instead, no error.
    status, page = await get_page(
        client, "/account/payment", params={"vehicle_id": vehicles["Civic"].id, "days": "past_due"}
    )
    assert status == 200 and page.one("input[name=days][checked]")["value"] in ("14", "30")
    # Posted anyway (a stale page): refused next to the field, nothing charged.
    data = pay_data(page, days="past_due")
    r = await client.post("/account/payment", data=data)
    assert r.status_code == 409
    assert "no past due balance" in parse(r.text).text("#days-error")
    assert app.state.gateway.successful_charge_count == 0


async def test_a_past_due_snapshot_is_refused_when_the_past_due_set_changed(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    """Reviewed "past due only" then a supervisor voided the fee: stale, nothing charged."""
    await sign_in_client(client, "100002")
    james, vehicles, _ = await who(session, "100002")
    _, page = await get_page(
        client,
        "/account/payment",
        params={"vehicle_id": vehicles["F-150"].id, "days": "past_due"},
    )
    fee = await _fee(session, james.id or 0)
    fee.status = "void"
    session.add(fee)
    await session.commit()
    r = await client.post("/account/payment", data=pay_data(page))
    assert r.status_code == 409
    assert app.state.gateway.successful_charge_count == 0


async def test_staff_send_a_past_due_only_link_that_pays_once(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, form = await get_page(client, f"/plus/clients/{cid}/send-link")
    offer = form.one("input[name=days][value=past_due]")
    assert "Past due only ($90.00)" in offer.parent.get_text()
    vid = form.one("#vehicle_id option[selected]")["value"]
    r = await client.get(
        f"/plus/clients/{cid}/send-link", params={"vehicle_id": vid, "days": "past_due"}, headers=HX
    )
    summary = parse(r.text)
    assert r.status_code == 200 and summary.text("#total-due") == "$90.00"
    assert summary.one("form.send-bar input[name=days]")["value"] == "past_due"
    data = {
        "_csrf_token": summary.csrf() if summary.has("input[name=_csrf_token]") else form.csrf(),
        "vehicle_id": vid,
        "days": "past_due",
        "phone": "512-555-0102",
        "reviewed": summary.one("form.send-bar input[name=reviewed]")["value"],
    }
    r = await client.post(f"/plus/clients/{cid}/links", data=data, headers=HX)
    assert r.status_code == 200, r.text
    session.expire_all()
    link = (
        (await session.execute(select(PaymentLink).where(PaymentLink.client_id == cid)))
        .scalars()
        .all()[-1]
    )
    assert (link.days, link.total_cents, link.origin) == (PAST_DUE_ONLY, 9000, "staff")
    _, tab = await get_page(client, f"/plus/clients/{cid}/links")
    assert "Past due only" in tab.all("tbody tr")[0].get_text()


async def test_a_past_due_only_link_pays_once_and_its_receipt_and_ledger_say_so(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app, "100002", "F-150", days=PAST_DUE_ONLY)
    text = list(app.state.sms.delivered.values())[-1]
    assert "your past due balance for the 2015 Ford F-150 is $90.00" in text
    _, page = await get_page(client, f"/pay/{token}")
    assert page.text("#total-due") == "$90.00"
    assert "past due balance only" in page.text("#payment-summary .payer")
    assert "authorize a one-time charge of $90.00" in page.text("main")

    r = await submit(client, token)
    assert r.status_code == 303
    _, receipt = await get_page(client, r.headers["location"])
    assert receipt.text("#receipt-amount") == "$90.00"
    assert "past due balance" in receipt.text("#receipt-for")
    cid = await client_id(session, "100002")
    fee = await _fee(session, cid)
    fee_id, fee_number = fee.id, fee.number
    assert receipt.text("#receipt-invoice") == fee_number
    # Once: a second submission charges nothing.
    again = await submit(client, token)
    assert "receipt-amount" not in again.text or again.status_code == 303
    assert app.state.gateway.successful_charge_count == 1

    # Account History (staff): the payment settled the fee and nothing else.
    await sign_in_staff(client)
    _, history = await get_page(client, f"/plus/clients/{cid}/history")
    ledger = history.text("#ledger")
    assert "$90.00" in ledger and fee_number in ledger
    session.expire_all()
    payment = (
        (await session.execute(select(Payment).where(Payment.client_id == cid))).scalars().all()[-1]
    )
    assert await _allocations(session, payment.id or 0) == [(fee_id or 0, 9000)]


async def test_an_expired_past_due_link_renews_as_past_due_only(
    client: AsyncTestClient[Any], app: Litestar, session: Any, clock: Any
) -> None:
    token = await make_link(app, "100002", "F-150", days=PAST_DUE_ONLY)
    clock.advance(seconds=601)
    _, page = await get_page(client, f"/pay/{token}")
    r = await client.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "action": "renew"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    fresh = (
        (
            await session.execute(select(PaymentLink).order_by(PaymentLink.id.desc()))  # type: ignore[union-attr]
        )
        .scalars()
        .first()
    )
    assert fresh is not None and (fresh.days, fresh.total_cents, fresh.origin) == (
        PAST_DUE_ONLY,
        9000,
        "renewal",
    )


async def test_refunding_a_past_due_only_payment_reopens_the_fee_and_moves_no_period(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    from tests.integration.test_refunds import SUPERVISOR, fresh, refund

    await sign_in_client(client, "100002")
    james, vehicles, _ = await who(session, "100002")
    james_id, f150_id, paid_through = (
        james.id or 0,
        vehicles["F-150"].id,
        vehicles["F-150"].paid_through,
    )
    _, page = await get_page(
        client, "/account/payment", params={"vehicle_id": f150_id, "days": "past_due"}
    )
    r = await client.post("/account/payment", data=pay_data(page), follow_redirects=False)
    assert r.status_code == 303
    fee_id = (await _fee(session, james_id)).id or 0
    async with app.state.sessionmaker() as s:
        payment = (
            (await s.execute(select(Payment).where(Payment.client_id == james_id)))
            .scalars()
            .all()[-1]
        )

    await sign_in_staff(client, *SUPERVISOR)
    r, _ = await refund(client, james_id, payment.id or 0, "90.00", "Paid by mistake")
    assert r.status_code == 200, r.text
    assert (await fresh(app, Payment, payment.id)).status == "refunded"
    assert (await fresh(app, Invoice, fee_id)).status == "open"  # owed again
    assert (await fresh(app, Vehicle, f150_id)).paid_through == paid_through


@both_databases
async def test_a_past_due_only_charge_whose_answer_was_lost_is_applied_once_by_reconcile(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: Any
) -> None:
    """The processor charged $90.00 and the answer never came back: the payer is told it is
    being confirmed (never "nothing was charged"), reconcile applies it once, the fee is paid
    and no period is bought."""
    from app.services import reconcile

    token = await make_link(app, "100002", "F-150", days=PAST_DUE_ONLY, maker=maker)
    r = await pay_with(client, token, LOST_ANSWER)
    assert r.status_code == 202 and "Nothing was charged" not in r.text
    _, [pending] = await link_payments(maker, token)
    assert pending.status == "unknown" and pending.amount_cents == 9000
    async with maker() as s:
        f150 = (
            await s.execute(select(Vehicle).where(Vehicle.id == pending.vehicle_id))
        ).scalar_one()
        paid_through = f150.paid_through
    clock.advance(minutes=1)
    report = await reconcile.run(maker, app.state.gateway, clock, "Demo")
    assert report.payments["applied"] == 1
    link, [p] = await link_payments(maker, token)
    assert (p.status, link.status) == ("succeeded", "paid")
    assert app.state.gateway.successful_charge_count == 1
    async with maker() as s:
        assert await _allocations(s, p.id or 0) == [((await _fee(s, p.client_id)).id or 0, 9000)]
        vehicle = await s.get(Vehicle, p.vehicle_id)
        assert vehicle is not None and vehicle.paid_through == paid_through
    await books_balance(maker)
    # A second reconcile changes nothing.
    report = await reconcile.run(maker, app.state.gateway, clock, "Demo")
    assert sum(report.payments.values()) == 0 and app.state.gateway.successful_charge_count == 1
