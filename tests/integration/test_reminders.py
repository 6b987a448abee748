"""Reminders by text on the demo data with the clock injected: exactly the due clients are
texted, once per vehicle-period however many runs or processes; a PAY reply brings a link (or
a polite answer and no link), also through Twilio's signed webhook against the fake Twilio."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.clock import FixedClock, SystemClock
from app.domain.links import hash_token
from app.domain.periods import local_today
from app.formatting import money
from app.main import create_app
from app.services import reminders, send_link, sms_events, summary
from app.services.sealed import SecretBox
from app.services.sms_worker import deliver_due
from app.store.db import make_engine, make_sessionmaker
from app.store.models import (
    AuditEvent,
    AutopayEnrollment,
    CardOnFile,
    Client,
    Location,
    PaymentLink,
    Reminder,
    SmsMessage,
    Vehicle,
)
from tests.conftest import NOW, get_page, make_settings, sign_in_staff
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.html import parse
from tests.integration.test_twilio import FROM, signed
from tests.servers import server_env

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")
COMPANY = "Demo Interlock"
BASE = "http://127.0.0.1:8000"
MONITORPAY = str(Path(sys.executable).with_name("monitorpay"))
BOX = SecretBox("test-secret-key-that-is-long-enough-0123456789")
CTX = reminders.ReplyContext(
    company=COMPANY, support_phone="+18005550199", base_url=BASE, ttl_seconds=600, box=BOX
)
JAMES, MARIA, DEREK, ANA = "+15125550102", "+15125550101", "+15125550104", "+19155550103"


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


@dataclass
class Demo:
    civic: int  # Maria's, due
    f150: int  # James's, due, with his $90.00 past due
    camry: int  # James's other, not due
    altima: int  # Ana's (El Paso, no payments), due
    malibu: int  # Derek's (opted out), due
    spanish: int  # a generated Spanish speaker's, due
    autopay: int  # a generated client's on AutoPay, due


async def make_due(s: AsyncSession, now: datetime) -> Demo:
    """The demo data, with more of it due today (paid through 3 days after Austin's today):
    each case the run must tell apart."""
    austin = (
        await s.execute(select(Location).where(col(Location.name) == "Austin North"))
    ).scalar_one()
    target = local_today(now, austin.timezone) + timedelta(days=3)

    async def vehicle_of(account: str, n: int = 0) -> Vehicle:
        client = (
            await s.execute(select(Client).where(col(Client.account_number) == account))
        ).scalar_one()
        return (
            (
                await s.execute(
                    select(Vehicle)
                    .where(col(Vehicle.client_id) == client.id)
                    .order_by(col(Vehicle.id))
                )
            )
            .scalars()
            .all()[n]
        )

    generated = (
        await s.execute(
            select(Client, Vehicle)
            .join(Vehicle, col(Vehicle.client_id) == col(Client.id))
            .where(
                col(Client.location_id) == austin.id,
                col(Client.sms_opt_out).is_(False),
                col(Client.account_number) > "100004",
                col(Vehicle.paid_through) != target,
            )
            .order_by(col(Vehicle.id))
        )
    ).all()
    spanish = next(v for c, v in generated if c.language == "es")
    on_autopay_client, on_autopay = next((c, v) for c, v in generated if v.id != spanish.id)
    card = CardOnFile(client_id=on_autopay_client.id or 0, processor_ref="pm_sandbox_visa_4242",
                      brand="Visa", last4="4242", exp_month=12, exp_year=now.year + 3,
                      created_at=now)  # fmt: skip
    s.add(card)
    await s.flush()
    s.add(AutopayEnrollment(client_id=on_autopay_client.id or 0, vehicle_id=on_autopay.id or 0,
                            card_id=card.id or 0, days=30, created_at=now))  # fmt: skip
    demo = Demo(
        civic=(await vehicle_of("100001")).id or 0,
        f150=(await vehicle_of("100002")).id or 0,
        camry=(await vehicle_of("100002", 1)).id or 0,
        altima=(await vehicle_of("100003")).id or 0,
        malibu=(await vehicle_of("100004")).id or 0,
        spanish=spanish.id or 0,
        autopay=on_autopay.id or 0,
    )
    due = [demo.civic, demo.f150, demo.malibu, demo.spanish, demo.autopay]
    await s.execute(update(Vehicle).where(col(Vehicle.id).in_(due)).values(paid_through=target))
    await s.commit()
    return demo


async def expected_due(s: AsyncSession, now: datetime) -> set[int]:
    """Computed from the tables, apart from the service's query: the vehicles to text."""
    locations = {loc.id: loc for loc in (await s.execute(select(Location))).scalars()}
    clients = {c.id: c for c in (await s.execute(select(Client))).scalars()}
    opted = {c.phone_e164 for c in clients.values() if c.sms_opt_out}
    on_autopay = set(
        (
            await s.execute(
                select(col(AutopayEnrollment.vehicle_id)).where(col(AutopayEnrollment.active))
            )
        ).scalars()
    )
    out = set()
    for v in (await s.execute(select(Vehicle))).scalars():
        c = clients[v.client_id]
        loc = locations[c.location_id]
        today = local_today(now, loc.timezone)
        if (
            v.paid_through == today + timedelta(days=3)
            and loc.payments_enabled
            and loc.processor_account
            and c.phone_e164 not in opted
            and v.id not in on_autopay
        ):
            out.add(v.id or 0)
    return out


async def reminder_texts(s: AsyncSession) -> list[tuple[int, SmsMessage]]:
    rows = await s.execute(
        select(col(Reminder.vehicle_id), SmsMessage)
        .join(SmsMessage, col(SmsMessage.id) == col(Reminder.sms_id))
        .order_by(col(Reminder.vehicle_id))
    )
    return [(int(v), m) for v, m in rows.all()]


async def count(s: AsyncSession, model: Any, *where: Any) -> int:
    return int(
        (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
    )


# --- the run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_run_texts_exactly_the_due_clients_once_however_often_it_runs(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(NOW)
    async with maker() as s:
        demo = await make_due(s, NOW)
        expected = await expected_due(s, NOW)
    assert {demo.civic, demo.f150, demo.spanish} <= expected
    assert not {demo.altima, demo.malibu, demo.autopay, demo.camry} & expected

    first = await reminders.run(maker, clock, COMPANY, chunk_size=3)  # several chunks
    second = await reminders.run(maker, clock, COMPANY, chunk_size=3)
    assert first.texted == len(expected) and first.already == 0
    assert second.texted == 0 and second.already == len(expected)
    assert first.skipped == second.skipped
    assert first.skipped["the location does not take payments"] >= 1  # Ana
    assert first.skipped["on AutoPay"] == 1 and first.skipped["opted out of texts"] >= 1
    assert first.due == first.texted + sum(first.skipped.values())

    async with maker() as s:
        sent = await reminder_texts(s)
        assert [v for v, _ in sent] == sorted(expected)  # one text each
        assert await count(s, SmsMessage, col(SmsMessage.kind) == "reminder") == len(expected)
        by_vehicle = dict(sent)
        james = by_vehicle[demo.f150]
        f150_total = (
            await summary.compute(
                s, client_id=james.client_id or 0, vehicle_id=demo.f150, days=30, now=NOW
            )
        ).total_cents
        assert f150_total == 18201  # $85.00 + tax + his $90.00 past due: what a link carries
        assert james.to_e164 == JAMES and james.body == (
            "Demo Interlock: James C., monitoring for your 2015 Ford F-150 is paid through"
            " Nov 28. Amount due: $182.01. Reply PAY for a secure payment link."
            " Help: (800) 555-0199. Reply STOP to opt out"
        )
        spanish = by_vehicle[demo.spanish].body
        assert "esta pagado hasta el 28 nov" in spanish and "Responda PAGAR" in spanish
        for vehicle_id, message in sent:
            v = await s.get(Vehicle, vehicle_id)
            assert v is not None and message.client_id == v.client_id
            total = (
                await summary.compute(
                    s,
                    client_id=v.client_id,
                    vehicle_id=v.id or 0,
                    days=v.billing_cycle_days,
                    now=NOW,
                )  # fmt: skip
            ).total_cents
            assert money(total) in message.body, message.body

    # The next day: the next day's due vehicles only, none of these again.
    clock.advance(days=1)
    async with maker() as s:
        tomorrow = await expected_due(s, clock.now())
    assert not tomorrow & expected
    assert (await reminders.run(maker, clock, COMPANY)).texted == len(tomorrow)
    async with maker() as s:
        assert [v for v, _ in await reminder_texts(s)] == sorted(expected | tomorrow)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_two_runs_at_once_text_each_client_once(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(NOW)
    async with maker() as s:
        await make_due(s, NOW)
        expected = await expected_due(s, NOW)
    a, b = await asyncio.gather(
        reminders.run(maker, clock, COMPANY, chunk_size=2),
        reminders.run(maker, clock, COMPANY, chunk_size=2),
    )
    assert a.texted + b.texted == len(expected)
    async with maker() as s:
        assert [v for v, _ in await reminder_texts(s)] == sorted(expected)
        assert await count(s, SmsMessage, col(SmsMessage.kind) == "reminder") == len(expected)


async def _make_due_today(url: str, n: int) -> tuple[list[int], date]:
    """`n` Austin vehicles due by the real clock (the CLI runs on it); every other vehicle
    far from due."""
    engine = make_engine(url, poolclass=NullPool)
    target = local_today(SystemClock().now(), "America/Chicago") + timedelta(days=3)
    async with make_sessionmaker(engine)() as s:
        await s.execute(update(Vehicle).values(paid_through=target + timedelta(days=10)))
        ids = list(
            (
                await s.execute(
                    select(col(Vehicle.id))
                    .join(Client, col(Client.id) == col(Vehicle.client_id))
                    .join(Location, col(Location.id) == col(Client.location_id))
                    .where(col(Location.payments_enabled), col(Client.sms_opt_out).is_(False))
                    .order_by(col(Vehicle.id))
                    .limit(n)
                )
            ).scalars()
        )
        await s.execute(update(Client).values(sms_opt_out=False))
        await s.execute(update(Vehicle).where(col(Vehicle.id).in_(ids)).values(paid_through=target))
        await s.commit()
    await engine.dispose()
    return [int(i or 0) for i in ids], target


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_two_remind_processes_at_once_text_each_vehicle_once(
    db_url: str, tmp_path: Path
) -> None:
    ids, target = await _make_due_today(db_url, 12)
    env = server_env(db_url, tmp_path / "ledger.db")
    for _round in range(2):  # and again: nothing more
        procs = [
            await asyncio.create_subprocess_exec(
                MONITORPAY,
                "remind",
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            for _ in range(2)
        ]
        outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, (out + err).decode()
            assert out.decode().startswith("remind: "), out.decode()
    engine = make_engine(db_url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        texted = list(
            (
                await s.execute(
                    select(col(Reminder.vehicle_id))
                    .where(col(Reminder.period_end) == target)
                    .order_by(col(Reminder.vehicle_id))
                )
            ).scalars()
        )
        assert texted == sorted(ids)
        assert await count(s, SmsMessage, col(SmsMessage.kind) == "reminder") == len(ids)
    await engine.dispose()


# --- PAY -------------------------------------------------------------------------------------


async def pay(
    maker: async_sessionmaker[AsyncSession], number: str, body: str, now: datetime
) -> str:
    async with maker() as s:
        return await sms_events.inbound(s, from_number=number, body=body, now=now, reply=CTX)


async def texts_to(s: AsyncSession, number: str) -> list[SmsMessage]:
    rows = await s.execute(
        select(SmsMessage).where(col(SmsMessage.to_e164) == number).order_by(col(SmsMessage.id))
    )
    return list(rows.scalars())


async def test_pay_after_a_reminder_sends_a_link_for_the_reminded_vehicle(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    async with maker() as s:
        demo = await make_due(s, NOW)
    await reminders.run(maker, FixedClock(NOW), COMPANY)
    later = NOW + timedelta(hours=5)
    assert await pay(maker, "(512) 555-0102", "  Pay! ", later) == "pay_link"
    async with maker() as s:
        link = (await s.execute(select(PaymentLink))).scalar_one()
        assert (link.origin, link.vehicle_id, link.days) == ("reply", demo.f150, 30)
        assert link.sent_by_staff_id is None and link.total_cents == 18201
        assert link.phone_e164 == JAMES
        reminder, text = await texts_to(s, JAMES)
        assert (reminder.kind, text.kind, text.link_id) == ("reminder", "link", link.id)
        assert "/pay/{token}" in text.body and "$182.01" in text.body
        event = (
            await s.execute(
                select(AuditEvent).where(col(AuditEvent.action) == "link.requested_by_text")
            )
        ).scalar_one()
        assert event.actor_type == "payer" and event.client_id == link.client_id


async def test_pay_words_in_any_case_and_pagar(maker: async_sessionmaker[AsyncSession]) -> None:
    for i, body in enumerate(["PAY", "pay.", "Pagar", " ¡PAGAR! "]):
        async with maker() as s:  # one link an hour apart, under the hourly limit
            await s.execute(update(PaymentLink).values(created_at=NOW - timedelta(days=1)))
            await s.commit()
        assert await pay(maker, MARIA, body, NOW + timedelta(minutes=i)) == "pay_link"
    assert await pay(maker, MARIA, "pay later", NOW) == "ignored"
    async with maker() as s:
        links = list((await s.execute(select(PaymentLink))).scalars())
        assert len(links) == 4 and {lk.origin for lk in links} == {"reply"}
        # Maria has one vehicle and no reminder: that vehicle; each new link replaces the last
        assert [lk.status for lk in links] == ["superseded"] * 3 + ["queued"]


async def test_pay_without_a_reminder_for_a_client_with_two_vehicles_asks_them_to_call(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    assert await pay(maker, JAMES, "PAY", NOW) == "pay_which"
    async with maker() as s:
        [answer] = await texts_to(s, JAMES)
        assert answer.kind == "reply" and "/pay/" not in answer.body
        assert answer.body == (
            "Demo Interlock: James C., we could not tell which vehicle to send a payment link"
            " for. Call (800) 555-0199 or pay in My Account."
        )
        assert await count(s, PaymentLink) == 0


async def test_pay_from_an_unknown_number_gets_a_polite_answer_and_no_link(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    assert await pay(maker, "(737) 555-0188", "PAY", NOW) == "pay_unknown"
    assert await pay(maker, "(737) 555-0177", "pagar", NOW) == "pay_unknown"
    async with maker() as s:
        [en] = await texts_to(s, "+17375550188")
        [es] = await texts_to(s, "+17375550177")
        assert en.body.startswith("Demo Interlock: we could not find an account for this number")
        assert es.body.startswith("Demo Interlock: no encontramos una cuenta con este numero")
        assert en.client_id is None and await count(s, PaymentLink) == 0


async def test_pay_from_an_opted_out_number_sends_nothing_at_all(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    # Carriers forbid texting a number that replied STOP (but the STOP confirmation): no link,
    # and no answer either.
    assert await pay(maker, DEREK, "PAY", NOW) == "pay_opted_out"
    async with maker() as s:
        assert await texts_to(s, DEREK) == [] and await count(s, PaymentLink) == 0


async def test_pay_where_the_location_takes_no_payments_gets_a_polite_answer(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    assert await pay(maker, ANA, "PAY", NOW) == "pay_not_accepted"
    async with maker() as s:
        [answer] = await texts_to(s, ANA)
        assert "payment links are not available for your location" in answer.body
        assert await count(s, PaymentLink) == 0


async def test_pay_after_the_reminded_period_was_paid_sends_no_link(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    async with maker() as s:
        demo = await make_due(s, NOW)
    await reminders.run(maker, FixedClock(NOW), COMPANY)
    async with maker() as s:
        await s.execute(
            update(Vehicle)
            .where(col(Vehicle.id) == demo.f150)
            .values(paid_through=date(2026, 12, 28))
        )
        await s.commit()
    assert await pay(maker, JAMES, "PAY", NOW + timedelta(hours=1)) == "pay_paid"
    async with maker() as s:
        answer = (await texts_to(s, JAMES))[-1]
        assert "F-150 is paid through Dec 28, so nothing is due now" in answer.body
        assert await count(s, PaymentLink) == 0


async def test_pay_within_the_limits_then_polite_then_silent(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    outcomes = [await pay(maker, MARIA, "PAY", NOW + timedelta(minutes=i)) for i in range(14)]
    # 5 links an hour per client; then answers until the number's day of texts is over
    # (10, and one answer past it); then nothing.
    assert outcomes == ["pay_link"] * 5 + ["pay_limit"] * 6 + ["pay_silent"] * 3
    async with maker() as s:
        sent = await texts_to(s, MARIA)
        assert len(sent) == send_link.TEXTS_PER_NUMBER_PER_DAY + 1
        assert await count(s, PaymentLink) == 5
        assert "we sent you several payment links recently" in sent[-1].body


# --- through Twilio's signed webhook, against the fake Twilio ---------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
async def twilio_app(db_url: str, fake: FakeTwilio, clock: FixedClock) -> AsyncIterator[Litestar]:
    settings = make_settings(
        db_url,
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM,
        twilio_api_base=fake.url,
    )
    app = create_app(settings, clock=clock)
    yield app
    await app.state.sms.aclose()  # the SDK's HTTP pool lives on this test's event loop


async def test_a_pay_reply_through_twilio_brings_a_link_texted_through_twilio(
    twilio_app: Litestar, fake: FakeTwilio
) -> None:
    app = twilio_app
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        maker = app.state.sessionmaker
        async with maker() as s:
            demo = await make_due(s, NOW)
        await reminders.run(maker, app.state.clock, COMPANY)
        url = f"{BASE}/webhooks/twilio/inbound"
        form = {"From": JAMES, "Body": "Pay", "MessageSid": "SM77"}
        r = await client.post(url, data=form, headers={"X-Twilio-Signature": "forged"})
        assert r.status_code == 403
        r = await client.post(url, data=form, headers=signed(url, form))
        assert r.status_code == 200 and r.text.endswith("<Response/>")  # the answer is a text
        await deliver_due(maker, app.state.sms, app.state.clock, app.state.box)
        to_james = [m for m in fake.messages if m["To"] == JAMES]
        assert [("Reply PAY" in m["Body"]) for m in to_james] == [True, False]
        token = re.search(r"/pay/([A-Za-z0-9_-]{43})", to_james[1]["Body"]).group(1)  # type: ignore[union-attr]
        async with maker() as s:
            link = (await s.execute(select(PaymentLink))).scalar_one()
            assert link.token_hash == hash_token(token) and link.origin == "reply"
            assert link.vehicle_id == demo.f150
        r = await client.get(f"/pay/{token}")
        assert r.status_code == 200 and "$182.01" in r.text


# --- /dev/sms: the client's side without a phone, and the staff's Payment Links tab -----------


async def test_the_dev_inbox_reply_box_feeds_the_inbound_path_with_and_without_htmx(
    app: Litestar, client: AsyncTestClient[Any]
) -> None:
    maker = app.state.sessionmaker
    async with maker() as s:
        demo = await make_due(s, NOW)
    await reminders.run(maker, app.state.clock, COMPANY)
    await deliver_due(maker, app.state.sms, app.state.clock, app.state.box)
    status, page = await get_page(client, "/dev/sms")
    assert status == 200
    reminder = page.one(f".sms[data-kind=reminder][data-to='{JAMES}']")
    form = reminder.select_one("form.sms-reply")
    assert form is not None and form.select_one("label").get_text() == (  # type: ignore[union-attr]
        "Reply from (512) 555-0102"
    )
    action, token = str(form["action"]), page.csrf()
    assert form["hx-post"] == action and form["hx-select"] == "#inbox"

    r = await client.post(action, data={"body": "PAY"}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    r = await client.post(action, data={"body": " ", "_csrf_token": token})
    assert r.status_code == 422
    shown = parse(r.text)
    assert shown.one(f"#{reminder['id']} .field-error").get_text(" ", strip=True) == (
        "Error: Type a reply, for example PAY."
    )
    assert shown.one(f"#{reminder['id']} input[name=body]")["aria-invalid"] == "true"
    r = await client.post("/dev/sms/999999/reply", data={"body": "PAY", "_csrf_token": token})
    assert r.status_code == 404

    r = await client.post(
        action, data={"body": "pay", "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/dev/sms?outcome=pay_link")
    status, page = await get_page(client, r.headers["location"])
    assert "a new Secure Payment Link was texted" in page.text("#reply-outcome")
    newest = page.all(".sms")[0]
    assert (newest["data-kind"], newest["data-to"]) == ("link", JAMES)
    href = str(newest.select_one(".sms-body a")["href"])  # type: ignore[index]
    assert "/pay/" in href and "{token}" not in href
    r = await client.get(href.removeprefix(BASE))
    assert r.status_code == 200 and "$182.01" in r.text

    # With htmx: the inbox comes back in place, the answer in it.
    r = await client.post(
        action, data={"body": "PAGAR", "_csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    shown = parse(r.text)
    assert shown.has("#inbox #reply-outcome")
    assert [m["data-kind"] for m in shown.all(".sms")[:2]] == ["link", "link"]

    # The staff's Payment Links tab says who asked for them.
    await sign_in_staff(client)
    async with maker() as s:
        james_id = (await s.get(Vehicle, demo.f150)).client_id  # type: ignore[union-attr]
    status, page = await get_page(client, f"/plus/clients/{james_id}/links")
    assert status == 200
    assert [row.select("td")[1].get_text(strip=True) for row in page.all("tbody tr")] == [
        "Requested by text",
        "Requested by text",
    ]


async def test_a_reply_from_the_dev_inbox_to_an_opted_out_number_sends_nothing(
    app: Litestar, client: AsyncTestClient[Any]
) -> None:
    maker = app.state.sessionmaker
    async with maker() as s:
        derek = (
            await s.execute(select(Client).where(col(Client.phone_e164) == DEREK))
        ).scalar_one()
        s.add(SmsMessage(to_e164=DEREK, body="An earlier text", kind="receipt",
                         status="delivered", client_id=derek.id, created_at=NOW))  # fmt: skip
        await s.commit()
    status, page = await get_page(client, "/dev/sms")
    action = str(page.one(f".sms[data-to='{DEREK}'] form")["action"])
    r = await client.post(action, data={"body": "PAY", "_csrf_token": page.csrf()})
    assert r.status_code == 200
    shown = parse(r.text)
    assert "nothing was sent" in shown.text("#reply-outcome")
    assert len(shown.all(".sms")) == 1


async def test_the_daily_schedule_starts_and_stops_with_the_app(db_url: str) -> None:
    """REMIND_DAILY_AT starts reminders.run_daily in the lifespan; shutting down cancels it."""
    app = create_app(make_settings(db_url, remind_daily_at=time(15, 0)), clock=FixedClock(NOW))
    async with AsyncTestClient(app=app, base_url=BASE) as c:
        assert (await c.get("/healthz")).status_code == 200
    assert reminders.next_run_at(NOW, time(15, 0)) == NOW + timedelta(hours=23)
