"""Two real server processes on one PostgreSQL and one Redis, driven at once, as behind a load
balancer: each with its SMS worker (texting through the real Twilio SDK to a fake Twilio on
127.0.0.1) and its in-process AutoPay schedule, both due at the same second.

- links sent through both instances are texted once each;
- one link paid through both at once is charged once;
- the two AutoPay schedules charge each vehicle-period once;
- a session signed out on one instance is dead on the other.

No assert reads a clock. The AutoPay schedule is set relative to when the servers report ready:
they are started again for it, due a few of their own start-up times after the restart, and
the test checks the order of events (nothing charged until both were up), not elapsed time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from app.clock import SystemClock
from app.domain.periods import local_today
from app.services import autopay
from app.store.models import (
    AutopayEnrollment,
    CardOnFile,
    Client,
    Location,
    Payment,
    SmsMessage,
    Vehicle,
)
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.html import parse
from tests.integration.test_over_http import (
    TIMEOUT,
    assert_charged_once,
    assert_every_payer_answered,
    database,
    gateway_charges,
    link_facts,
    pay_form,
    payers,
    send_link_to,
    submit,
    summary,
)
from tests.servers import ServerProcess, server_env, start_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
LINKS_PER_INSTANCE = 4
AUTOPAY_VEHICLES = 6
# The schedule is due this many of the servers' own start-up times after they are started
# again (at least MIN_LEAD): both are up long before it, however slow this machine is today.
STARTUPS_AHEAD = 3
MIN_LEAD = timedelta(seconds=3)
POLLS = 300  # looks at the database (0.2 s apart) before giving up on the background work


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


async def _enroll_due_vehicles(url: str) -> list[int]:
    """AUTOPAY_VEHICLES vehicles of payments-enabled locations on AutoPay with a working card,
    their paid-through date due today (and paid up to beyond the lead once charged)."""
    now = SystemClock().now()
    async with database(url) as maker, maker() as s:
        rows = (
            await s.execute(
                select(Vehicle, Client, Location)
                .join(Client, col(Client.id) == col(Vehicle.client_id))
                .join(Location, col(Location.id) == col(Client.location_id))
                .where(col(Location.payments_enabled).is_(True))
                .order_by(col(Vehicle.id).desc())  # away from the clients the links go to
                .limit(AUTOPAY_VEHICLES)
            )
        ).all()
        ids = []
        for vehicle, client, location in rows:
            card = CardOnFile(client_id=client.id or 0, processor_ref="pm_sandbox_visa_4242",
                              brand="Visa", last4="4242", exp_month=12, exp_year=now.year + 3,
                              created_at=now)  # fmt: skip
            s.add(card)
            await s.flush()
            await autopay.enroll(s, client_id=client.id or 0, vehicle_id=vehicle.id or 0,
                                 card_id=card.id or 0, days=30, now=now)  # fmt: skip
            today = local_today(now, location.timezone)
            await s.execute(
                update(Vehicle)
                .where(col(Vehicle.id) == vehicle.id)
                .values(paid_through=today + timedelta(days=1))
            )
            ids.append(vehicle.id or 0)
        # No other enrollment is due today: the count below is exactly these vehicles.
        await s.execute(
            update(AutopayEnrollment)
            .where(col(AutopayEnrollment.vehicle_id).not_in(ids))
            .values(active=False)
        )
        await s.commit()
    return ids


async def _autopay_charges(url: str, ids: list[int]) -> Counter[int]:
    async with database(url) as maker, maker() as s:
        rows = (
            await s.execute(
                select(col(Payment.vehicle_id), func.count())
                .where(col(Payment.channel) == "autopay", col(Payment.status) == "succeeded")
                .group_by(col(Payment.vehicle_id))
            )
        ).all()
    return Counter({int(v): int(n) for v, n in rows if v in ids})


async def _link_texts(url: str) -> dict[int, str]:
    async with database(url) as maker, maker() as s:
        rows = (
            await s.execute(
                select(col(SmsMessage.link_id), col(SmsMessage.status)).where(
                    col(SmsMessage.kind) == "link"
                )
            )
        ).all()
    return {int(link_id): status for link_id, status in rows if link_id is not None}


async def _staff(server: ServerProcess) -> httpx.AsyncClient:
    c = httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, trust_env=False)
    page = parse((await c.get("/plus/login")).text)
    r = await c.post(
        "/plus/login",
        data={
            "email": "agent@demo.test",
            "password": "demo-agent-pass",
            "_csrf_token": page.csrf(),
        },  # fmt: skip
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    return c


async def _send_link(staff: httpx.AsyncClient, client_id: int) -> int:
    """Send Secure Payment Link as staff click it: open the form, Get Summary, Send Message."""
    page = parse((await staff.get(f"/plus/clients/{client_id}/send-link")).text)
    vehicle = page.soup.select_one("#vehicle_id option[selected]") or page.soup.select_one(
        "#vehicle_id option"
    )
    assert vehicle is not None, page.text("main")
    got = await staff.get(
        f"/plus/clients/{client_id}/send-link",
        params={"vehicle_id": str(vehicle["value"]), "days": "30"},
    )
    assert got.status_code == 200, got.text[:500]
    form = parse(got.text).soup.select_one(f'form[action="/plus/clients/{client_id}/links"]')
    assert form is not None, got.text[:2000]
    fields = {
        str(i["name"]): str(i.get("value", ""))
        for i in form.select("input[name]")
        if i.get("type") != "radio"
    }
    r = await staff.post(f"/plus/clients/{client_id}/links", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    sent = re.search(r"sent=(\d+)", r.headers["location"])
    assert sent, r.headers["location"]
    return int(sent.group(1))


async def _clients_to_text(url: str, count: int, skip: set[int]) -> list[int]:
    async with database(url) as maker, maker() as s:
        rows = (
            await s.execute(
                select(col(Client.id))
                .join(Location, col(Location.id) == col(Client.location_id))
                .where(col(Location.payments_enabled).is_(True), col(Client.sms_opt_out).is_(False))
                .order_by(col(Client.id))
            )
        ).all()
    return [int(r[0]) for r in rows if int(r[0]) not in skip][:count]


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds; give up after POLLS looks (a hung server, not a slow one)."""
    for _ in range(POLLS):
        if await check():
            return
        await asyncio.sleep(0.2)  # the next look at the database
    pytest.fail(f"{what}: still not done after {POLLS} looks at the database")


def _started_both(
    env: dict[str, str], tmp_path: Path
) -> tuple[ServerProcess, ServerProcess, float]:
    """Two servers, each ready (its /healthz answered); and how long starting them took, which
    is what a schedule set before starting them must leave room for."""
    began = time.monotonic()
    one = start_server(env, tmp_path)
    try:
        two = start_server(env, tmp_path)
    except BaseException:
        one.stop()
        raise
    return one, two, time.monotonic() - began


def _due_after_startups(startup_seconds: float) -> datetime:
    """A daily time (whole seconds, UTC) a few start-ups from now."""
    lead = max(MIN_LEAD, timedelta(seconds=STARTUPS_AHEAD * startup_seconds))
    return (datetime.now(UTC) + lead + timedelta(seconds=1)).replace(microsecond=0)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_instances_share_texts_payments_autopay_and_sessions(
    db_url: str, redis_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    vehicles = await _enroll_due_vehicles(db_url)
    async with database(db_url) as maker, maker() as s:
        autopay_clients = set(
            (
                await s.execute(select(col(Vehicle.client_id)).where(col(Vehicle.id).in_(vehicles)))
            ).scalars()
        )
    ledger = tmp_path / "sandbox-ledger.db"
    env = server_env(
        db_url,
        ledger,
        REDIS_URL=redis_url,
        KV_PATH="/nonexistent/kv",  # sessions and limits must live in Redis, not in files
        SMS_WORKER="true",
        SMS_POLL_SECONDS="0.2",
        SMS_PROVIDER="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER="+15125550000",
        TWILIO_API_BASE=twilio.url,
    )
    one, two, startup = _started_both(env, tmp_path)
    with one, two:
        servers = (one, two)

        # Sessions: signed in on one, the other knows it; signed out on the other, dead on both.
        staff_one = await _staff(one)
        staff_two = httpx.AsyncClient(base_url=two.url, timeout=TIMEOUT, trust_env=False)
        staff_two.cookies = staff_one.cookies
        home = await staff_two.get("/plus/", follow_redirects=False)
        assert home.status_code == 200 and "Alex Agent" in parse(home.text).text(".topbar")

        # Links sent through both instances, at once.
        targets = await _clients_to_text(db_url, 2 * LINKS_PER_INSTANCE, autopay_clients)
        staff_other = await _staff(two)
        link_ids = await asyncio.gather(
            *(
                _send_link(staff_one if i % 2 == 0 else staff_other, cid)
                for i, cid in enumerate(targets)
            )
        )
        assert len(set(link_ids)) == len(targets)

        # One link paid through both instances at once.
        paid_link, token = await send_link_to(db_url)
        async with payers([s.url for s in servers], 10) as phones:
            forms = await asyncio.gather(*(pay_form(c, token) for c in phones))
            answers = await asyncio.gather(
                *(submit(c, token, f) for c, f in zip(phones, forms, strict=True))
            )
        assert_every_payer_answered(answers)
        assert_charged_once(await link_facts(db_url, paid_link), 1, summary(answers))

        # Sign out on two: the same cookie is refused on one.
        page = parse((await staff_two.get("/plus/")).text)
        out = await staff_two.post(
            "/plus/logout", data={"_csrf_token": page.csrf()}, follow_redirects=False
        )
        assert out.status_code == 303
        replay = await staff_one.get("/plus/", follow_redirects=False)
        assert replay.status_code == 303 and replay.headers["location"].startswith("/plus/login")

        # Every text went out once, whichever instance's worker took it.
        sent_ids = set(link_ids) | {paid_link}

        async def all_texted() -> bool:
            texts = await _link_texts(db_url)
            return all(texts.get(i) in {"sent", "delivered"} for i in sent_ids)

        await _until(all_texted, "the link texts")
        logs = one.log_tail() + two.log_tail()
        for c in (staff_one, staff_two, staff_other):
            await c.aclose()

    # AutoPay: both servers again, each with its daily schedule due at the same second, a few
    # of their start-ups after they are started.
    run_at = _due_after_startups(startup)
    one, two, _ = _started_both(env | {"AUTOPAY_DAILY_AT": run_at.strftime("%H:%M:%S")}, tmp_path)
    with one, two:
        # The order that matters: both were up before either schedule ran.
        assert not await _autopay_charges(db_url, vehicles), (
            "AutoPay ran before both servers were ready; raise STARTUPS_AHEAD"
        )

        async def autopay_done() -> bool:
            return len(await _autopay_charges(db_url, vehicles)) == len(vehicles)

        await _until(autopay_done, "the AutoPay run")
        logs += one.log_tail() + two.log_tail()

    bodies = [r.form.get("Body", "") for r in twilio.requests if r.path.endswith("Messages.json")]
    link_urls = Counter(m.group(0) for b in bodies for m in re.finditer(r"/pay/[\w-]+", b))
    assert len(link_urls) == len(sent_ids), (link_urls, logs)
    assert set(link_urls.values()) == {1}, f"a link texted twice: {link_urls}"
    charges = await _autopay_charges(db_url, vehicles)
    assert charges == Counter(dict.fromkeys(vehicles, 1)), (charges, logs)
    # At the processor: the link payment and one charge per vehicle, nothing more.
    assert gateway_charges(ledger) == 1 + len(vehicles), logs
