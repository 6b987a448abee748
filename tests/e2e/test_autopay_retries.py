"""AutoPay that recovers, in the browser, the runs invoked from the test on the server's frozen
clock. At phone width: a run on the soft-decline card (4000 0000 0000 9995) texts "We'll try
again on …", the client puts a good card on AutoPay under My Account's Payment Methods, and the
run on the retry day charges once; a vehicle on the lost card (…9987) is not tried again.
At desktop width: a client's AutoPay card keeps declining for insufficient funds (the
sandbox's 4000 0000 0000 9995); the daily run tries it on the first day and on each retry day
(1, 3 and 5 days later), and then no more; staff see "AutoPay failed, retries exhausted" on
the vehicle in PLUS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from sqlmodel import col

from app.services import autopay
from app.services.sign_in import hash_password
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Payment, Vehicle
from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_accessibility import fill_card, violations
from tests.e2e.test_pay_link_failures import off_thread
from tests.e2e.test_send_link import open_client, sign_in_agent
from tests.integration.test_autopay_run import enrolled

SHOTS = Path("/tmp/shots")  # noqa: S108 - where the session looks at its screenshots


def _enroll(
    server: LiveServer, card: str = "pm_sandbox_visa_9995", password: str | None = None
) -> tuple[str, str, int]:
    """A new client with one vehicle on AutoPay with `card` (the soft-decline card unless
    told), due today, with a My Account password if given: its account number, name as search
    lists it, and vehicle id."""

    async def make() -> tuple[str, str, int]:
        engine = make_engine(server.settings.async_database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                today = server.clock.now().date()
                [vid] = await enrolled(s, server.clock, paid_through=today, card=card)
                vehicle = await s.get(Vehicle, vid)
                assert vehicle is not None
                client = await s.get(Client, vehicle.client_id)
                assert client is not None
                if password:
                    client.password_hash = hash_password(password)
                    await s.commit()
                name = f"{client.last_name}, {client.first_name}"
                return client.account_number, name, vid
        finally:
            await engine.dispose()

    return off_thread(make)


def _run(server: LiveServer) -> autopay.RunReport:
    """`monitorpay autopay`, on the live server's frozen clock."""

    async def run() -> autopay.RunReport:
        engine = make_engine(server.settings.async_database_url)
        try:
            return await autopay.run(
                make_sessionmaker(engine), server.app.state.gateway, server.clock,
                server.settings.company_name, policy=autopay.Policy.from_settings(server.settings),
            )  # fmt: skip
        finally:
            await engine.dispose()

    return off_thread(run)


def _attempts(server: LiveServer, vehicle_id: int) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(server.settings.async_database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                rows = await s.execute(
                    select(col(Payment.status))
                    .where(col(Payment.vehicle_id) == vehicle_id)
                    .order_by(col(Payment.id))
                )
                return [str(r) for r in rows.scalars()]
        finally:
            await engine.dispose()

    return off_thread(read)


def test_staff_see_autopay_failed_retries_exhausted_after_the_last_retry(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    account, name, vehicle = _enroll(live_server)
    assert _run(live_server).failed == 1  # the first try
    for days in (1, 2, 2):  # the retry days: 1, 3 and 5 days after the first try
        live_server.clock.advance(days=days)
        assert _run(live_server).failed == 1
    live_server.clock.advance(days=1)
    assert _run(live_server).failed == 0  # exhausted: not tried again
    assert _attempts(live_server, vehicle) == ["failed"] * 4

    page = desktop
    sign_in_agent(page)
    open_client(page, account, name)
    status = page.locator(f"#autopay-{vehicle} .autopay-status")
    expect(status).to_have_text("AutoPay failed, retries exhausted")
    expect(page.get_by_role("heading", name="AutoPay")).to_be_visible()
    assert page.js_errors == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#vehicles").screenshot(path=str(SHOTS / "autopay_exhausted_panel.png"))
    page.screenshot(path=str(SHOTS / "autopay_exhausted.png"), full_page=True)
    shot(page, artifacts_dir, "autopay-retries-exhausted-desktop")


def _sign_in_client(page: Any, account: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Account number").fill(account)
    page.get_by_label("Password").fill("demo-client-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Information")


def _text_to(page: Any, account: str) -> Any:
    """The AutoPay failure texted to the test client `account` (phone 512-555-<last 4>)."""
    return page.locator(f'.sms[data-to="+1512555{account[-4:]}"][data-kind="autopay_failed"]')


def _replace_card_in_payment_methods(page: Any) -> None:
    """Add the good Visa under Payment Methods, then remove the 9995 card, moving its AutoPay
    to the new one."""
    page.get_by_role("link", name="Payment Methods").click()
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator(".card-list")).to_contain_text("Visa ending 4242")
    old = page.locator(".card-item", has_text="ending 9995")
    old.get_by_label("Move AutoPay to").select_option(index=1)
    old.get_by_role("button", name="Remove").click()
    expect(page.locator(".card-list")).not_to_contain_text("ending 9995")
    new = page.locator(".card-item", has_text="ending 4242")
    expect(new).to_contain_text("Pays AutoPay for the")


def test_a_soft_decline_is_retried_on_its_day_with_the_card_the_client_put_on_autopay(
    phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = phone
    soft, _, soft_vehicle = _enroll(live_server, password="demo-client-pass")  # noqa: S106
    hard, _, hard_vehicle = _enroll(live_server, card="pm_sandbox_visa_9987")
    first = _run(live_server)
    assert (first.charged, first.failed) == (0, 2)

    page.goto("/dev/sms")
    expect(_text_to(page, soft)).to_contain_text("did not go through. We'll try again on Nov 26.")
    expect(_text_to(page, soft)).to_contain_text("Reply PAY for a link now.")
    expect(_text_to(page, hard)).to_contain_text("We won't try again. Reply PAY for a link now.")
    page.screenshot(path=str(SHOTS / "autopay_retry_sms.png"), full_page=True)

    _sign_in_client(page, soft)
    page.goto("/account/payment/autopay")
    state = page.locator(f"#autopay-{soft_vehicle} .autopay-state")
    expect(state).to_contain_text("AutoPay charge failed")
    expect(state).to_contain_text("We'll try again on Nov 26, 2026")
    assert no_horizontal_scroll(page)
    assert violations(page) == [], "AutoPay tab after a failed charge"
    page.screenshot(path=str(SHOTS / "autopay_retry_tab_failed.png"), full_page=True)

    _replace_card_in_payment_methods(page)
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "autopay_retry_card_replaced.png"), full_page=True)

    live_server.clock.advance(days=1)  # the first retry day
    retry = _run(live_server)
    assert (retry.charged, retry.failed) == (1, 0)  # the lost card is not tried again
    again = _run(live_server)  # a second run that day charges nothing
    assert (again.charged, again.failed) == (0, 0)
    assert _attempts(live_server, soft_vehicle) == ["failed", "succeeded"]
    assert _attempts(live_server, hard_vehicle) == ["failed"]
    assert live_server.app.state.gateway.successful_charge_count == 1

    _sign_in_client(page, soft)  # a day later
    page.goto("/account/payment/autopay")
    expect(state).to_contain_text("AutoPay on")
    expect(state).to_contain_text("Visa ending 4242")
    expect(state).to_contain_text("next charge")
    assert no_horizontal_scroll(page)
    assert page.js_errors == []
    page.screenshot(path=str(SHOTS / "autopay_retry_charged.png"), full_page=True)
    shot(page, artifacts_dir, "autopay-retry-charged-360")
