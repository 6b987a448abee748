"""axe-core (WCAG 2.2 A and AA rules) finds nothing on each screen, staff and client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_send_link import open_client, sign_in_agent

OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}


def violations(page: Any) -> list[str]:
    results = Axe().run(page, options=OPTIONS)
    found = results.response.get("violations", [])
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in found
    ]


def test_staff_screens_have_no_axe_violations(desktop: Any, live_server: LiveServer) -> None:
    page = desktop
    page.goto("/plus/login")
    assert violations(page) == [], "login"
    sign_in_agent(page)
    page.get_by_label("Account number, name or phone").fill("carter")
    expect(page.locator("#search-results a").first).to_be_visible()
    assert violations(page) == [], "search"
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Send Secure Payment Link").click()
    page.get_by_role("button", name="Get Summary").click()
    expect(page.locator("#invoice-summary")).to_be_visible()
    assert violations(page) == [], "client page with the summary"
    page.get_by_role("link", name="Account History").click()
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#cards-on-file")).to_be_visible()
    assert violations(page) == [], "Account History with Take Payment"
    page.get_by_role("link", name="Payment Links").click()
    assert violations(page) == [], "Payment Links"

    # The Secure Payment page, then the same link once expired.
    page.goto(page.url.replace("/links", ""))
    page.get_by_role("link", name="Send Secure Payment Link").click()
    page.get_by_role("button", name="Get Summary").click()
    page.get_by_role("button", name="Send Message").click()
    expect(page.locator("#link-status .status")).to_have_text("Delivered")
    page.goto("/dev/sms")
    link = page.locator(".sms").first.locator("a").get_attribute("href")
    page.goto(link)
    expect(page.locator("#total-due")).to_be_visible()
    assert violations(page) == [], "Secure Payment page"
    live_server.clock.advance(seconds=601)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("expired")
    assert violations(page) == [], "expired link"


def test_the_audit_does_find_problems(desktop: Any, live_server: LiveServer) -> None:
    """So that an empty list above means something."""
    desktop.goto("/plus/login")
    desktop.evaluate(
        "document.querySelector('label').remove();"
        "document.body.insertAdjacentHTML('beforeend', '<img src=\"/static/none.png\">')"
    )
    found = " ".join(violations(desktop))
    assert "image-alt" in found and "label" in found


def fill_card(page: Any, number: str) -> None:
    """By ids: the labels are in the page's language."""
    page.locator("#cc-number").fill(number)
    page.locator("#cc-exp").fill("1230")
    page.locator("#cc-cvc").fill("123")
    page.locator("#cc-zip").fill("78701")


def send_link(staff: Any) -> str:
    """Staff sign in and send James Carter a link; its texted address. (Not imported from
    test_pay_link, which imports `violations` from here.)"""
    sign_in_agent(staff)
    open_client(staff, "carter", "Carter, James")
    return send_another(staff, staff.url)


def send_another(staff: Any, client_url: str) -> str:
    """Staff (already on James Carter's page once) send him a new link; its texted address."""
    staff.goto(client_url)
    staff.get_by_role("link", name="Send Secure Payment Link").click()
    staff.get_by_role("button", name="Get Summary").click()
    staff.get_by_role("button", name="Send Message").click()
    expect(staff.locator("#link-status .status")).to_have_text("Delivered")
    staff.goto("/dev/sms")
    link = str(staff.locator(".sms").first.locator("a").get_attribute("href"))
    staff.goto(client_url)
    return link


def audit(page: Any, state: str, found: dict[str, list[str]]) -> None:
    """Every finding of every state is collected, so one run names them all."""
    problems = violations(page)
    if problems:
        found[state] = problems


@pytest.mark.parametrize("lang", ["en", "es"])
def test_client_screens_have_no_axe_violations(
    lang: str, desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """Every client page and state, in English and in Spanish: the Secure Payment page (fresh,
    after a decline, the receipt, already paid, expired, not found), My Account (login, a
    login error, Account Information with a live link, Make a Payment with a summary and with
    an error, Payment Methods, AutoPay) and the error page."""
    page, found = phone, {}
    link = send_link(desktop)
    client_url = desktop.url

    page.goto(f"{link}?lang={lang}")  # the switch: a cookie keeps the language from here on
    expect(page.locator("html")).to_have_attribute("lang", f"{lang}-US")
    expect(page.locator("#total-due")).to_be_visible()
    audit(page, "pay: fresh", found)
    fill_card(page, "4000 0000 0000 0002")
    page.locator("#terms").check()
    page.locator("[data-pay-submit]").click()
    expect(page.locator("#pay-errors")).to_be_focused()
    audit(page, "pay: after a decline", found)
    fill_card(page, "4242 4242 4242 4242")
    page.locator("[data-pay-submit]").click()
    expect(page.locator("#receipt-amount")).to_be_visible()
    audit(page, "pay: receipt", found)
    page.goto(link)
    audit(page, "pay: already paid", found)
    expired = send_another(desktop, client_url)
    live_server.clock.advance(seconds=601)
    page.goto(expired)
    audit(page, "pay: expired", found)
    page.goto("/pay/not-a-real-token-0123456789abcdefghijklmnopqrstuv")
    audit(page, "pay: not found", found)

    send_another(desktop, client_url)  # live while James reads My Account
    page.goto("/account/login")
    audit(page, "account: login", found)
    page.locator("#account_number").fill("100002")
    page.locator("#password").fill("wrong password")
    page.locator("form[action='/account/login'] button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    audit(page, "account: login error", found)
    page.locator("#password").fill("demo-client-pass")
    page.locator("form[action='/account/login'] button[type=submit]").click()
    expect(page.locator("#live-link")).to_be_visible()
    audit(page, "account: Account Information", found)
    page.goto("/account/payment")
    expect(page.locator("#total-due")).to_be_visible()
    expect(page.locator("#covers")).to_be_visible()
    audit(page, "account: Make a Payment", found)
    page.locator("#pay-form input[name=card][value=new]").check()
    page.evaluate("document.querySelector('#pay-form').noValidate = true")
    page.evaluate("HTMLFormElement.prototype.submit.call(document.querySelector('#pay-form'))")
    expect(page.locator("#error-summary")).to_be_focused()
    audit(page, "account: Make a Payment with an error", found)
    page.goto("/account/payment/methods")
    audit(page, "account: Payment Methods", found)
    page.goto("/account/payment/autopay")
    audit(page, "account: AutoPay", found)
    page.goto("/account/payment?vehicle_id=999999")
    audit(page, "error page", found)
    assert found == {}
    for width in (320, 1280):  # screenshots to look at, in each language
        page.set_viewport_size({"width": width, "height": 800})
        for url in ("/account", "/account/payment", "/account/payment/methods"):
            page.goto(url)
            assert no_horizontal_scroll(page), (url, width)
            name = url.strip("/").replace("/", "-")
            shot(page, artifacts_dir, f"a11y-{lang}-{name}-{width}")
