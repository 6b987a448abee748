"""Texts through Twilio's official SDK against a fake Twilio API on 127.0.0.1, and Twilio's
signed callbacks: delivery reports and STOP / START / HELP replies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app.adapters.sms.port import SmsNotSent, SmsOutcomeUnknown, SmsUnavailable
from app.adapters.sms.twilio_sms import TwilioSms
from app.clock import FixedClock
from app.domain.links import hash_token
from app.main import create_app
from app.services import send_link
from app.services.sms_worker import deliver_due
from app.services.summary import load_account
from app.settings import Settings
from app.store.models import Client, PaymentLink, SmsMessage, StaffUser
from tests.conftest import make_settings
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

# twilio 9 hands aiohttp a BasicAuth object, which aiohttp deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")
FROM = "+15125550100"
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def settings(db_url: str, fake: FakeTwilio) -> Settings:
    return make_settings(
        db_url,
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM,
        twilio_api_base=fake.url,
    )


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[Litestar]:
    app = create_app(settings, clock=clock)
    yield app
    await app.state.sms.aclose()  # the SDK's HTTP pool lives on this test's event loop


def signed(url: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


async def send_james_a_link(app: Litestar, phone: str = "") -> PaymentLink:
    async with app.state.sessionmaker() as s:
        james = (
            await s.execute(select(Client).where(Client.account_number == "100002"))
        ).scalar_one()
        staff = (await s.execute(select(StaffUser))).scalars().first()
        account = await load_account(s, james.id)
        sent = await send_link.send(
            s,
            staff=staff,
            client_id=james.id,
            vehicle_id=account.vehicles[0].id,
            days=30,
            raw_phone=phone or james.phone_e164,
            reviewed=None,
            now=app.state.clock.now(),
            ttl_seconds=600,
            base_url=BASE,
            company="Demo Interlock",
            box=app.state.box,
        )
        await s.commit()
        return sent.link


async def test_the_adapter_sends_with_the_sdk_and_maps_refusals(fake: FakeTwilio) -> None:
    sms = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, status_callback=f"{BASE}/cb", api_base=fake.url)
    try:
        result = await sms.send(to_e164="+15125550102", body="Hello", message_id=7)
        assert result.status == "sent" and result.provider_ref.startswith("SM")
        [sent] = fake.messages
        assert sent == {"To": "+15125550102", "From": FROM, "Body": "Hello",
                        "StatusCallback": f"{BASE}/cb?sms_id=7"}  # fmt: skip
        fake.unsubscribed.add("+15125550199")
        with pytest.raises(SmsNotSent) as refused:
            await sms.send(to_e164="+15125550199", body="Hello", message_id=8)
        assert refused.value.permanent and "21610" in refused.value.message
        fake.invalid.add("+15125550198")
        with pytest.raises(SmsNotSent) as invalid:
            await sms.send(to_e164="+15125550198", body="Hello", message_id=9)
        assert invalid.value.permanent and "21211" in invalid.value.message
        assert len(fake.accepted) == 1  # refusals hold nothing
        fake.fail_next = 1  # a 5xx may hide a text Twilio took: never "not sent"
        with pytest.raises(SmsOutcomeUnknown):
            await sms.send(to_e164="+15125550102", body="Hello", message_id=10)
    finally:
        await sms.aclose()


async def test_a_twilio_that_cannot_be_reached_sent_nothing() -> None:
    with FakeTwilio() as gone:
        url = gone.url  # a port nothing listens on once the fake has stopped
    sms = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, api_base=url)
    try:
        with pytest.raises(SmsUnavailable) as down:
            await sms.send(to_e164="+15125550102", body="Hello", message_id=7)
        assert not down.value.permanent
    finally:
        await sms.aclose()


async def test_a_link_text_goes_out_and_signed_delivery_reports_move_the_status_card(
    app: Litestar, client: AsyncTestClient[Any], fake: FakeTwilio
) -> None:
    link = await send_james_a_link(app)
    maker = app.state.sessionmaker
    assert await deliver_due(maker, app.state.sms, app.state.clock, app.state.box) == 1
    [sent] = fake.messages
    token = re.search(r"/pay/([A-Za-z0-9_-]{43})", sent["Body"]).group(1)  # type: ignore[union-attr]
    assert hash_token(token) == link.token_hash and sent["To"] == "+15125550102"
    async with maker() as s:
        message = (await s.execute(select(SmsMessage))).scalar_one()
        # our id rides in the callback URL: Twilio's reports name the text even if its answer
        # to the send was lost (tests/integration/test_sms_unknown.py)
        assert sent["StatusCallback"] == f"{BASE}/webhooks/twilio/status?sms_id={message.id}"
        assert message.status == "sent" and message.provider_ref and message.sealed_secret is None
        assert (await s.get(PaymentLink, link.id)).status == "sent"

    url = f"{BASE}/webhooks/twilio/status"
    form = {"MessageSid": message.provider_ref, "MessageStatus": "delivered"}
    r = await client.post(url, data=form, headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 403
    for _ in range(2):  # a replay changes nothing
        r = await client.post(url, data=form, headers=signed(url, form))
        assert r.status_code == 200
    assert r.json()["result"] == "unchanged"
    late = {"MessageSid": message.provider_ref, "MessageStatus": "sent"}  # out of order
    await client.post(url, data=late, headers=signed(url, late))
    async with maker() as s:
        assert (await s.get(SmsMessage, message.id)).status == "delivered"
        shown = await s.get(PaymentLink, link.id)
        assert shown.status == "delivered" and shown.delivered_at is not None


async def test_an_unsubscribed_number_fails_at_once_without_retries(
    app: Litestar, fake: FakeTwilio
) -> None:
    fake.unsubscribed.add("+17375550188")
    link = await send_james_a_link(app, phone="(737) 555-0188")
    maker = app.state.sessionmaker
    assert await deliver_due(maker, app.state.sms, app.state.clock, app.state.box) == 1
    async with maker() as s:
        message = (await s.execute(select(SmsMessage))).scalar_one()
        assert (
            message.status == "failed" and message.attempts == 1 and "21610" in message.last_error
        )
        assert (await s.get(PaymentLink, link.id)).status == "failed"


async def test_stop_start_and_help_replies(
    app: Litestar, client: AsyncTestClient[Any], session: Any
) -> None:
    url = f"{BASE}/webhooks/twilio/inbound"
    stop = {"From": "+15125550102", "Body": "stop", "MessageSid": "SM1"}
    r = await client.post(url, data=stop, headers=signed(url, stop))
    assert r.status_code == 200 and r.text.endswith("<Response/>")
    james = (
        await session.execute(select(Client).where(Client.account_number == "100002"))
    ).scalar_one()
    await session.refresh(james)
    assert james.sms_opt_out is True
    with pytest.raises(send_link.OptedOut):
        await send_james_a_link(app)

    start = {"From": "+15125550102", "Body": "START", "MessageSid": "SM2"}
    await client.post(url, data=start, headers=signed(url, start))
    await session.refresh(james)
    assert james.sms_opt_out is False

    help_ = {"From": "+15125550102", "Body": "Help please", "MessageSid": "SM3"}
    r = await client.post(url, data=help_, headers=signed(url, help_))
    assert "(800) 555-0199" in r.text and "<Message>" in r.text
    r = await client.post(url, data=stop, headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 403


async def test_twilio_callbacks_are_not_found_with_the_outbox(db_url: str, clock: Any) -> None:
    app = create_app(
        make_settings(db_url),
        clock=clock,
    )
    async with AsyncTestClient(app=app, base_url=BASE) as c:
        r = await c.post("/webhooks/twilio/status", data={"MessageSid": "SM1"})
        assert r.status_code == 404


def test_the_app_builds_outside_an_event_loop(settings: Settings) -> None:
    """`monitorpay serve` builds the app before uvicorn starts its loop."""
    app = create_app(settings)
    assert app.state.sms.name == "twilio"


async def test_help_is_answered_in_the_language_of_the_client_with_that_number(
    client: AsyncTestClient[Any], session: Any
) -> None:
    url = f"{BASE}/webhooks/twilio/inbound"
    james = (
        await session.execute(select(Client).where(Client.account_number == "100002"))
    ).scalar_one()
    james.language = "es"
    session.add(james)
    await session.commit()

    async def answer(sender: str, body: str, sid: str) -> str:
        data = {"From": sender, "Body": body, "MessageSid": sid}
        r = await client.post(url, data=data, headers=signed(url, data))
        assert r.status_code == 200
        return r.text

    assert "Mensajes de pago de Demo Interlock" in await answer("+15125550102", "HELP", "SM10")
    assert "Llame al (800) 555-0199" in await answer("+15125550102", "ayuda", "SM11")
    unknown = "+15125559876"
    assert "Mensajes de pago" in await answer(unknown, "AYUDA", "SM12")
    english = await answer(unknown, "help", "SM13")
    assert "payment texts. Call (800) 555-0199 for help" in english
