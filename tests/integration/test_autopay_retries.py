"""AutoPay that recovers, on both databases: a soft decline is texted its retry day and tried
again that day (once, with its own key: a new card charges exactly once); a hard decline is
never tried again; after the last retry the text says so and staff see it on the vehicle; a card
that will expire before the next AutoPay date is texted once, a week before, in the client's
language. The Stripe path answers the same decline codes (the fake Stripe's test cards)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlmodel import col

from app.adapters.payments.stripe_gateway import StripeGateway
from app.domain.autopay import is_soft_decline
from app.domain.errors import CardDeclined
from app.services import autopay
from app.store.models import AutopayEnrollment, CardOnFile, Client, Payment, SmsMessage, Vehicle
from tests.conftest import sign_in_staff
from tests.integration.test_autopay_run import austin_today, enrolled
from tests.integration.test_stripe_gateway import fake, gateway  # noqa: F401 - fixtures

BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
POLICY = autopay.Policy(retry_days=(1, 3, 5), account_url="http://127.0.0.1:8000/account")
HX = {"HX-Request": "true"}


def run(app: Litestar, clock: Any) -> Any:
    return autopay.run(app.state.sessionmaker, app.state.gateway, clock, "Demo", policy=POLICY)


async def _read(app: Litestar, query: Any) -> list[Any]:
    """A fresh session each time: what the runs committed, never a cached copy."""
    async with app.state.sessionmaker() as s:
        return list((await s.execute(query)).all())


async def texts(app: Litestar, vehicle_id: int, kind: str = "autopay_failed") -> list[str]:
    client = select(col(Vehicle.client_id)).where(col(Vehicle.id) == vehicle_id)
    phone = select(col(Client.phone_e164)).where(col(Client.id).in_(client))
    rows = await _read(
        app,
        select(col(SmsMessage.body))
        .where(col(SmsMessage.to_e164).in_(phone), col(SmsMessage.kind) == kind)
        .order_by(col(SmsMessage.id)),
    )
    return [str(r[0]) for r in rows]


async def payments_of(app: Litestar, vehicle_id: int) -> list[tuple[str, str, str | None]]:
    """The vehicle's AutoPay payments: (key, status, failure code), oldest first."""
    rows = await _read(
        app,
        select(col(Payment.idempotency_key), col(Payment.status), col(Payment.failure_code))
        .where(col(Payment.vehicle_id) == vehicle_id, col(Payment.channel) == "autopay")
        .order_by(col(Payment.id)),
    )
    return [(str(k), str(st), code) for k, st, code in rows]


async def client_of(session: Any, vehicle_id: int) -> Client:
    vehicle = await session.get(Vehicle, vehicle_id)
    client = await session.get(Client, vehicle.client_id)
    assert client is not None
    return client


async def replace_card(session: Any, vehicle_id: int, ref: str = "pm_sandbox_visa_4242") -> None:
    """The client puts a working card on AutoPay (as My Account does)."""
    client = await client_of(session, vehicle_id)
    card = CardOnFile(client_id=client.id, processor_ref=ref, brand="Visa", last4=ref[-4:],
                      exp_month=12, exp_year=2035, created_at=client.created_at)  # fmt: skip
    session.add(card)
    await session.flush()
    await session.execute(
        update(AutopayEnrollment)
        .where(col(AutopayEnrollment.vehicle_id) == vehicle_id)
        .values(card_id=card.id)
    )
    await session.commit()


@pytest.mark.postgres
@BOTH
async def test_a_soft_decline_is_retried_on_its_day_and_a_new_card_is_charged_once(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    assert today == date(2026, 11, 25)
    [vehicle] = await enrolled(session, clock, paid_through=today, card="pm_sandbox_visa_9995")

    first = await run(app, clock)
    assert (first.charged, first.failed) == (0, 1)
    [text] = await texts(app, vehicle)
    assert "did not go through. We'll try again on Nov 26. Reply PAY for a link now." in text

    same_day = await run(app, clock)  # not its retry day yet: nothing is sent to the processor
    assert (same_day.charged, same_day.failed) == (0, 0)
    assert len(await texts(app, vehicle)) == 1
    assert [st for _, st, _ in await payments_of(app, vehicle)] == ["failed"]

    await replace_card(session, vehicle)
    clock.advance(days=1)
    retry = await run(app, clock)
    assert (retry.charged, retry.failed) == (1, 0)
    again = await run(app, clock)  # a second run on the retry day charges nothing
    assert (again.charged, again.failed) == (0, 0)
    assert again.not_due == 1  # paid through a new period

    key = f"autopay:{vehicle}:2026-11-26"
    assert await payments_of(app, vehicle) == [
        (key, "failed", "insufficient_funds"),
        (f"{key}:retry1", "succeeded", None),
    ]
    assert app.state.gateway.successful_charge_count == 1
    [paid_through] = await _read(
        app, select(col(Vehicle.paid_through)).where(col(Vehicle.id) == vehicle)
    )
    assert paid_through[0] == today + timedelta(days=30)
    assert len(await texts(app, vehicle)) == 1  # a success texts a receipt, not a failure


@pytest.mark.postgres
@BOTH
async def test_a_hard_decline_is_never_tried_again(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    [vehicle] = await enrolled(session, clock, paid_through=today, card="pm_sandbox_visa_9987")
    first = await run(app, clock)
    assert first.failed == 1
    for days in (1, 2, 2, 1):  # days 1, 3, 5 and 6: every retry day of a soft decline
        clock.advance(days=days)
        later = await run(app, clock)
        assert (later.charged, later.failed) == (0, 0)
    assert await payments_of(app, vehicle) == [
        (f"autopay:{vehicle}:2026-11-26", "failed", "lost_card")
    ]
    [text] = await texts(app, vehicle)
    assert "did not go through. We won't try again. Reply PAY for a link now." in text
    client = await client_of(session, vehicle)
    assert await _staff_sees(app, client.id, vehicle) == "declined"


async def _staff_sees(app: Litestar, client_id: int, vehicle_id: int) -> str:
    async with app.state.sessionmaker() as s:
        from app.services import accounts

        account = await accounts.account(s, client_id)
        assert account is not None
        return (await autopay.staff_view(s, account, POLICY.retry_days))[vehicle_id].state


@pytest.mark.postgres
@BOTH
async def test_after_the_last_retry_the_text_says_so_and_staff_see_retries_exhausted(
    app: Litestar, session: Any, clock: Any, client: AsyncTestClient[Any], db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    [vehicle] = await enrolled(session, clock, paid_through=today, card="pm_sandbox_visa_9995")
    cid = (await client_of(session, vehicle)).id
    await run(app, clock)
    assert await _staff_sees(app, cid, vehicle) == "retrying"
    for days in (1, 2, 2):  # the retry days: Nov 26, 28 and 30
        clock.advance(days=days)
        assert (await run(app, clock)).failed == 1
    clock.advance(days=1)
    assert (await run(app, clock)).failed == 0  # exhausted: nothing more
    tried = await payments_of(app, vehicle)
    assert [k.rsplit(":", 1)[-1] for k, _, _ in tried] == [
        "2026-11-26",
        "retry1",
        "retry2",
        "retry3",
    ]
    assert {st for _, st, _ in tried} == {"failed"}
    bodies = await texts(app, vehicle)
    assert ["Nov 26" in bodies[0], "Nov 28" in bodies[1], "Nov 30" in bodies[2]] == [True] * 3
    assert "That was the last try. Reply PAY for a link now." in bodies[3]
    assert app.state.gateway.successful_charge_count == 0

    await sign_in_staff(client)
    r = await client.get(f"/plus/clients/{cid}/vehicles", headers=HX)
    assert r.status_code == 200
    assert "AutoPay failed, retries exhausted" in r.text
    page = await client.get(f"/plus/clients/{cid}")  # the panel asks for itself once loaded
    assert (
        f'hx-get="/plus/clients/{cid}/vehicles" hx-trigger="load, link-paid from:body"' in page.text
    )


async def _card_expires(session: Any, vehicle_id: int, year: int, month: int) -> None:
    enrollment = select(col(AutopayEnrollment.card_id)).where(
        col(AutopayEnrollment.vehicle_id) == vehicle_id
    )
    await session.execute(
        update(CardOnFile)
        .where(col(CardOnFile.id).in_(enrollment))
        .values(exp_year=year, exp_month=month)
    )
    await session.commit()


@pytest.mark.postgres
@BOTH
async def test_a_card_expiring_before_the_next_autopay_is_texted_once_a_week_before(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    paid_through = date(2026, 12, 5)  # next AutoPay on Dec 2, a week from today (Nov 25)
    [english] = await enrolled(session, clock, paid_through=paid_through)
    [spanish] = await enrolled(session, clock, paid_through=paid_through)
    [fine] = await enrolled(session, clock, paid_through=paid_through)  # expires 12/2035
    [later] = await enrolled(session, clock, paid_through=paid_through + timedelta(days=1))
    for vehicle in (english, spanish, later):
        await _card_expires(session, vehicle, 2026, 11)  # works through Nov 30
    (await client_of(session, spanish)).language = "es"
    await session.commit()

    first = await run(app, clock)
    assert first.card_warnings == 2
    [en] = await texts(app, english, "card_expiring")
    assert "the Visa ending 4242 that pays AutoPay for the 2019 Honda Fit 0 expires before" in en
    assert "the next payment on Dec 2. Update it in My Account: http://127.0.0.1:8000/account" in en
    [es] = await texts(app, spanish, "card_expiring")
    assert "vence antes del proximo pago el 2 dic" in es
    assert "Mi Cuenta: http://127.0.0.1:8000/account" in es
    assert await texts(app, fine, "card_expiring") == []
    assert await texts(app, later, "card_expiring") == []  # Dec 3: not a week away yet

    assert (await run(app, clock)).card_warnings == 0  # never twice
    clock.advance(days=1)
    assert (await run(app, clock)).card_warnings == 1  # `later`'s week has come
    assert len(await texts(app, english, "card_expiring")) == 1
    assert len(await texts(app, later, "card_expiring")) == 1
    for vehicle in (english, spanish, fine, later):
        assert await payments_of(app, vehicle) == []  # a warning, not a charge


# -- the Stripe path: the fake Stripe's decline cards carry Stripe's decline codes -------------


@pytest.mark.parametrize(
    ("pm", "code", "soft"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", True),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", True),
        ("pm_card_chargeDeclinedLostCard", "lost_card", False),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", False),
    ],
)
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
async def test_stripes_decline_codes_are_classified_soft_or_hard(
    gateway: StripeGateway,  # noqa: F811 - the fixture
    pm: str,
    code: str,
    soft: bool,
) -> None:
    with pytest.raises(CardDeclined) as caught:
        await gateway.charge(
            amount_cents=9201, payment_method=pm, idempotency_key=f"autopay:1:2026-11-26:{pm}",
            description="Monitoring", metadata={"payment_id": "1"}, off_session=True,
        )  # fmt: skip
    assert caught.value.code == code
    assert is_soft_decline(caught.value.code) is soft
