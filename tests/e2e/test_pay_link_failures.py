"""The payment link at phone width when the processor's answer is lost or the bank asks for
3-D Secure (the sandbox's failure cards): what the payer sees, and that one link is one charge."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import expect
from sqlalchemy import select
from sqlmodel import col

from app.domain import links
from app.services import reconcile
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Payment, PaymentLink
from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_pay_link import fill_card
from tests.e2e.test_send_link import open_client, sign_in_agent

LOST_ANSWER = "4000 0000 0000 0408"
CHALLENGE = "4000 0027 6000 3184"
GOOD = "4242 4242 4242 4242"
T = TypeVar("T")


# -- helpers ----------------------------------------------------------------------------------


def off_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on its own event loop in a worker thread: Playwright's sync API owns this
    thread's loop, and the live server owns another in its thread."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result(timeout=60)


def link_payments(server: LiveServer, link: str) -> tuple[PaymentLink, list[Payment]]:
    """The link and its payments, read through a separate engine on the live server's DB."""
    token = link.rstrip("/").rsplit("/", 1)[-1]

    async def read() -> tuple[PaymentLink, list[Payment]]:
        engine = make_engine(server.settings.async_database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                row = (
                    await s.execute(
                        select(PaymentLink).where(
                            col(PaymentLink.token_hash) == links.hash_token(token)
                        )
                    )
                ).scalar_one()
                pays = (
                    await s.execute(
                        select(Payment)
                        .where(col(Payment.link_id) == row.id)
                        .order_by(col(Payment.id))
                    )
                ).scalars()
                return row, list(pays)
        finally:
            await engine.dispose()

    return off_thread(read)


def run_reconcile(server: LiveServer) -> reconcile.Report:
    """`monitorpay reconcile`, on the live server's frozen clock, with no grace period."""

    async def run() -> reconcile.Report:
        engine = make_engine(server.settings.async_database_url)
        try:
            return await reconcile.run(
                make_sessionmaker(engine),
                server.app.state.gateway,
                server.clock,
                server.settings.company_name,
                grace=timedelta(0),
            )
        finally:
            await engine.dispose()

    return off_thread(run)


def charges(server: LiveServer) -> int:
    return int(server.app.state.gateway.successful_charge_count)


def send_link(staff: Any) -> str:
    """Staff send James Carter a link for his F-150, 30 days ($182.01); the texted URL."""
    sign_in_agent(staff)
    open_client(staff, "carter", "Carter, James")
    staff.get_by_role("link", name="Send Secure Payment Link").click()
    vehicle = staff.get_by_label("Vehicle", exact=True)
    vehicle.select_option(label=vehicle.locator("option", has_text="F-150").inner_text())
    staff.get_by_label("30 days").check()
    staff.get_by_role("button", name="Get Summary").click()
    expect(staff.locator("#total-due")).to_have_text("$182.01")
    staff.get_by_role("button", name="Send Message").click()
    expect(staff.locator("#link-status .status")).to_have_text("Delivered")
    staff.goto("/dev/sms")
    link = staff.locator(".sms").first.locator("a").get_attribute("href")
    assert link and "/pay/" in link
    return str(link)


def pay_with(page: Any, number: str) -> None:
    expect(page.locator("#total-due")).to_have_text("$182.01")
    fill_card(page, number)
    page.get_by_label("I authorize a one-time charge").check()
    page.get_by_role("button", name="Make Payment").click()


def expect_receipt(page: Any, last4: str, timeout: float = 5_000) -> None:
    heading = page.get_by_role("heading", name="Thank you, your payment was received")
    expect(heading).to_be_visible(timeout=timeout)
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    expect(page.locator("#receipt-card")).to_have_text(f"Visa ending {last4}")
    assert no_horizontal_scroll(page)


def expect_challenge(page: Any) -> None:
    expect(page).to_have_url(re.compile(r"/sandbox/challenge/pi_sandbox_\w+\?return_to=/pay/"))
    expect(page.get_by_role("heading", name="Confirm this payment")).to_be_visible()
    expect(page.locator("#challenge")).to_contain_text("$182.01")
    expect(page.locator("#challenge")).to_contain_text("Visa ending 3184")
    expect(page.get_by_role("button", name="Complete")).to_be_visible()
    expect(page.get_by_role("button", name="Fail")).to_be_visible()
    assert no_horizontal_scroll(page)


def expect_one_succeeded_payment(server: LiveServer, link: str) -> list[Payment]:
    row, pays = link_payments(server, link)
    assert [p.status for p in pays].count("succeeded") == 1
    assert row.status == "paid" and row.claim_payment_id is None
    assert charges(server) == 1
    return pays


# -- 1. the processor charged, but its answer was lost --------------------------------------------


def test_lost_answer_says_confirming_then_shows_the_receipt_and_never_charges_twice(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    page = phone
    page.goto(link)
    # A second tab with the same form, left open: it will try to pay again later.
    other_tab = page.context.new_page()
    other_tab.goto(link)
    expect(other_tab.locator("#total-due")).to_have_text("$182.01")

    pay_with(page, LOST_ANSWER)
    main = page.locator("main")
    expect(
        page.get_by_role("heading", name="We're confirming your payment with your bank")
    ).to_be_visible()
    expect(main).to_contain_text("Don't pay again")
    expect(main).to_contain_text("this page updates by itself")
    assert "nothing was charged" not in page.content().lower()
    expect(page.locator("form[data-pay-form]")).to_have_count(0)  # no way to pay twice here
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-fail-01-confirming-360")

    # No reload from the test: the page's own refresh (5 s) brings the receipt.
    expect_receipt(page, "0408", timeout=12_000)
    shot(page, artifacts_dir, "pay-fail-02-confirmed-receipt-360")

    page.goto(link)  # reopening the paid link: no details
    expect(main).to_contain_text("already been paid")
    expect(main).not_to_contain_text("$")

    # The tab left open tries again: refused, nothing charged.
    pay_with(other_tab, GOOD)
    expect(other_tab.locator("main")).to_contain_text("already been paid")
    [paid] = expect_one_succeeded_payment(live_server, link)
    assert paid.card_last4 == "0408"
    assert page.js_errors == []


# -- 2. 3-D Secure, completed ----------------------------------------------------------------------


def test_bank_check_completed_shows_the_receipt(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    page = phone
    page.goto(link)
    pay_with(page, CHALLENGE)
    expect_challenge(page)
    shot(page, artifacts_dir, "pay-fail-03-bank-check-360")
    assert charges(live_server) == 0  # nothing charged until the bank's check is done

    page.get_by_role("button", name="Complete").click()
    expect_receipt(page, "3184")
    assert page.url.endswith("/receipt")
    shot(page, artifacts_dir, "pay-fail-04-bank-check-receipt-360")
    expect_one_succeeded_payment(live_server, link)
    page.goto(link)
    expect(page.locator("main")).to_contain_text("already been paid")
    assert page.js_errors == []


# -- 3. 3-D Secure, failed -------------------------------------------------------------------------


def test_bank_check_failed_says_so_next_to_the_card_and_another_card_pays(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    page = phone
    page.goto(link)
    pay_with(page, CHALLENGE)
    expect_challenge(page)
    page.get_by_role("button", name="Fail").click()

    # Back on the link, the form usable, the bank's answer next to the card.
    expect(page).to_have_url(link)
    expect(page.locator("#card-error")).to_contain_text("Your bank did not confirm the payment")
    expect(page.locator("#pay-errors")).to_contain_text("Your bank did not confirm the payment")
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_role("button", name="Make Payment")).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-fail-05-bank-check-failed-360")
    row, [failed] = link_payments(live_server, link)
    assert failed.status == "failed" and row.claim_payment_id is None
    assert charges(live_server) == 0

    pay_with(page, GOOD)
    expect_receipt(page, "4242")
    pays = expect_one_succeeded_payment(live_server, link)
    assert [p.status for p in pays] == ["failed", "succeeded"]
    assert page.js_errors == []


# -- 4. 3-D Secure, abandoned ----------------------------------------------------------------------


def test_bank_check_abandoned_is_cancelled_by_reconcile_and_the_link_pays_once(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    page = phone
    page.goto(link)
    pay_with(page, CHALLENGE)
    expect_challenge(page)

    # The payer leaves the bank's page and opens the text message's link again.
    page.goto(link)
    main = page.locator("main")
    expect(
        page.get_by_role("heading", name="Your bank needs you to confirm this payment")
    ).to_be_visible()
    expect(main).to_contain_text("do not pay again")
    back_to_bank = page.get_by_role("link", name="Continue to your bank's check")
    expect(back_to_bank).to_be_visible()
    expect(page.locator("form[data-pay-form]")).to_have_count(0)
    assert "nothing was charged" not in page.content().lower()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-fail-06-bank-check-waiting-360")
    back_to_bank.click()  # the way back works ...
    expect_challenge(page)
    page.goto(link)  # ... but they leave again

    # Within five minutes reconcile leaves it alone (they may still finish the check).
    live_server.clock.advance(minutes=2)
    assert run_reconcile(live_server).payments["waiting"] == 1
    row, [pending] = link_payments(live_server, link)
    assert pending.status == "pending" and row.claim_payment_id == pending.id

    # Past five minutes (the link has four left to live): cancelled, the link released.
    live_server.clock.advance(minutes=4)
    assert run_reconcile(live_server).payments["abandoned"] == 1
    row, [abandoned] = link_payments(live_server, link)
    assert abandoned.status == "failed" and abandoned.failure_code == "abandoned"
    assert row.claim_payment_id is None and row.status in links.LIVE_STATUSES

    page.goto(link)  # the normal form again
    expect(page.locator("form[data-pay-form]")).to_be_visible()
    expect(page.get_by_role("button", name="Make Payment")).to_be_visible()
    expect(page.locator("#time-left")).to_have_text("4:00")
    expect(page.locator("#card-error")).to_contain_text("Your bank's check was not finished")
    expect(page.locator("#pay-errors")).not_to_contain_text("tries left")  # not a decline
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-fail-07-after-abandoned-360")

    pay_with(page, GOOD)
    expect_receipt(page, "4242")
    shot(page, artifacts_dir, "pay-fail-08-receipt-360")
    pays = expect_one_succeeded_payment(live_server, link)
    assert [p.status for p in pays] == ["failed", "succeeded"]
    assert page.js_errors == []
