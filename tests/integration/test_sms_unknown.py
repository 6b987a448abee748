"""A text whose answer was lost goes out once: recorded `unknown`, looked up at Twilio (the real
SDK against the fake Twilio on 127.0.0.1), sent again only when Twilio does not have it after the
grace period. The clock is the test's; Twilio's timestamps come from the same clock."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.pool import NullPool

from app.adapters.sms.outbox import OutboxSms
from app.adapters.sms.port import Outgoing, SmsOutcomeUnknown
from app.adapters.sms.twilio_sms import TwilioSms
from app.clock import FixedClock
from app.domain.links import hash_token
from app.main import create_app
from app.services import sms
from app.services.sms_worker import GRACE, LEASE, LOOKUP_EVERY, MAX_ATTEMPTS, deliver_due
from app.store.db import make_engine, make_sessionmaker
from app.store.models import PaymentLink, SmsMessage
from tests.conftest import make_settings
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

# the settings and the app on the fake Twilio are test_twilio's; `fake` is this module's (its
# clock is the test's)
from tests.integration.test_twilio import (  # noqa: F401 - fixtures
    BASE,
    FROM,
    app,
    send_james_a_link,
    settings,
    signed,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")
BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def fake(clock: FixedClock) -> Iterator[FakeTwilio]:
    with FakeTwilio(clock=clock.now) as server:
        yield server


async def deliver(app: Litestar, provider: Any = None) -> int:
    state = app.state
    return await deliver_due(state.sessionmaker, provider or state.sms, state.clock, state.box)


async def the_text(app: Litestar) -> SmsMessage:
    async with app.state.sessionmaker() as s:
        return (await s.execute(select(SmsMessage))).scalar_one()


async def link_status(app: Litestar, link: PaymentLink) -> str:
    async with app.state.sessionmaker() as s:
        got = await s.get(PaymentLink, link.id)
        assert got is not None
        return got.status


def token_of(body: str) -> str:
    found = re.search(r"/pay/([A-Za-z0-9_-]{43})", body)
    assert found is not None
    return found.group(1)


# -- the adapter -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop", "500", "hang"])
async def test_an_answer_lost_after_twilio_took_the_text_is_unknown_and_found_by_lookup(
    fake: FakeTwilio, clock: FixedClock, mode: str
) -> None:
    sms_ = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, f"{BASE}/cb", fake.url, timeout=0.5)
    text = Outgoing(message_id=7, to_e164="+15125550102", body="Pay here", since=clock.now())
    try:
        fake.lose_next(mode)
        with pytest.raises(SmsOutcomeUnknown):
            await sms_.send(to_e164=text.to_e164, body=text.body, message_id=7)
        [held] = fake.accepted
        found = await sms_.find_sent(text)
        assert found is not None and found.provider_ref == held["sid"] and found.status == "sent"
        assert await sms_.find_sent(text, known={held["sid"]}) is None  # another text's
        other = Outgoing(message_id=8, to_e164=text.to_e164, body="Other", since=clock.now())
        assert await sms_.find_sent(other) is None
        later = Outgoing(7, text.to_e164, text.body, since=clock.now() + timedelta(hours=1))
        assert await sms_.find_sent(later) is None  # a text from before this one was queued
        listed = next(r for r in fake.requests if r.method == "GET")
        assert listed.form["To"] == text.to_e164 and listed.form["From"] == FROM
    finally:
        await sms_.aclose()


async def test_an_answer_lost_before_twilio_took_anything_finds_nothing(
    fake: FakeTwilio, clock: FixedClock
) -> None:
    sms_ = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, api_base=fake.url)
    try:
        fake.lose_next("drop", accepted=False)
        with pytest.raises(SmsOutcomeUnknown):
            await sms_.send(to_e164="+15125550102", body="Pay here", message_id=7)
        assert fake.accepted == []
        text = Outgoing(7, "+15125550102", "Pay here", since=clock.now())
        assert await sms_.find_sent(text) is None
    finally:
        await sms_.aclose()


async def test_the_fake_lists_and_fetches_like_twilio(fake: FakeTwilio) -> None:
    """The list's filters and pages, through the SDK the adapter uses."""
    sms_ = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, api_base=fake.url)
    try:
        for i in range(3):
            await sms_.send(to_e164="+15125550102", body=f"text {i}", message_id=i)
        await sms_.send(to_e164="+15125550103", body="someone else", message_id=9)
        api = sms_._twilio().messages
        listed = await api.list_async(to="+15125550102", page_size=2)
        assert [m.body for m in listed] == ["text 2", "text 1", "text 0"]  # newest first, 2 pages
        assert all(m.date_sent is not None for m in listed)
        fetched = await api(listed[0].sid).fetch_async()
        assert fetched.body == "text 2" and fetched.to == "+15125550102"
        assert await api.list_async(to="+15125550102", from_="+15125550999") == []
    finally:
        await sms_.aclose()


# -- the worker, with a pay link from send_link ------------------------------------------------


@BOTH
async def test_a_pay_link_whose_answer_was_lost_goes_out_once(
    app: Litestar, fake: FakeTwilio
) -> None:
    link = await send_james_a_link(app)
    fake.lose_next("drop")
    assert await deliver(app) == 1
    lost = await the_text(app)
    assert lost.status == "unknown" and lost.provider_ref is None and lost.attempts == 1
    assert lost.sealed_secret is not None  # kept to look the text up (and, if need be, resend)
    assert await link_status(app, link) == "queued"

    assert await deliver(app) == 0  # the lookup is not due yet
    app.state.clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    assert await deliver(app) == 1
    found = await the_text(app)
    [held] = fake.accepted
    assert found.status == "sent" and found.provider_ref == held["sid"]
    assert found.sealed_secret is None and found.attempts == 1
    assert await link_status(app, link) == "sent"
    assert hash_token(token_of(held["body"])) == link.token_hash

    app.state.clock.advance(seconds=(GRACE + LEASE).total_seconds())
    assert await deliver(app) == 0
    assert len(fake.accepted) == 1 and len(fake.messages) == 1  # one text, one request


@BOTH
async def test_a_lost_text_twilio_never_took_is_sent_again_once_after_the_grace_period(
    app: Litestar, fake: FakeTwilio
) -> None:
    link = await send_james_a_link(app)
    fake.lose_next("drop", accepted=False)
    await deliver(app)
    assert (await the_text(app)).status == "unknown"

    clock = app.state.clock
    clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    assert await deliver(app) == 1  # looked up: not there, but Twilio may not list it yet
    assert (await the_text(app)).status == "unknown" and len(fake.messages) == 1

    clock.advance(seconds=GRACE.total_seconds())
    assert await deliver(app) == 1  # looked up again: still not there → sent again
    resent = await the_text(app)
    [held] = fake.accepted
    assert resent.status == "sent" and resent.provider_ref == held["sid"]
    assert resent.attempts == 2 and len(fake.messages) == 2
    assert fake.messages[0] == fake.messages[1]  # the same text, the same marker
    assert fake.messages[1]["StatusCallback"].endswith(f"?sms_id={resent.id}")
    assert await link_status(app, link) == "sent"


async def test_a_text_twilio_lists_late_is_found_not_sent_twice(
    app: Litestar, fake: FakeTwilio
) -> None:
    await send_james_a_link(app)
    fake.lose_next("500")
    await deliver(app)
    fake.hide_from_list = 1  # the first lookup does not see it yet
    clock = app.state.clock
    clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    await deliver(app)
    assert (await the_text(app)).status == "unknown"
    clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    await deliver(app)
    assert (await the_text(app)).status == "sent"
    assert len(fake.accepted) == 1 and len(fake.messages) == 1


async def test_a_timed_out_send_is_found(app: Litestar, fake: FakeTwilio) -> None:
    await send_james_a_link(app)
    quick = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, f"{BASE}/cb", fake.url, timeout=0.3)
    try:
        fake.lose_next("hang")
        await deliver(app, quick)
        assert (await the_text(app)).status == "unknown"
        app.state.clock.advance(seconds=LOOKUP_EVERY.total_seconds())
        await deliver(app, quick)
        assert (await the_text(app)).status == "sent" and len(fake.accepted) == 1
    finally:
        await quick.aclose()


async def test_a_5xx_before_twilio_took_it_is_sent_again_after_the_lookup(
    app: Litestar, fake: FakeTwilio
) -> None:
    """A 5xx cannot say whether Twilio took the text: looked up first, then resent."""
    await send_james_a_link(app)
    fake.fail_next = 1
    await deliver(app)
    assert (await the_text(app)).status == "unknown" and fake.accepted == []
    app.state.clock.advance(seconds=GRACE.total_seconds())
    assert await deliver(app) == 1
    sent = await the_text(app)
    assert sent.status == "sent" and sent.attempts == 2 and len(fake.accepted) == 1


async def test_a_refused_text_fails_and_is_not_retried(app: Litestar, fake: FakeTwilio) -> None:
    fake.invalid.add("+17375550188")
    link = await send_james_a_link(app, phone="(737) 555-0188")
    await deliver(app)
    failed = await the_text(app)
    assert failed.status == "failed" and failed.attempts == 1 and "21211" in failed.last_error
    assert failed.sealed_secret is None and await link_status(app, link) == "failed"
    app.state.clock.advance(hours=1)
    assert await deliver(app) == 0 and len(fake.messages) == 1


async def test_a_lookup_that_fails_leaves_the_text_unknown(app: Litestar, fake: FakeTwilio) -> None:
    await send_james_a_link(app)
    fake.lose_next("drop", accepted=False)
    await deliver(app)
    app.state.clock.advance(seconds=GRACE.total_seconds())
    fake.fail_next = 1  # the list answers 503: nothing learned, nothing sent
    assert await deliver(app) == 1
    assert (await the_text(app)).status == "unknown" and len(fake.messages) == 1
    app.state.clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    await deliver(app)
    assert (await the_text(app)).status == "sent" and len(fake.accepted) == 1


async def test_an_unknown_text_not_found_after_the_last_attempt_fails(
    app: Litestar, fake: FakeTwilio
) -> None:
    link = await send_james_a_link(app)
    for _ in range(MAX_ATTEMPTS):
        fake.lose_next("drop", accepted=False)
    clock = app.state.clock
    await deliver(app)
    for _ in range(MAX_ATTEMPTS):
        clock.advance(seconds=(GRACE + LEASE).total_seconds())
        await deliver(app)
    failed = await the_text(app)
    assert failed.status == "failed" and failed.attempts == MAX_ATTEMPTS
    assert failed.sealed_secret is None and await link_status(app, link) == "failed"
    assert len(fake.messages) == MAX_ATTEMPTS and fake.accepted == []


async def test_a_worker_that_died_mid_send_leaves_a_text_that_is_looked_up(
    app: Litestar, fake: FakeTwilio
) -> None:
    """The lease ran out on a `sending` row: the text may have gone out before the crash."""
    link = await send_james_a_link(app)
    clock, maker = app.state.clock, app.state.sessionmaker
    queued = await the_text(app)
    body = sms.text_to_send(queued, app.state.box)
    leased = {"sent_at": clock.now(), "next_attempt_at": clock.now() + LEASE}
    async with maker() as s:  # leased and sent, then the process died before writing
        await s.execute(update(SmsMessage).values(status="sending", attempts=1, **leased))
        await s.commit()
    await app.state.sms.send(to_e164=queued.to_e164, body=body, message_id=queued.id)
    assert await deliver(app) == 0  # the lease still holds
    clock.advance(seconds=LEASE.total_seconds())
    assert await deliver(app) == 1
    text = await the_text(app)
    assert text.status == "sent" and text.provider_ref == fake.accepted[0]["sid"]
    assert len(fake.messages) == 1 and await link_status(app, link) == "sent"


@BOTH
async def test_twilios_delivery_report_resolves_a_text_whose_answer_was_lost(
    app: Litestar, client: AsyncTestClient[Any], fake: FakeTwilio
) -> None:
    link = await send_james_a_link(app)
    fake.lose_next("500")
    await deliver(app)
    [held] = fake.accepted
    url = fake.callbacks[held["sid"]]  # as Twilio calls it: our id in the signed URL
    assert url == f"{BASE}/webhooks/twilio/status?sms_id={(await the_text(app)).id}"
    form = {"MessageSid": held["sid"], "MessageStatus": "delivered", "To": held["to"]}
    r = await client.post(url, data=form, headers=signed(url, form))
    assert r.status_code == 200 and r.json()["result"] == "delivered"
    r = await client.post(url, data=form, headers=signed(url, form))
    assert r.json()["result"] == "unchanged"  # a replay
    text = await the_text(app)
    assert text.status == "delivered" and text.provider_ref == held["sid"]
    assert text.sealed_secret is None and await link_status(app, link) == "delivered"
    app.state.clock.advance(seconds=(GRACE + LEASE).total_seconds())
    assert await deliver(app) == 0 and len(fake.messages) == 1


async def test_a_report_naming_another_text_resolves_nothing(
    app: Litestar, client: AsyncTestClient[Any], fake: FakeTwilio
) -> None:
    await send_james_a_link(app)
    await deliver(app)  # sent, with its reference: a report cannot re-point it
    url = f"{BASE}/webhooks/twilio/status?sms_id={(await the_text(app)).id}"
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    r = await client.post(url, data=form, headers=signed(url, form))
    assert r.json()["result"] == "unknown"
    assert (await the_text(app)).provider_ref == fake.accepted[0]["sid"]


# -- two workers -----------------------------------------------------------------------------


@BOTH
async def test_two_workers_at_once_send_a_lost_text_once(
    db_url: str, fake: FakeTwilio, clock: FixedClock
) -> None:
    """Both workers run the lookup round for the same unknown texts; each text is leased by one
    (SKIP LOCKED on PostgreSQL) and resent once."""
    engines = [make_engine(db_url, poolclass=NullPool) for _ in range(2)]
    providers = [TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, api_base=fake.url) for _ in range(2)]
    makers = [make_sessionmaker(e) for e in engines]
    try:
        async with makers[0]() as s:
            for i in range(6):
                sms.queue(s, to_e164="+15125550102", body=f"text {i}", kind="receipt",
                          now=clock.now())  # fmt: skip
            await s.commit()
        for _ in range(6):
            fake.lose_next("drop", accepted=False)

        async def both() -> None:
            pairs = list(zip(makers, providers, strict=True)) * 2
            await asyncio.gather(*(deliver_due(m, p, clock, batch=2) for m, p in pairs))

        await both()
        await both()  # whatever the first round left
        assert len(fake.messages) == 6 and fake.accepted == []
        clock.advance(seconds=(GRACE + LEASE).total_seconds())
        await both()
        await both()
        async with makers[0]() as s:
            rows = (await s.execute(select(SmsMessage))).scalars().all()
        assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {2}
        bodies = [m["body"] for m in fake.accepted]
        assert sorted(bodies) == [f"text {i}" for i in range(6)]  # each exactly once
    finally:
        for p in providers:
            await p.aclose()
        for e in engines:
            await e.dispose()


class SlowBatch:
    """A provider whose first send takes longer than the lease; meanwhile another worker runs."""

    name = "twilio"

    def __init__(self, inner: TwilioSms, app: Litestar) -> None:
        self.inner, self.app, self.slow = inner, app, True

    async def send(self, *, to_e164: str, body: str, message_id: int) -> Any:
        result = await self.inner.send(to_e164=to_e164, body=body, message_id=message_id)
        if self.slow:
            self.slow = False
            self.app.state.clock.advance(seconds=LEASE.total_seconds() + 1)
            await deliver(self.app)  # the other worker takes both leased rows as lapsed
        return result

    async def find_sent(self, text: Outgoing, *, known: Any = ()) -> Any:
        return await self.inner.find_sent(text, known=known)


async def test_a_row_whose_lease_lapsed_in_a_slow_batch_is_not_sent_by_its_first_worker(
    app: Litestar, fake: FakeTwilio
) -> None:
    async with app.state.sessionmaker() as s:
        for i in range(2):
            sms.queue(s, to_e164="+15125550102", body=f"text {i}", kind="receipt",
                      now=app.state.clock.now())  # fmt: skip
        await s.commit()
    assert await deliver(app, SlowBatch(app.state.sms, app)) == 2
    assert [m["body"] for m in fake.accepted] == ["text 0"]  # the second was not sent by A
    async with app.state.sessionmaker() as s:
        first, second = (await s.execute(select(SmsMessage).order_by(SmsMessage.id))).scalars()
    assert first.status == "sent" and first.provider_ref == fake.accepted[0]["sid"]
    assert second.status == "unknown"  # B found nothing yet: it waits out the grace period
    app.state.clock.advance(seconds=GRACE.total_seconds())
    await deliver(app)
    assert sorted(m["body"] for m in fake.accepted) == ["text 0", "text 1"]
    assert len(fake.messages) == 2


# -- the dev outbox ----------------------------------------------------------------------------


async def test_the_outbox_finds_a_text_whose_answer_was_lost(
    db_url: str, clock: FixedClock
) -> None:
    app = create_app(make_settings(db_url), clock=clock)
    provider = app.state.sms
    assert isinstance(provider, OutboxSms)
    link = await send_james_a_link(app)
    provider.lose_next = 1
    await deliver(app)
    assert (await the_text(app)).status == "unknown" and len(provider.delivered) == 1
    clock.advance(seconds=LOOKUP_EVERY.total_seconds())
    await deliver(app)
    text = await the_text(app)
    assert text.status == "delivered" and text.provider_ref == f"outbox-{text.id}"
    assert len(provider.delivered) == 1 and await link_status(app, link) == "delivered"
