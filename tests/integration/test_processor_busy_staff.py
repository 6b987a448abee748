"""Staff's Take Payment while the processor says it is busy (the sandbox refusing past its
rate, as Stripe's test mode does): the same treatment as a payer's charge — one short wait and
one more try, then "the payment processor is busy, nothing was charged" (503), no payment left
behind, and the same confirmation goes through once the processor has room."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.adapters.payments.sandbox import RateWindow
from app.domain.errors import ProcessorBusy
from app.store.models import Payment
from tests.conftest import sign_in_staff
from tests.html import parse
from tests.integration.test_history import card_ids, charge, ids, review, take_form


async def staff_payments(app: Litestar) -> int:
    query = (
        select(func.count())
        .select_from(Payment)
        .where(col(Payment.channel) == "staff_card_on_file")
    )
    async with app.state.sessionmaker() as s:
        return int((await s.execute(query)).scalar_one())


async def test_staff_take_payment_on_a_busy_sandbox_charges_nothing_and_says_so(
    client: AsyncTestClient[Any], app: Litestar, waits: list[float]
) -> None:
    """The same treatment for staff, on the sandbox processor refusing past its rate: one short
    wait and one retry, then "busy, nothing was charged"; the same confirmation goes through
    once the processor has room again."""
    sandbox = app.state.gateway
    await sign_in_staff(client)
    async with app.state.sessionmaker() as s:
        cid, vehicles = await ids(s)
    page = await take_form(client, cid, vehicles["Camry"])
    confirm = parse(
        (await review(client, cid, page, card_ids(page)["Mastercard ending 4444"][0])).text
    )
    before = await staff_payments(app)
    sandbox.window = RateWindow(1, now=lambda: 0.0)  # a second that never ends...
    sandbox.window.admit()  # ...and already has its one request
    r, _ = await charge(client, cid, confirm)
    assert r.status_code == 503 and ProcessorBusy.message in parse(r.text).text("body")
    assert len(waits) == 1 and sandbox.window.refused == 2
    assert sandbox.successful_charge_count == 0
    assert await staff_payments(app) == before  # taken back: nothing to show
    sandbox.window = RateWindow(0)  # room again: the same confirmation charges, once
    r, _ = await charge(client, cid, confirm)
    assert r.status_code == 200 and "charged" in parse(r.text).text("#history-notice")
    assert sandbox.successful_charge_count == 1 and await staff_payments(app) == before + 1
