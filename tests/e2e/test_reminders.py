"""Reminders in the browser: the reminder job runs on the live server's frozen clock, the client's
side is played in /dev/sms (type PAY in the reply box), and the texted link pays at 360 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from app.services import reminders
from app.store.db import make_engine, make_sessionmaker
from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_pay_link import fill_card
from tests.e2e.test_pay_link_failures import off_thread
from tests.e2e.test_send_link import open_client, sign_in_agent
from tests.integration.test_reminders import JAMES, make_due

TO_JAMES = f".sms[data-to='{JAMES}']"


def run_reminders(server: LiveServer) -> reminders.RunReport:
    """`monitorpay remind` on the live server's database and frozen clock, after making more of
    the demo data due (Maria's Civic, James's F-150, a Spanish speaker's, one on AutoPay)."""

    async def run() -> reminders.RunReport:
        engine = make_engine(server.settings.async_database_url)
        try:
            maker = make_sessionmaker(engine)
            async with maker() as s:
                await make_due(s, server.clock.now())
            return await reminders.run(maker, server.clock, server.settings.company_name)
        finally:
            await engine.dispose()

    return off_thread(run)


def test_james_replies_pay_to_his_reminder_and_pays_the_link_on_his_phone(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    report = run_reminders(live_server)
    assert report.texted >= 3 and report.skipped["on AutoPay"] == 1

    dev = desktop
    reminder = dev.locator(f"{TO_JAMES}[data-kind=reminder]")
    for _ in range(200):  # the page is a snapshot: load it until the SMS worker has sent the text
        dev.goto("/dev/sms")
        if reminder.locator(".status").inner_text() == "delivered":
            break
    expect(reminder.locator(".status")).to_have_text("delivered")
    expect(reminder.locator(".sms-body")).to_have_text(
        "Demo Interlock: James C., monitoring for your 2015 Ford F-150 is paid through Nov 28."
        " Amount due: $182.01. Reply PAY for a secure payment link. Help: (800) 555-0199."
        " Reply STOP to opt out"
    )
    shot(dev, artifacts_dir, "reminders-01-dev-sms-1280")

    reminder.get_by_label("Reply from (512) 555-0102").fill("Pay!")
    reminder.get_by_role("button", name="Reply").click()
    expect(dev.locator("#reply-outcome")).to_contain_text("a new Secure Payment Link was texted")
    newest = dev.locator(".sms").first
    expect(newest).to_have_attribute("data-kind", "link")
    expect(newest).to_have_attribute("data-to", JAMES)
    expect(newest.locator(".sms-body")).to_contain_text("$182.01")
    for _ in range(200):  # sent at once, unless the SMS worker took it first: then reload
        if newest.locator(".sms-body a").count():
            break
        dev.goto("/dev/sms")
    shot(dev, artifacts_dir, "reminders-02-dev-sms-replied-1280")
    link = newest.locator(".sms-body a").get_attribute("href")
    assert link and "/pay/" in link

    page = phone
    page.goto(link)
    expect(page.locator("#total-due")).to_have_text("$182.01")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "reminders-03-pay-from-reply-360")
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("I authorize a one-time charge").check()
    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", name="Thank you, your payment was received")).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "reminders-04-receipt-360")

    # The staff see who asked for the link.
    sign_in_agent(dev)
    open_client(dev, "carter", "Carter, James")
    dev.get_by_role("link", name="Payment Links", exact=True).click()
    row = dev.locator("tbody tr").first
    expect(row.locator(".status")).to_have_text("Paid")
    expect(row).to_contain_text("Requested by text")
    shot(dev, artifacts_dir, "reminders-05-staff-links-1280")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert page.js_errors == [] and dev.js_errors == []


def test_pay_from_an_opted_out_number_in_the_dev_inbox_sends_nothing(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """Maria replies STOP to her reminder, then PAY: no link and no answer (carriers forbid
    texting a number that opted out), and the inbox says why."""
    run_reminders(live_server)
    dev = desktop
    dev.goto("/dev/sms")
    count = dev.locator(".sms").count()
    maria = dev.locator(".sms[data-to='+15125550101']").first
    maria.get_by_label("Reply from (512) 555-0101").fill("STOP")
    maria.get_by_role("button", name="Reply").click()
    expect(dev.locator("#reply-outcome")).to_have_text("STOP: the number is opted out of texts.")
    maria = dev.locator(".sms[data-to='+15125550101']").first
    maria.get_by_label("Reply from (512) 555-0101").fill("PAY")
    maria.get_by_role("button", name="Reply").click()
    expect(dev.locator("#reply-outcome")).to_contain_text("nothing was sent")
    expect(dev.locator(".sms")).to_have_count(count)
    shot(dev, artifacts_dir, "reminders-06-dev-sms-opted-out-1280")
    assert dev.js_errors == []
