"""The client's side at phone width: open the texted link, a decline, then a payment."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_send_link import open_client, sign_in_agent


def fill_card(page: Any, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("1230")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("ZIP code").fill("78701")


def test_james_pays_the_link_on_a_phone_after_a_decline(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    staff = desktop
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
    client_url = staff.url

    staff.goto("/dev/sms")
    link = staff.locator(".sms").first.locator("a").get_attribute("href")
    assert link and "/pay/" in link

    page = phone
    page.goto(link)
    expect(page.locator("#total-due")).to_have_text("$182.01")
    expect(page.locator(".payer")).to_contain_text("James C.")
    pay = page.get_by_role("button", name="Make Payment")
    expect(pay).to_be_disabled()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-01-page-360")
    for width in (320, 414):  # the small and large ends of phones
        page.set_viewport_size({"width": width, "height": 740})
        assert no_horizontal_scroll(page), width
    shot(page, artifacts_dir, "pay-01b-page-414")
    page.set_viewport_size({"width": 360, "height": 740})

    fill_card(page, "4000 0000 0000 0002")
    expect(pay).to_be_disabled()  # the terms are not accepted yet
    page.get_by_label("I authorize a one-time charge").check()
    expect(pay).to_be_enabled()
    pay.click()
    expect(page.locator("#card-error")).to_contain_text("declined")
    expect(page.locator("#pay-errors")).to_contain_text("4 tries left")
    expect(page.get_by_label("Card number")).to_have_value("")  # nothing of the card is kept
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-02-declined-360")

    # A number that is not a test card is refused by the tokenizer, next to the field.
    fill_card(page, "4111 1111 1111 1111")
    page.get_by_label("I authorize a one-time charge").check()
    page.get_by_role("button", name="Make Payment").click()
    expect(page.locator("#cc-number-error")).to_contain_text("Use a test card")

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", name="Thank you, your payment was received")).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    expect(page.locator("#receipt-card")).to_have_text("Visa ending 4242")
    expect(page.locator(".autopay-invite")).to_contain_text("AutoPay")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-03-receipt-360")

    page.goto(link)  # reopening a paid link: no details
    expect(page.locator("main")).to_contain_text("already been paid")
    expect(page.locator("main")).not_to_contain_text("$")
    shot(page, artifacts_dir, "pay-04-already-paid-360")

    staff.goto(client_url)
    staff.get_by_role("link", name="Payment Links", exact=True).click()
    expect(staff.locator("tbody tr").first.locator(".status")).to_have_text("Paid")
    staff.get_by_role("link", name="Account History").click()
    paid = staff.locator("#ledger tr[data-status=succeeded]", has_text="$182.01")
    expect(paid).to_have_count(1)  # the ledger shows the payment once
    expect(paid).to_contain_text("Secure Payment Link")
    shot(staff, artifacts_dir, "pay-05-staff-ledger-1280")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert page.js_errors == [] and staff.js_errors == []
