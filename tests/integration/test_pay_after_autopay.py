"""A declined AutoPay charge's text ends "Reply PAY for a link now": the PAY that answers it is
about the vehicle whose charge failed, also when the client has other vehicles (before, a client
with two vehicles was asked to call: nothing told which one). A later reminder for another
vehicle takes over, as the most recent text does; a period paid since gets no link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlmodel import col

from app.services import sms_events
from app.store.models import Client, PaymentLink, Vehicle
from tests.integration.test_autopay_retries import BOTH, run, texts
from tests.integration.test_autopay_run import austin_today, enrolled
from tests.integration.test_reminders import CTX


async def _declined_with_another_vehicle(
    app: Litestar, session: Any, clock: Any
) -> tuple[int, str]:
    """A client with two vehicles on AutoPay with a card that is declined (insufficient funds):
    one is due today and its charge fails, the other is paid for weeks. The failed vehicle and
    the client's number."""
    _, today = await austin_today(session, clock)
    due, later = await enrolled(
        session, clock, paid_through=today, card="pm_sandbox_visa_9995", vehicles=2
    )
    await session.execute(
        update(Vehicle).where(col(Vehicle.id) == later).values(paid_through=today + timedelta(20))
    )
    await session.commit()
    report = await run(app, clock)
    assert (report.charged, report.failed) == (0, 1)
    [text] = await texts(app, due)
    assert "Reply PAY for a link now." in text
    vehicle = await session.get(Vehicle, due)
    owner = await session.get(Client, vehicle.client_id)
    return due, owner.phone_e164


async def _reply(app: Litestar, number: str, clock: Any) -> str:
    async with app.state.sessionmaker() as s:
        return await sms_events.inbound(
            s, from_number=number, body="PAY", now=clock.now(), reply=CTX
        )


async def _links(app: Litestar) -> list[tuple[int | None, int, str]]:
    async with app.state.sessionmaker() as s:
        rows = await s.execute(
            select(col(PaymentLink.vehicle_id), col(PaymentLink.days), col(PaymentLink.origin))
        )
        return [(v, d, o) for v, d, o in rows.all()]


@pytest.mark.postgres
@BOTH
async def test_pay_after_a_declined_autopay_charge_sends_a_link_for_that_vehicle(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    due, number = await _declined_with_another_vehicle(app, session, clock)
    clock.advance(hours=2)
    assert await _reply(app, number, clock) == "pay_link"
    assert await _links(app) == [(due, 30, "reply")]


@pytest.mark.postgres
@BOTH
async def test_pay_after_the_declined_period_was_paid_sends_no_link(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    due, number = await _declined_with_another_vehicle(app, session, clock)
    vehicle = await session.get(Vehicle, due)
    await session.execute(  # paid meanwhile, e.g. in My Account
        update(Vehicle)
        .where(col(Vehicle.id) == due)
        .values(paid_through=vehicle.paid_through + timedelta(30))
    )
    await session.commit()
    clock.advance(hours=2)
    assert await _reply(app, number, clock) == "pay_paid"
    assert await _links(app) == []
