"""The payer's side at phone width: the link expired, one tap texts a new one, and it pays."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_pay_link import fill_card, send_link


def test_james_asks_for_a_new_link_after_it_expired_and_pays_it(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    staff = desktop
    link = send_link(staff)
    client_url = staff.url
    live_server.clock.advance(seconds=601)

    page = phone
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("expired")
    tap = page.get_by_role("button", name="Text me a new link")
    expect(tap).to_be_visible()
    assert tap.bounding_box()["height"] >= 44
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "renew-01-expired-360")
    tap.click()
    expect(page.locator("#renewed-to")).to_have_text(
        "We texted a new link to the phone ending in 0102."
    )
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "renew-02-sent-360")

    # /dev/sms: the new text went to the same number as the first, with another address.
    staff.goto("/dev/sms")
    texts = staff.locator(".sms[data-kind=link]")
    expect(texts).to_have_count(2)
    expect(staff.locator(".sms[data-kind=link][data-to='+15125550102']")).to_have_count(2)
    new_link = texts.first.locator("a").get_attribute("href")
    assert new_link and "/pay/" in new_link and new_link != link

    page.goto(new_link)
    expect(page.locator("#total-due")).to_have_text("$182.01")
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("I authorize a one-time charge").check()
    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", name="Thank you, your payment was received")).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")

    staff.goto(client_url)
    staff.get_by_role("link", name="Payment Links", exact=True).click()
    newest = staff.locator("tbody tr").first
    expect(newest.locator(".status")).to_have_text("Paid")
    expect(newest).to_contain_text("Requested by the payer")
    shot(staff, artifacts_dir, "renew-03-staff-links-1280")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert page.js_errors == [] and staff.js_errors == []
