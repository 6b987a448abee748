"""The release note's gate: "Once the client enters their credit card and agrees to the usage
terms the Make Payment button is active, and they can submit the payment." Until then the button
looks inactive (aria-disabled, never the disabled attribute: it stays in the Tab order and is
announced); pressed early it submits nothing, says what is missing next to that field and moves
focus there. By keyboard, in English and Spanish, at 360 px, with axe at 0 in every state."""

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import expect

from app.clock import FixedClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import NOW
from tests.e2e.conftest import PHONE, LiveServer, _free_port, no_horizontal_scroll, shot
from tests.e2e.test_accessibility import violations
from tests.e2e.test_my_account import focused, tab_to
from tests.e2e.test_pay_link import send_link
from tests.e2e.test_spanish import speaks_spanish
from tests.fakes.fake_stripe import FakeStripe

WORDS = {
    "en": {
        "number": "Enter the card number as it is on your card.",
        "terms": "Agree to the payment terms to continue.",
        "why": "Enter your card details and agree to the payment terms to make the payment.",
        "why_account": "Enter your card details to make the payment.",
        "thanks": "Thank you, your payment was received",
    },
    "es": {
        "number": "Ingrese el número de tarjeta tal como aparece en su tarjeta.",
        "terms": "Acepte los términos de pago para continuar.",
        "why": "Ingrese los datos de su tarjeta y acepte los términos de pago para realizar el pago.",
        "why_account": "Ingrese los datos de su tarjeta para realizar el pago.",
        "thanks": "Gracias, recibimos su pago",
    },
}
PAY = "[data-pay-submit]"


def is_pay_button(f: dict[str, str]) -> bool:
    return bool(f["submit"])


def expect_inactive(page: Any, why: str) -> None:
    """Looks and is announced inactive, says why, and is still a focusable button."""
    pay = page.locator(PAY)
    expect(pay).to_have_attribute("aria-disabled", "true")
    assert pay.get_attribute("disabled") is None
    expect(page.locator("#pay-gate-hint")).to_have_text(why)
    expect(pay).to_have_attribute("aria-describedby", "pay-gate-hint")


def expect_active(page: Any) -> None:
    pay = page.locator(PAY)
    expect(pay).to_have_attribute("aria-disabled", "false")
    expect(pay).to_be_enabled()
    expect(page.locator("#pay-gate-hint")).to_be_hidden()
    expect(pay).not_to_have_attribute("aria-describedby", "pay-gate-hint")


def type_card(page: Any, number: str) -> None:
    """Focus is on the card number: type it, the expiry, the security code and the ZIP code."""
    for text in (number, "1230", "123", "78701"):
        page.keyboard.type(text)
        page.keyboard.press("Tab")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_make_payment_opens_only_with_a_complete_card_and_the_terms_by_keyboard(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    if lang == "es":
        speaks_spanish(live_server, "100002")
    link = send_link(desktop)
    page = phone
    page.goto(link)
    page.bring_to_front()
    expect(page.locator("html")).to_have_attribute("lang", f"{lang}-US")

    # Fresh: inactive and saying why; axe finds nothing.
    expect_inactive(page, words["why"])
    inactive = page.evaluate(f"getComputedStyle(document.querySelector('{PAY}')).borderStyle")
    assert inactive == "dashed"  # looks inactive, not only announced so
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, f"gate-01-inactive-{lang}-360")
    assert violations(page) == [], "inactive"

    # Tab to the button and press Enter with nothing given: nothing is sent; each missing field
    # says so, and focus is on the first, the card number.
    tab_to(page, is_pay_button)
    page.keyboard.press("Enter")
    expect(page.locator("#cc-number")).to_be_focused()
    expect(page.locator("#cc-number-error")).to_have_text(words["number"])
    expect(page.locator("#cc-number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#terms-check-error")).to_have_text(words["terms"])
    expect(page.locator("#terms")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#terms")).to_have_attribute("aria-describedby", "terms-check-error")
    assert page.url == link  # still the form: nothing was posted
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, f"gate-02-early-press-{lang}-360")
    assert violations(page) == [], "early press"

    # The card, typed; each message goes as its field is right. Still inactive: no terms.
    type_card(page, "4242 4242 4242 4242")
    expect(page.locator("#cc-number-error")).to_be_hidden()
    expect(page.locator("#cc-number")).not_to_have_attribute("aria-invalid", "true")
    assert focused(page)["id"] == "terms"
    expect_inactive(page, words["why"])

    # Space on the button early: the terms are named and get focus.
    page.keyboard.press("Tab")
    assert is_pay_button(focused(page))
    page.keyboard.press("Space")
    expect(page.locator("#terms")).to_be_focused()
    expect(page.locator("#terms-check-error")).to_have_text(words["terms"])

    # Ticking the box opens the gate at once; unticking closes it; ticking again opens it.
    page.keyboard.press("Space")
    expect(page.locator("#terms-check-error")).to_be_hidden()
    expect_active(page)
    page.keyboard.press("Space")
    expect_inactive(page, words["why"])
    page.keyboard.press("Space")
    expect_active(page)
    shot(page, artifacts_dir, f"gate-03-active-{lang}-360")
    assert violations(page) == [], "active"
    assert live_server.app.state.gateway.successful_charge_count == 0

    page.keyboard.press("Tab")
    assert is_pay_button(focused(page))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=words["thanks"])).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert page.js_errors == []


def test_an_incomplete_card_keeps_it_inactive_and_enter_in_a_field_sends_nothing(
    desktop: Any, phone: Any, live_server: LiveServer
) -> None:
    """A number that fails the Luhn check, or one too short, is not a card; nor is an expiry
    month 13. Enter in a field (the browser's implicit submission) is an early press too."""
    page = phone
    page.goto(send_link(desktop))
    page.locator("#terms").check()
    not_cards = [
        ("4242 4242 4242 4241", "1230"),
        ("4242 4242", "1230"),
        ("4242424242424242", "1330"),
    ]
    for number, exp in not_cards:
        page.locator("#cc-number").fill(number)
        page.locator("#cc-exp").fill(exp)
        page.locator("#cc-cvc").fill("123")
        page.locator("#cc-zip").fill("78701")
        expect(page.locator(PAY)).to_have_attribute("aria-disabled", "true")
    page.locator("#cc-zip").press("Enter")
    expect(page.locator("#cc-exp")).to_be_focused()
    expect(page.locator("#cc-exp-error")).to_be_visible()
    expect(page.locator("#cc-number-error")).to_be_hidden()
    page.locator("#cc-exp").fill("1230")
    expect(page.locator(PAY)).to_have_attribute("aria-disabled", "false")
    expect(page.locator("#cc-exp-error")).to_be_hidden()
    page.locator("#cc-cvc").fill("12")  # undone: inactive again
    expect(page.locator(PAY)).to_have_attribute("aria-disabled", "true")
    assert live_server.app.state.gateway.successful_charge_count == 0
    assert page.js_errors == []


ACCOUNT = {"en": ("100001", "Account Information"), "es": ("100002", "Información de la cuenta")}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_my_account_new_card_opens_make_payment_only_when_complete_by_keyboard(
    phone: Any, live_server: LiveServer, artifacts_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    account, home = ACCOUNT[lang]
    page = phone
    page.goto(f"/account/login?lang={lang}")
    page.locator("#account_number").fill(account)
    page.locator("#password").fill("demo-client-pass")
    page.locator("#password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(home)
    page.goto("/account/payment")
    expect(page.locator("#total-due")).to_be_visible()
    total = page.locator("#total-due").inner_text()

    # A saved card is chosen: nothing more to give, the button is active.
    expect(page.locator("#pay-form input[name=card]:checked")).not_to_have_value("new")
    expect_active(page)
    # A new card: inactive until it is complete.
    page.locator("#pay-form input[name=card][value=new]").check()
    expect_inactive(page, words["why_account"])
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, f"gate-account-01-inactive-{lang}-360")
    assert violations(page) == [], "new card, inactive"

    tab_to(page, is_pay_button)
    page.keyboard.press("Enter")
    expect(page.locator("#cc-number")).to_be_focused()
    expect(page.locator("#cc-number-error")).to_have_text(words["number"])
    expect(page.locator("#cc-number")).to_have_attribute("aria-invalid", "true")
    shot(page, artifacts_dir, f"gate-account-02-early-press-{lang}-360")
    assert violations(page) == [], "new card, early press"

    type_card(page, "4242 4242 4242 4242")
    expect(page.locator("#cc-number-error")).to_be_hidden()
    expect_active(page)
    shot(page, artifacts_dir, f"gate-account-03-active-{lang}-360")
    assert live_server.app.state.gateway.successful_charge_count == 0
    tab_to(page, is_pay_button)
    page.keyboard.press("Enter")
    expect(page.locator("#paid-notice h2")).to_have_text(words["thanks"])
    gateway = live_server.app.state.gateway
    assert gateway.successful_charge_count == 1
    assert f"${gateway.charged_cents / 100:,.2f}" == total
    assert page.js_errors == []


# Stripe mode: the gate reads the Payment Element's `change` event (`complete`). Stripe.js cannot
# be fetched here, so its address answers with a stand-in that mounts a plain input and lets the
# test fire `change` as the Payment Element does.
STRIPE_JS_STANDIN = """
window.Stripe = function () { return { elements: function () { return { create: function () {
  var box = null;
  return { mount: function (at) { box = document.createElement("input");
             box.id = "stand-in-card"; box.setAttribute("aria-label", "Card");
             document.querySelector(at).appendChild(box); },
           on: function (name, fn) { if (name === "change") window.standInChange = fn; },
           focus: function () { box.focus(); } };
} }; } }; };
"""


@pytest.fixture
def stripe_server(sqlite_template: tuple[Path, Path], tmp_path: Path) -> Iterator[LiveServer]:
    """Like conftest's live_server, in PAYMENTS_GATEWAY=stripe against the fake Stripe API."""
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template[1], db)
    port = _free_port()
    with FakeStripe() as fake:
        settings = Settings(
            port=port,
            app_env="dev",
            database_url=f"sqlite+aiosqlite:///{db}",
            secret_key="e2e-secret-key-that-is-long-enough-0123456789",
            sms_poll_seconds=0.05,
            kv_path=str(tmp_path / "kv"),
            reconcile_every_seconds=0,
            payments_gateway="stripe",
            stripe_secret_key=fake.api_key,
            stripe_publishable_key="pk_test_fake",
            stripe_webhook_secret="whsec_fake",
            stripe_api_base=fake.url,
            _env_file=None,  # type: ignore[call-arg]
        )
        clock = FixedClock(NOW)
        app = create_app(settings, clock=clock)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:  # waiting for the socket to open, not for time to pass
            assert thread.is_alive(), "test server did not start"
            time.sleep(0.02)
        yield LiveServer(url=f"http://127.0.0.1:{port}", clock=clock, app=app, settings=settings)
        server.should_exit = True
        thread.join(timeout=10)


def test_with_stripe_the_payment_elements_complete_flag_opens_the_gate(
    browser: Any, stripe_server: LiveServer
) -> None:
    context = browser.new_context(viewport=PHONE, base_url=stripe_server.url)
    context.set_default_timeout(10_000)

    def route(r: Any) -> None:
        if r.request.url == "https://js.stripe.com/v3/":
            r.fulfill(content_type="text/javascript", body=STRIPE_JS_STANDIN)
        elif r.request.url.startswith(stripe_server.url):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(send_link(page))
        expect_inactive(page, WORDS["en"]["why"])
        tab_to(page, is_pay_button)
        page.keyboard.press("Enter")
        expect(page.locator("#stand-in-card")).to_be_focused()
        expect(page.locator("[data-error-for=stripe]")).to_have_text("Enter your card details.")
        expect(page.locator("#terms-check-error")).to_have_text(WORDS["en"]["terms"])
        page.locator("#terms").check()
        page.evaluate("standInChange({complete: false, empty: false})")
        expect_inactive(page, WORDS["en"]["why"])
        page.evaluate("standInChange({complete: true, empty: false})")
        expect_active(page)
        expect(page.locator("[data-error-for=stripe]")).to_be_hidden()
        page.evaluate("standInChange({complete: false, empty: false})")  # undone
        expect_inactive(page, WORDS["en"]["why"])
        assert errors == []
    finally:
        context.close()
