"""Staff at desktop width: Account History, Add New Invoice, Take Payment with a card on file."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot
from tests.e2e.test_send_link import open_client, sign_in_agent


def settled(page: Any) -> None:
    """htmx wires up swapped-in content when it settles (20 ms later); a person is never that
    fast, a test is: wait for it before using new controls."""
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)


def pick_camry(page: Any) -> None:
    expect(page.locator("#invoice-summary")).to_be_visible()
    settled(page)
    vehicle = page.get_by_label("Vehicle", exact=True)
    vehicle.select_option(label=vehicle.locator("option", has_text="Camry").inner_text())


def test_take_payment_for_james_carters_camry_with_mastercard(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    sign_in_agent(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    ledger = page.locator("#ledger")
    expect(ledger.locator("tr[data-status=past-due]")).to_contain_text("$90.00")
    page.wait_for_load_state()
    shot(page, artifacts_dir, "history-01-ledger-1280")
    # At the bottom of the tab, below the ledger: Add New Invoice, then Take Payment.
    ledger_box = ledger.bounding_box()
    add_box = page.get_by_role("link", name="Add New Invoice").bounding_box()
    take_box = page.get_by_role("link", name="Take Payment").bounding_box()
    assert ledger_box and add_box and take_box
    assert ledger_box["y"] + ledger_box["height"] <= add_box["y"] < take_box["y"]

    # Add New Invoice: a bad amount keeps what was typed, then a good one lands in the ledger.
    # Focus follows: the form's heading when it opens, the amount when it is wrong.
    page.get_by_role("link", name="Add New Invoice").click()
    settled(page)
    expect(page.get_by_role("heading", name="Add New Invoice")).to_be_focused()
    page.get_by_label("Description").fill("Device recalibration fee")
    page.get_by_label("Amount ($)").fill("0")
    page.get_by_role("button", name="Add Invoice").click()
    expect(page.locator("#inv-amount-error")).to_contain_text("over $0.00")
    settled(page)
    expect(page.get_by_label("Amount ($)")).to_be_focused()
    expect(page.get_by_label("Description")).to_have_value("Device recalibration fee")
    shot(page, artifacts_dir, "history-02-invoice-error-1280")
    page.get_by_label("Amount ($)").fill("25")
    page.get_by_role("button", name="Add Invoice").click()
    expect(page.locator("#history-notice")).to_contain_text("added")
    settled(page)
    expect(page.locator("#history-notice")).to_be_focused()  # the news, said (role=status)
    expect(ledger.locator("tbody tr").first).to_contain_text("Device recalibration fee")

    page.evaluate("window.__noReload = true")
    page.get_by_role("link", name="Take Payment").click()
    pick_camry(page)
    expect(page.locator("form[hx-get] input[name=days][value='14']")).to_be_checked()
    summary = page.locator("#invoice-summary")
    expect(summary.locator(".summary-line--past_due dd")).to_have_text("$90.00")
    expect(summary.locator(".summary-line--other_open dd")).to_have_text("$25.00")
    expect(page.locator("#total-due")).to_have_text("$163.71")
    expired = page.get_by_label("Visa ending 1881", exact=False)
    expect(expired).to_be_disabled()
    page.get_by_label("Mastercard ending 4444", exact=False).check()
    shot(page, artifacts_dir, "history-03-take-payment-1280")

    page.get_by_role("button", name="Review Payment").click()
    expect(page.locator("#confirm-total")).to_have_text("$163.71")
    expect(page.locator("#confirm-card")).to_have_text("Mastercard ending 4444")
    shot(page, artifacts_dir, "history-04-confirm-1280")
    page.get_by_role("button", name="Charge $163.71").dblclick()
    expect(page.locator("#history-notice")).to_contain_text(
        "Payment of $163.71 charged to Mastercard ending 4444"
    )
    top = ledger.locator("tbody tr").first
    expect(top).to_have_attribute("data-status", "succeeded")
    expect(top).to_contain_text("−$163.71")
    expect(page.locator(".past-due-alert")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True  # updated in place, no reload
    shot(page, artifacts_dir, "history-05-charged-1280")
    assert live_server.app.state.gateway.successful_charge_count == 1
    assert ledger.locator("tr[data-status=succeeded]", has_text="$163.71").count() == 1

    # The past due is settled now: the Camry's next 14 days are $48.71.
    page.get_by_role("link", name="Take Payment").click()
    pick_camry(page)
    expect(page.locator("#total-due")).to_have_text("$48.71")
    expect(page.locator(".summary-line--past_due")).to_have_count(0)
    shot(page, artifacts_dir, "history-06-next-quote-1280")
    assert page.js_errors == []


def test_a_lost_connection_is_said_plainly(desktop: Any, live_server: LiveServer) -> None:
    page = desktop
    sign_in_agent(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    expect(page.locator("#ledger")).to_be_visible()
    page.wait_for_load_state()
    page.route("**/history/take-payment*", lambda route: route.abort())
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#connection-lost")).to_contain_text("could not reach MonitorPay")
    expect(page.get_by_role("link", name="Take Payment")).to_be_visible()  # page left as it was
    page.unroute("**/history/take-payment*")
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#invoice-summary")).to_be_visible()
    expect(page.locator("#connection-lost")).to_have_count(0)
