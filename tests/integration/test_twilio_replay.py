"""Twilio sends an inbound text again when it did not hear our 200 (a timeout, a dropped
connection), and anyone who captured a signed request can send it again: a PAY is answered once
per MessageSid, at the wire, with the real request validator's signature."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.services.sms_worker import deliver_due
from app.store.models import PaymentLink, ProcessedEvent, SmsMessage
from tests.fakes.fake_twilio import FakeTwilio
from tests.integration.test_twilio import (  # noqa: F401 - fixtures
    BASE,
    FROM,
    app,
    fake,
    settings,
    signed,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")
INBOUND = f"{BASE}/webhooks/twilio/inbound"
MARIA = "+15125550101"  # one vehicle: a PAY from her number brings a link
ANA = "+19155550103"  # El Paso, which takes no payments: a PAY brings a polite refusal
BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


def pay_from(number: str, sid: str) -> dict[str, str]:
    return {"From": number, "To": FROM, "Body": "PAY", "MessageSid": sid}


async def post_signed(client: AsyncTestClient[Any], form: dict[str, str]) -> Any:
    return await client.post(INBOUND, data=form, headers=signed(INBOUND, form))


async def counts(app: Litestar, to: str) -> tuple[int, int]:
    """(payment links, texts queued or sent to `to`)"""
    async with app.state.sessionmaker() as s:
        links = (await s.execute(select(func.count()).select_from(PaymentLink))).scalar_one()
        texts = (
            await s.execute(
                select(func.count()).select_from(SmsMessage).where(col(SmsMessage.to_e164) == to)
            )
        ).scalar_one()
    return int(links), int(texts)


@BOTH
async def test_a_replayed_pay_is_answered_200_and_sends_no_second_link(
    app: Litestar, client: AsyncTestClient[Any], fake: FakeTwilio, db_url: str
) -> None:
    form = pay_from(MARIA, "SM" + "a1" * 16)
    first = await post_signed(client, form)
    assert first.status_code == 200 and first.text.endswith("<Response/>")
    assert await counts(app, MARIA) == (1, 1)
    for _ in range(2):  # Twilio's retries, or a captured request sent again
        again = await post_signed(client, form)
        assert again.status_code == 200 and again.text.endswith("<Response/>")
    assert await counts(app, MARIA) == (1, 1)
    await deliver_due(app.state.sessionmaker, app.state.sms, app.state.clock, app.state.box)
    to_maria = [m for m in fake.messages if m["To"] == MARIA]
    assert len(to_maria) == 1 and "/pay/" in to_maria[0]["Body"]

    # Another text with the same words is another request: it is answered (a new link).
    other = await post_signed(client, pay_from(MARIA, "SM" + "b2" * 16))
    assert other.status_code == 200
    assert await counts(app, MARIA) == (2, 2)


@BOTH
async def test_a_replayed_pay_that_was_refused_is_not_answered_twice(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    """Refused without a link (its location takes no payments), the transaction that tried is
    rolled back; the claim on the MessageSid is kept with the polite answer all the same."""
    form = pay_from(ANA, "SM" + "c3" * 16)
    assert (await post_signed(client, form)).status_code == 200
    assert await counts(app, ANA) == (0, 1)
    assert (await post_signed(client, form)).status_code == 200
    assert await counts(app, ANA) == (0, 1)
    async with app.state.sessionmaker() as s:
        kept = await s.get(ProcessedEvent, "twilio:" + form["MessageSid"])
    assert kept is not None and kept.kind == "sms.inbound"


@BOTH
async def test_a_forged_replay_is_refused_and_claims_nothing(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    """Only a signed request claims its MessageSid: a forged one cannot use up a real text's."""
    form = pay_from(MARIA, "SM" + "d4" * 16)
    r = await client.post(INBOUND, data=form, headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 403
    assert (await post_signed(client, form)).status_code == 200
    assert await counts(app, MARIA) == (1, 1)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_concurrent_deliveries_of_one_pay_make_one_link(
    app: Litestar, client: AsyncTestClient[Any], db_url: str
) -> None:
    """At the same time, on PostgreSQL: the second insert of the claim waits for the first
    transaction (which makes the link) and then fails on the key."""
    form = pay_from(MARIA, "SM" + "e5" * 16)
    answers = await asyncio.gather(*(post_signed(client, form) for _ in range(4)))
    assert [r.status_code for r in answers] == [200] * 4
    assert await counts(app, MARIA) == (1, 1)
