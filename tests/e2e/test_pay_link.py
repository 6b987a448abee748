"""The client's side at phone width: open the texted link, a decline, then a payment."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_send_link import open_client, sign_in_agent

DECLINED = "Your card was declined"


def violations(page: Any) -> list[str]:
    """axe-core's findings (test_accessibility imports this module, so import it late)."""
    from tests.e2e.test_accessibility import violations as axe

    return axe(page)


def fill_card(page: Any, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("1230")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("ZIP code").fill("78701")


def send_link(staff: Any) -> str:
    """Staff send James Carter a link for the F-150, 30 days ($182.01); the texted address."""
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
    staff.goto(client_url)
    return str(link)


def test_james_pays_the_link_on_a_phone_after_a_decline(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    staff = desktop
    link = send_link(staff)
    client_url = staff.url

    page = phone
    page.goto(link)
    expect(page).to_have_title("Pay $182.01 to Demo Interlock — Demo Interlock Secure Payment")
    expect(page.locator(".pay-company")).to_have_text("Demo Interlock")
    expect(page.locator("#total-due")).to_have_text("$182.01")
    expect(page.locator(".payer")).to_contain_text("James C.")
    expect(page.locator("#no-js")).to_have_count(0)  # <noscript>: JavaScript runs here
    expect(page.locator("[data-time-left]")).to_be_visible()  # next to the button too
    pay = page.get_by_role("button", name="Make Payment")
    expect(pay).to_have_attribute("aria-disabled", "true")  # inactive until card and terms
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-01-page-360")
    for width in (320, 414):  # the small and large ends of phones
        page.set_viewport_size({"width": width, "height": 740})
        assert no_horizontal_scroll(page), width
    shot(page, artifacts_dir, "pay-01b-page-414")
    page.set_viewport_size({"width": 320, "height": 740})
    shot(page, artifacts_dir, "pay-01c-page-320")
    page.set_viewport_size({"width": 360, "height": 740})

    # Make Payment with nothing typed says what is missing, next to each field (force: an
    # inactive button can still be pressed, to learn why; Playwright would wait for it).
    pay.click(force=True)
    expect(page.get_by_label("Card number")).to_be_focused()
    expect(page.locator("#cc-number-error")).to_contain_text("Enter the card number")
    expect(page.locator("#cc-zip-error")).to_contain_text("ZIP code")
    expect(page.locator("#terms-check-error")).to_contain_text("Agree to the payment terms")
    expect(page.get_by_label("I authorize a one-time charge")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-01d-missing-360")
    assert violations(page) == [], "missing card details"

    fill_card(page, "4000 0000 0000 0002")
    pay.click(force=True)  # the terms are still not accepted: said next to the box, focus on it
    expect(page.get_by_label("I authorize a one-time charge")).to_be_focused()
    expect(page.locator("#cc-number-error")).to_be_hidden()
    page.get_by_label("I authorize a one-time charge").check()
    pay.click()

    # The decline: said once, in the error summary, which has focus; expiry, ZIP and the terms
    # tick kept, the card number and security code cleared.
    summary = page.locator("#pay-errors")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(DECLINED)
    expect(summary).to_contain_text("4 tries left")
    assert page.locator("main").inner_text().count(DECLINED) == 1
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Security code")).to_have_value("")
    expect(page.get_by_label("Expiry (MM/YY)")).to_have_value("12/30")
    expect(page.get_by_label("ZIP code")).to_have_value("78701")
    expect(page.get_by_label("I authorize a one-time charge")).to_be_checked()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-02-declined-360")
    assert violations(page) == [], "declined"
    summary.get_by_role("link").click()  # the summary's link leads to the card number
    expect(page.get_by_label("Card number")).to_be_focused()

    # A number that is not a test card is refused by the tokenizer, next to the field.
    fill_card(page, "4111 1111 1111 1111")
    page.get_by_role("button", name="Make Payment").click()
    expect(page.locator("#cc-number-error")).to_contain_text("Use a test card")
    expect(page.get_by_label("Card number")).to_be_focused()

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", name="Thank you, your payment was received")).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    expect(page.locator("#receipt-company")).to_have_text("Demo Interlock")
    expect(page.locator("#receipt-card")).to_have_text("Visa ending 4242")
    expect(page.locator("#receipt-date")).to_contain_text("CST")
    expect(page.locator(".autopay-invite")).to_contain_text("AutoPay")
    assert page.evaluate("sessionStorage.length") == 0  # what was kept is forgotten
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


def test_at_zero_the_form_gives_way_to_the_expired_message(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    page = phone
    page.clock.install()  # the browser's clock: the countdown runs on it
    page.goto(link)
    expect(page.locator("#time-left")).to_have_text("10:00")
    page.get_by_label("ZIP code").fill("78701")  # the payer is typing when time runs out
    page.clock.run_for("09:58")
    expect(page.locator("[data-time-left]")).to_have_text("0:02")
    page.clock.run_for(3000)
    status = page.get_by_role("status").filter(has_text="expired")
    expect(status).to_contain_text("This payment link has expired")
    expect(status.locator('a[href="tel:+18005550199"]')).to_be_visible()
    expect(page.locator("form[data-pay-form]")).to_be_hidden()
    expect(page.get_by_role("button", name="Make Payment")).to_have_count(0)
    expect(page.locator("#time-up")).to_be_focused()  # the field that had focus is gone
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "pay-06-time-up-360")
    assert violations(page) == [], "time up"

    live_server.clock.advance(seconds=600)  # the server agrees: the link is gone
    for lang in ("en", "es"):
        page.goto(f"{link}?lang={lang}")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            {"en": "This payment link has expired", "es": "Este enlace de pago venció"}[lang]
        )
        expect(page.locator("main a[href='tel:+18005550199']")).to_be_visible()
        page.set_viewport_size({"width": 320, "height": 740})
        assert no_horizontal_scroll(page)
        shot(page, artifacts_dir, f"pay-07-expired-{lang}-320")
        assert violations(page) == [], f"expired ({lang})"
    assert page.js_errors == []
