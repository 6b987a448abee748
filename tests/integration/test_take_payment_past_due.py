"""Staff's Take Payment offers "Past due only" (issue 22 item 5), through the same summary kind
as My Account and the staff link: only the past due invoices are settled, no period is bought,
and a choice made stale by a payment meanwhile is refused by the field, charging nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from app.store.db import make_engine, make_sessionmaker
from app.store.models import Invoice, Payment, PaymentAllocation, Vehicle
from tests.conftest import sign_in_staff
from tests.html import Page, parse
from tests.integration.test_history import HX, card_ids, charge, history, ids, review, take_form
from tests.integration.test_money_failures import both_databases


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncSession]:
    """The test's own session on its own event loop (no pool shared with the app's loop, as
    PostgreSQL's driver needs; see test_past_due_only's `maker`)."""
    engine = make_engine(db_url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


async def _pick(client: AsyncTestClient[Any], cid: int, vid: int, days: str) -> tuple[int, Page]:
    r = await client.get(
        f"{history(cid)}/take-payment", params={"vehicle_id": str(vid), "days": days}, headers=HX
    )
    return r.status_code, parse(r.text)


async def _fee(db: AsyncSession, cid: int) -> Invoice:
    return (
        await db.execute(
            select(Invoice).where(
                Invoice.client_id == cid, Invoice.description == "Missed appointment fee"
            )
        )
    ).scalar_one()


@both_databases
async def test_past_due_only_is_offered_and_charges_exactly_the_past_due_balance(
    client: AsyncTestClient[Any], db: AsyncSession, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(db)  # James Carter: $90.00 past due
    f150 = vehicles["F-150"]
    paid_through = (await db.get(Vehicle, f150)).paid_through
    page = await take_form(client, cid, f150)
    # Short options; the chosen vehicle in full beside them, so a long name is never cut.
    assert page.one("#tp-vehicle option[selected]").get_text() == "2015 Ford F-150 (JCR-1150)"
    assert page.text("#tp-vehicle-chosen").startswith("2015 Ford F-150 (JCR-1150): 30-day cycle")
    assert "tp-vehicle-chosen" in page.one("#tp-vehicle")["aria-describedby"]
    offer = page.one("#tp-days-past-due")
    assert offer["value"] == "past_due" and "Past due only ($90.00)" in page.text("form[hx-get]")
    assert page.one("form[hx-get] legend").get_text(strip=True) == "What to pay"
    assert not offer.has_attr("checked")  # the vehicle's own cycle is the default

    status, page = await _pick(client, cid, f150, "past_due")
    assert status == 200 and page.one("#tp-days-past-due").has_attr("checked")
    assert page.text("#total-due") == "$90.00"
    lines = [ln["class"][1] for ln in page.all(".summary-line:not(.summary-total)")]
    assert lines == ["summary-line--past_due"]
    assert page.one("form[hx-post$='/review'] input[name=days]")["value"] == "past_due"

    r = await review(client, cid, page, card_ids(page)["Mastercard ending 4444"][0])
    confirm = parse(r.text)
    assert r.status_code == 200 and confirm.text("#confirm-total") == "$90.00"
    back = confirm.one("#confirm-charge a")["href"]
    assert "days=past_due" in back
    r, _ = await charge(client, cid, confirm)
    assert "Payment of $90.00 charged to Mastercard ending 4444" in parse(r.text).text(
        "#history-notice"
    )
    assert app.state.gateway.successful_charge_count == 1

    db.expire_all()
    payment = (
        await db.execute(select(Payment).where(Payment.idempotency_key.like("staff_%")))
    ).scalar_one()
    assert (payment.status, payment.amount_cents, payment.channel) == (
        "succeeded",
        9000,
        "staff_card_on_file",
    )
    fee = await _fee(db, cid)
    allocations = (
        await db.execute(
            select(PaymentAllocation.invoice_id, PaymentAllocation.amount_cents).where(
                PaymentAllocation.payment_id == payment.id
            )
        )
    ).all()
    assert [tuple(a) for a in allocations] == [(fee.id, 9000)] and fee.status == "paid"
    assert (await db.get(Vehicle, f150)).paid_through == paid_through  # no period bought

    # Nothing is past due now: the choice is gone.
    page = await take_form(client, cid, f150)
    assert not page.has("#tp-days-past-due")
    assert page.one("form[hx-get] legend").get_text(strip=True) == "Monitor days"


async def test_past_due_only_is_not_offered_without_a_past_due_balance(
    client: AsyncTestClient[Any], db: AsyncSession, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(db, "100001")  # Maria Lopez: nothing past due
    page = await take_form(client, cid, vehicles["Civic"])
    assert not page.has("#tp-days-past-due")
    assert page.one("form[hx-get] legend").get_text(strip=True) == "Monitor days"
    # Asked for anyway (an old page, a typed address): the field says why, with the summary of
    # the vehicle's own cycle to take instead.
    status, page = await _pick(client, cid, vehicles["Civic"], "past_due")
    assert status == 409
    assert "There is no past due balance to pay" in page.text("#tp-days-error")
    assert page.one("form[hx-get] fieldset")["aria-describedby"] == "tp-days-error"
    assert page.one("form[hx-get] input[name=days][checked]")["value"] == "30"
    assert page.one("form[hx-post$='/review'] input[name=days]")["value"] == "30"
    # Reviewing or charging it: refused by the field, nothing charged.
    r = await client.post(
        f"{history(cid)}/take-payment/review",
        data={"_csrf_token": page.csrf(), "vehicle_id": str(vehicles["Civic"]),
              "days": "past_due", "card_id": card_ids(page)["Visa ending 4242"][0]},
        headers=HX,
    )  # fmt: skip
    assert r.status_code == 409 and "no past due balance" in parse(r.text).text("#tp-days-error")
    assert app.state.gateway.successful_charge_count == 0


@both_databases
async def test_a_past_due_choice_paid_meanwhile_is_refused_by_the_field(
    client: AsyncTestClient[Any], db: AsyncSession, app: Litestar
) -> None:
    """One tab reviewed "Past due only"; another took 14 days for the Camry with the past due
    balance in it. The first tab's charge is refused next to the choice; nothing more moves."""
    await sign_in_staff(client)
    cid, vehicles = await ids(db)
    _, stale = await _pick(client, cid, vehicles["F-150"], "past_due")
    mc = card_ids(stale)["Mastercard ending 4444"][0]
    stale_confirm = parse((await review(client, cid, stale, mc)).text)
    assert stale_confirm.text("#confirm-total") == "$90.00"

    other = await take_form(client, cid, vehicles["Camry"])
    r, _ = await charge(client, cid, parse((await review(client, cid, other, mc)).text))
    assert "Payment of $138.71 charged" in parse(r.text).text("#history-notice")
    assert app.state.gateway.successful_charge_count == 1

    r, _ = await charge(client, cid, stale_confirm)
    assert r.status_code == 409
    page = parse(r.text)
    assert "There is no past due balance to pay" in page.text("#tp-days-error")
    assert not page.has("#card_id-error") and not page.has("#history-error")
    assert not page.has("#tp-days-past-due")  # the pick step again, as the account is now
    assert app.state.gateway.successful_charge_count == 1
    pays = (
        (await db.execute(select(Payment).where(Payment.idempotency_key.like("staff_%"))))
        .scalars()
        .all()
    )
    assert [p.amount_cents for p in pays] == [13871]
