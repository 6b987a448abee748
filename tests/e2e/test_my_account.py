"""The client at phone width: Make a Payment with the card on file, then AutoPay."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot


def settled(page: Any) -> None:
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)


def test_maria_pays_for_her_civic_and_turns_on_autopay(
    phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = phone
    page.goto("/account/login")
    page.get_by_label("Account number").fill("100001")
    page.get_by_label("Password").fill("demo-client-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Information")

    page.get_by_role("link", name="Payment", exact=True).click()
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Make a Payment")
    page.wait_for_load_state()
    vehicle = page.get_by_label("Vehicle")
    vehicle.select_option(label=vehicle.locator("option", has_text="Civic").inner_text())
    settled(page)
    page.get_by_label("14 days").check()
    expect(page.locator("#total-due")).to_have_text("$48.71")  # updated in place
    expect(page.get_by_label("Visa ending 4242", exact=False)).to_be_checked()
    expect(page.locator("#new-card")).to_be_hidden()
    expect(page.locator("#autopay-promo")).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-01-make-a-payment-360")

    # Choosing a new card shows the card entry; going back to the saved card hides it.
    page.get_by_label("Use a new card").check()
    expect(page.get_by_label("Card number")).to_be_visible()
    expect(page.get_by_role("button", name="Make Payment")).to_be_disabled()
    page.get_by_label("Visa ending 4242", exact=False).check()
    expect(page.locator("#new-card")).to_be_hidden()
    expect(page.get_by_role("button", name="Make Payment")).to_be_enabled()

    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Information")
    expect(page.locator("#paid-notice")).to_contain_text("$48.71")
    expect(page.locator(".invoice-item--new")).to_contain_text("$48.71")
    expect(page.locator("#autopay-promo")).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-02-paid-360")

    page.locator("#autopay-promo").get_by_role("button", name="Turn on AutoPay").click()
    expect(page.locator("#account-notice")).to_contain_text("AutoPay is on")
    expect(page.locator(".autopay-state").first).to_contain_text("AutoPay on")
    expect(page.locator(".autopay-state").first).to_contain_text("next charge")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-03-autopay-360")

    page.get_by_role("link", name="Payment Methods").click()
    expect(page.locator(".card-list")).to_contain_text("Pays AutoPay for the 2018 Honda Civic")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-04-payment-methods-360")
    assert live_server.app.state.gateway.successful_charge_count == 1
    page.set_viewport_size({"width": 320, "height": 640})  # the narrowest phones
    for url in (
        "/account",
        "/account/payment",
        "/account/payment/methods",
        "/account/payment/autopay",
    ):
        page.goto(url)
        assert no_horizontal_scroll(page), url
    assert page.js_errors == []
