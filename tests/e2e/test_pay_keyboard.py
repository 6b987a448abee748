"""The Secure Payment page by keyboard alone (Tab, Shift+Tab, Space, Enter and typing), and with
JavaScript turned off."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_pay_link import DECLINED, send_link
from tests.e2e.test_spanish import speaks_spanish

# What a keyboard user meets, in James's language (his stored language opens the page in it).
WORDS = {
    "en": {"skip": "Skip to main content", "switch": "Español", "pay": "Make Payment",
           "declined": DECLINED, "thanks": "Thank you, your payment was received"},
    "es": {"skip": "Saltar al contenido principal", "switch": "English", "pay": "Realizar pago",
           "declined": "Su tarjeta fue rechazada", "thanks": "Gracias, recibimos su pago"},
}  # fmt: skip

FOCUSED = "(e => e.id || e.textContent.trim())(document.activeElement)"


def press(page: Any, key: str) -> str:
    """Press a key; what has focus after it (its id, or its text)."""
    page.keyboard.press(key)
    return str(page.evaluate(FOCUSED))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_james_pays_by_keyboard_alone_after_a_decline(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    if lang == "es":
        speaks_spanish(live_server, "100002")
    link = send_link(desktop)
    page = phone
    page.goto(link)  # tapping the link in the text
    page.bring_to_front()  # the phone's browser is in front (no click ever activates it)

    # The order a keyboard meets the page in: skip link, language, the card form, the button,
    # then the support number.
    order = [press(page, "Tab") for _ in range(9)]
    assert order == [
        words["skip"],
        words["switch"],
        "cc-number",
        "cc-exp",
        "cc-cvc",
        "cc-zip",
        "terms",
        words["pay"],
        "(800) 555-0199",
    ]
    # Back to the top, then the skip link straight to the form.
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
    assert press(page, "Enter") == "main"
    assert press(page, "Tab") == "cc-number"
    page.keyboard.type("4000 0000 0000 0002")
    press(page, "Tab")
    page.keyboard.type("1230")
    press(page, "Tab")
    page.keyboard.type("123")
    press(page, "Tab")
    page.keyboard.type("78701")
    assert press(page, "Tab") == "terms"
    assert press(page, "Tab") == words["pay"]
    assert press(page, "Shift+Tab") == "terms"
    page.keyboard.press("Space")
    expect(page.locator("#terms")).to_be_checked()
    assert press(page, "Tab") == words["pay"]
    page.keyboard.press("Enter")

    # Declined: the summary has focus; its link takes the keyboard to the card number.
    expect(page.locator("#pay-errors")).to_be_focused()
    expect(page.locator("#pay-errors")).to_contain_text(words["declined"])
    shot(page, artifacts_dir, f"pay-kb-01-declined-{lang}-360")
    assert words["declined"] in press(page, "Tab")
    assert press(page, "Enter") == "cc-number"
    page.keyboard.type("4242 4242 4242 4242")
    press(page, "Tab")
    expect(page.locator("#cc-exp")).to_have_value("12/30")  # kept
    press(page, "Tab")
    page.keyboard.type("123")
    press(page, "Tab")
    expect(page.locator("#cc-zip")).to_have_value("78701")  # kept
    assert press(page, "Tab") == "terms"
    expect(page.locator("#terms")).to_be_checked()  # kept
    assert press(page, "Tab") == words["pay"]
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name=words["thanks"])).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    shot(page, artifacts_dir, f"pay-kb-02-receipt-{lang}-360")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert page.js_errors == []


def test_without_javascript_the_page_says_so_first_and_shows_no_card_fields(
    browser: Any, desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    link = send_link(desktop)
    context = browser.new_context(
        viewport=PHONE, base_url=live_server.url, java_script_enabled=False
    )
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    page = context.new_page()
    try:
        for lang, heading in (
            ("en", "Turn on JavaScript to pay by card"),
            ("es", "Active JavaScript para pagar con tarjeta"),
        ):
            page.set_viewport_size(PHONE)
            page.goto(f"{link}?lang={lang}")
            notice = page.locator("#no-js")
            expect(notice.get_by_role("heading")).to_have_text(heading)
            expect(notice.locator('a[href="tel:+18005550199"]')).to_be_visible()
            summary = page.locator("#payment-summary")
            expect(summary).to_be_visible()
            assert notice.bounding_box()["y"] < summary.bounding_box()["y"]  # first
            first = page.locator("main :is(h1, h2, p, input, button, a):visible").first
            expect(first).to_have_text(heading)
            assert page.locator("main input:visible").count() == 0  # no dead card fields
            expect(page.locator("[data-pay-submit]")).to_be_hidden()
            expect(page.locator("#time-left")).to_be_hidden()  # a countdown that cannot count
            assert no_horizontal_scroll(page)
            shot(page, artifacts_dir, f"pay-nojs-{lang}-360")
            page.set_viewport_size({"width": 320, "height": 740})
            assert no_horizontal_scroll(page)
            shot(page, artifacts_dir, f"pay-nojs-{lang}-320")
    finally:
        context.close()
