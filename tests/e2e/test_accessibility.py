"""axe-core (WCAG 2.2 A and AA rules) finds nothing on each screen, staff and client."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
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


def test_client_screens_have_no_axe_violations(phone: Any, live_server: LiveServer) -> None:
    page = phone
    page.goto("/account/login")
    assert violations(page) == [], "login"
    page.get_by_label("Account number").fill("100002")
    page.get_by_label("Password").fill("demo-client-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Information")
    for url in (
        "/account",
        "/account/payment",
        "/account/payment/methods",
        "/account/payment/autopay",
    ):
        page.goto(url)
        assert violations(page) == [], url
