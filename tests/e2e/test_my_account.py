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
    page.get_by_role("radio", name="2018 Honda Civic", exact=False).check()
    settled(page)
    page.get_by_label("14 days").check()
    expect(page.locator("#total-due")).to_have_text("$48.71")  # updated in place
    expect(
        page.get_by_role("group", name="Pay with").get_by_label("Visa ending 4242", exact=False)
    ).to_be_checked()
    expect(page.locator("#new-card")).to_be_hidden()
    expect(page.locator("#autopay-promo")).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-01-make-a-payment-360")

    # Choosing a new card shows the card entry; going back to the saved card hides it.
    page.get_by_label("Use a new card").check()
    expect(page.get_by_label("Card number")).to_be_visible()
    pay = page.get_by_role("button", name="Make Payment")
    expect(pay).to_have_attribute("aria-disabled", "true")  # inactive until the card is given
    pay.click(force=True)  # pressed anyway: what is missing is said next to it
    expect(page.get_by_label("Card number")).to_be_focused()
    expect(page.locator("#cc-number-error")).to_contain_text("Enter the card number")
    assert live_server.app.state.gateway.successful_charge_count == 0
    page.get_by_role("group", name="Pay with").get_by_label("Visa ending 4242", exact=False).check()
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


def focused(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement;
                 return {id: e.id || "", tag: e.tagName.toLowerCase(),
                         href: e.getAttribute("href") || "", name: e.getAttribute("name") || "",
                         value: e.value || "", submit: e.hasAttribute("data-pay-submit")}; }"""
        )
    )


def tab_to(page: Any, matches: Any) -> dict[str, str]:
    for _ in range(60):
        page.keyboard.press("Tab")
        now = focused(page)
        if matches(now):
            return now
    raise AssertionError(f"never reached the element by Tab; last focused: {now}")


def test_make_a_payment_in_spanish_at_320_px_by_keyboard_alone(
    phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """James Carter, reading Spanish on the narrowest phone, pays with no pointer at all."""
    page = phone
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/account/login?lang=es")
    tab_to(page, lambda f: f["id"] == "account_number")
    page.keyboard.type("100002")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type("demo-client-pass")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Información de la cuenta")
    expect(page.locator("html")).to_have_attribute("lang", "es-US")

    tab_to(page, lambda f: f["href"] == "/account/payment")
    page.keyboard.press("Enter")
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Hacer un pago")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-kbd-01-make-a-payment-es-320")

    # The vehicle by arrow key within its cards: the Payment Summary is redrawn, focus stays on
    # the vehicle and the new total is said.
    tab_to(page, lambda f: f["name"] == "vehicle_id")
    page.keyboard.press("ArrowDown")
    settled(page)
    expect(page.locator("#payment-summary")).to_contain_text("Camry")
    assert focused(page)["name"] == "vehicle_id"
    total = page.locator("#total-due").inner_text()
    expect(page.locator("#live-announcer")).to_contain_text(total)
    expect(page.locator("#covers")).to_contain_text("Si paga ahora")

    # The days by arrow key within the radio group.
    tab_to(page, lambda f: f["name"] == "days")
    days = focused(page)["value"]
    page.keyboard.press("ArrowRight" if days == "14" else "ArrowLeft")
    settled(page)
    assert focused(page)["name"] == "days" and focused(page)["value"] != days
    expect(page.locator("#total-due")).not_to_have_text(total)
    total = page.locator("#total-due").inner_text()

    # The Mastercard on file is already chosen; on to Make Payment.
    expect(page.locator("#pay-form input[name=card]:checked")).not_to_have_value("new")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-kbd-02-summary-es-320")
    tab_to(page, lambda f: bool(f["submit"]))
    page.keyboard.press("Enter")
    expect(page.locator("#paid-notice h2")).to_have_text("Gracias, recibimos su pago")
    expect(page.locator("html")).to_have_attribute("lang", "es-US")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "account-kbd-03-paid-es-320")
    gateway = live_server.app.state.gateway
    assert gateway.successful_charge_count == 1
    assert f"${gateway.charged_cents / 100:,.2f}" == total  # what the summary said
    assert page.js_errors == []
