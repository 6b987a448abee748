"""Paying the past due balance only (issue 14 item 3), in a browser: James in My Account at
phone width, then a staff past-due-only link (1280 px) paid on a phone (360 px)."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_my_account import settled
from tests.e2e.test_pay_link import fill_card
from tests.e2e.test_send_link import open_client, sign_in_agent


def test_james_pays_only_his_past_due_balance_in_my_account(
    phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = phone
    page.goto("/account/login")
    page.get_by_label("Account number").fill("100002")
    page.get_by_label("Password").fill("demo-client-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#past-due")).to_contain_text("$90.00")

    page.get_by_role("link", name="Payment", exact=True).click()
    page.wait_for_load_state()
    page.get_by_role("radio", name="2015 Ford F-150", exact=False).check()
    settled(page)
    expect(page.locator("#total-due")).not_to_have_text("$90.00")  # 30 days + past due first
    page.get_by_label("Past due balance only ($90.00)").check()
    expect(page.locator("#total-due")).to_have_text("$90.00")  # updated in place
    expect(page.locator("#payment-summary")).to_contain_text("still paid through")
    expect(page.locator("#payment-summary .summary-line--monitoring")).to_have_count(0)
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "past-due-01-my-account-360")

    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Information")
    expect(page.locator("#paid-notice")).to_contain_text("$90.00")
    expect(page.locator("#past-due")).to_have_count(0)
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "past-due-02-paid-360")
    assert live_server.app.state.gateway.successful_charge_count == 1

    # Nothing past due any more: Make a Payment no longer offers it.
    page.get_by_role("link", name="Payment", exact=True).click()
    expect(page.get_by_label("30 days")).to_be_visible()
    expect(page.locator("#days-past-due")).to_have_count(0)


def test_staff_send_a_past_due_only_link_and_it_pays_once_on_a_phone(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    staff = desktop
    sign_in_agent(staff)
    open_client(staff, "carter", "Carter, James")
    staff.get_by_role("link", name="Send Secure Payment Link").click()
    staff.get_by_label("Past due only ($90.00)").check()
    staff.get_by_role("button", name="Get Summary").click()
    summary = staff.locator("#invoice-summary")
    expect(summary.locator(".summary-line--past_due dd")).to_have_text("$90.00")
    expect(summary.locator(".summary-line--monitoring")).to_have_count(0)
    expect(staff.locator("#total-due")).to_have_text("$90.00")
    shot(staff, artifacts_dir, "past-due-03-staff-summary-1280")
    staff.get_by_role("button", name="Send Message").click()
    expect(staff.locator("#link-status .status")).to_have_text("Delivered")
    client_url = staff.url
    staff.goto("/dev/sms")
    text = staff.locator(".sms").first
    expect(text).to_contain_text("$90.00")
    link = text.locator("a").first.get_attribute("href")
    assert link and "/pay/" in link

    page = phone
    page.goto(link)
    expect(page.locator("#total-due")).to_have_text("$90.00")
    expect(page.locator(".payer")).to_contain_text("past due balance only")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "past-due-04-pay-page-360")
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("I authorize a one-time charge of $90.00").check()
    page.get_by_role("button", name="Make Payment").click()
    expect(page.locator("#receipt-amount")).to_have_text("$90.00")
    expect(page.locator("#receipt-for")).to_contain_text("past due balance")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "past-due-05-receipt-360")
    page.goto(link)  # reopened: already paid, nothing charged again
    expect(page.locator("#total-due")).to_have_count(0)
    assert live_server.app.state.gateway.successful_charge_count == 1

    # Account History: the $90.00 payment settled the fee.
    staff.goto(client_url)
    staff.get_by_role("link", name="Account History").click()
    ledger = staff.locator("#ledger")
    expect(ledger).to_contain_text("Missed appointment fee")
    expect(ledger).to_contain_text("$90.00")
    expect(staff.locator(".past-due-alert")).to_have_count(0)
    shot(staff, artifacts_dir, "past-due-06-history-1280")
