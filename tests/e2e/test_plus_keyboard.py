"""Send Secure Payment Link at 1280 px by keyboard alone: Tab, Shift+Tab, Enter, Space and the
arrow keys, no clicks. After each htmx swap focus lands where the news is, and it is said."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot
from tests.e2e.test_accessibility import violations

MAX_TABS = 60


def focused(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement;
                 return {id: e.id || "", tag: e.tagName.toLowerCase(),
                         text: (e.innerText || e.value || "").trim().slice(0, 80),
                         name: e.getAttribute("name") || ""}; }"""
        )
    )


def tab_to(page: Any, matches: Any, key: str = "Tab") -> dict[str, str]:
    """Press Tab (or Shift+Tab) until the focused element matches; fail after MAX_TABS."""
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        now = focused(page)
        if matches(now):
            return now
    raise AssertionError(f"never reached the element by {key}; last focused: {now}")


def announced(page: Any) -> Any:
    return page.locator("#live-announcer")


def settled(page: Any) -> None:
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)


def test_send_secure_payment_link_by_keyboard_alone(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    page.goto("/plus/login")
    tab_to(page, lambda f: f["id"] == "email")
    page.keyboard.type("agent@demo.test")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type("demo-agent-pass")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Find a client")).to_be_visible()
    page.wait_for_load_state()

    # Search: the box has focus on arrival; results are said, focus stays in the box.
    assert focused(page)["id"] == "q"
    page.keyboard.type("carter")
    expect(page.locator("#search-results a").first).to_be_visible()
    settled(page)
    assert focused(page)["id"] == "q"
    expect(announced(page)).to_contain_text("1 client matching")
    tab_to(page, lambda f: f["text"] == "Carter, James")
    page.keyboard.press("Enter")
    expect(page.locator(".client-header")).to_be_visible()
    page.wait_for_load_state()

    # The vehicles table scrolls sideways if it must, so it is a tab stop with a name.
    region = page.get_by_role("region", name="Vehicles table")
    expect(region).to_have_attribute("tabindex", "0")
    # At 1280 px the whole table shows: nothing clipped (the zone of the appointment included).
    assert region.evaluate("e => e.scrollWidth <= e.clientWidth")
    expect(region.locator("tbody tr").first).to_contain_text("CST")

    # Open the form from the keyboard: focus moves to the form's heading.
    tab_to(page, lambda f: f["text"] == "Send Secure Payment Link")
    page.keyboard.press("Enter")
    expect(page.locator("#vehicle_id")).to_be_visible()
    settled(page)
    assert focused(page)["id"] == "send-link-title"

    # Pick the F-150 with the arrow keys (each change redraws the form: focus stays put).
    tab_to(page, lambda f: f["id"] == "vehicle_id")
    options = page.locator("#vehicle_id option").all_inner_texts()
    target = next(i for i, o in enumerate(options) if "F-150" in o)
    current = page.locator("#vehicle_id").evaluate("s => s.selectedIndex")
    for _ in range(abs(target - current)):
        page.keyboard.press("ArrowDown" if target > current else "ArrowUp")
        settled(page)
        assert focused(page)["id"] == "vehicle_id"
    expect(page.locator("#vehicle_id option:checked")).to_contain_text("F-150")
    # 30 days: the radio group is reached by Tab, the choice made by arrow keys and Space.
    tab_to(page, lambda f: f["name"] == "days")
    if page.locator("input[name=days][value='30']").is_checked() is False:
        page.keyboard.press("ArrowRight")
        settled(page)
    page.keyboard.press("Space")
    settled(page)
    assert focused(page)["name"] == "days"
    expect(page.locator("input[name=days][value='30']")).to_be_checked()

    # Get Summary: focus lands on the Invoice Summary heading and the total is said.
    tab_to(page, lambda f: f["text"] == "Get Summary")
    page.keyboard.press("Enter")
    expect(page.locator("#total-due")).to_have_text("$182.01")
    settled(page)
    assert focused(page)["id"] == "invoice-summary-title"
    expect(announced(page)).to_contain_text("Total Due Amount $182.01")
    shot(page, artifacts_dir, "plus-kb-01-summary-focused-1280")
    assert violations(page) == [], "summary"

    # A bad phone: focus lands on the phone field, its error is said and tied to it.
    phone = tab_to(page, lambda f: f["id"] == "phone")
    assert phone["id"] == "phone"
    page.keyboard.press("Control+A")
    page.keyboard.type("555-12")
    page.keyboard.press("Enter")
    expect(page.locator("#phone-error")).to_contain_text("valid US mobile number")
    settled(page)
    assert focused(page)["id"] == "phone"
    field = page.locator("#phone")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert "phone-error" in (field.get_attribute("aria-describedby") or "")
    expect(announced(page)).to_contain_text("valid US mobile number")
    assert page.locator("#main").get_by_text("valid US mobile number").count() == 1  # once
    shot(page, artifacts_dir, "plus-kb-02-phone-error-focused-1280")
    assert violations(page) == [], "phone error"

    # Shift+Tab goes back up to the summary's form; Tab returns to the phone. Fix it and send.
    tab_to(page, lambda f: f["text"] == "Get Summary", key="Shift+Tab")
    tab_to(page, lambda f: f["id"] == "phone")
    page.keyboard.press("Control+A")
    page.keyboard.type("(737) 555-0188")
    tab_to(page, lambda f: f["text"] == "Send Message")
    page.keyboard.press("Space")
    card = page.locator("#link-status")
    expect(card.locator("#sent-to")).to_have_text("(737) 555-0188")
    settled(page)
    assert focused(page)["id"] == "link-status-title"
    expect(card.locator(".status")).to_have_text("Delivered")
    expect(announced(page)).to_contain_text("Payment link delivered")
    expect(card.locator("#expires-at")).to_contain_text("CST")
    shot(page, artifacts_dir, "plus-kb-03-sent-1280")
    assert violations(page) == [], "status card"

    # Ten minutes later the card says the link expired, and still shows how far it got.
    live_server.clock.advance(seconds=601)
    expect(card.locator(".status")).to_have_text("Expired")
    expect(card.locator("li[data-step=delivered]")).to_have_class("done")
    expect(card.locator("li[data-step=expired]")).to_contain_text("CST")
    expect(announced(page)).to_contain_text("Payment link expired")
    settled(page)
    assert focused(page)["id"] == "link-status-title"  # the poll did not move focus
    shot(page, artifacts_dir, "plus-kb-04-expired-1280")
    assert violations(page) == [], "expired status card"
    assert page.js_errors == []
