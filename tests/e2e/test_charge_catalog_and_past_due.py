"""PLUS at desktop width (issue 22 item 5): staff add a charge from the catalog (the words box
is only for Other…), then take the past due balance only with a card on file."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot
from tests.e2e.test_account_history import settled
from tests.e2e.test_send_link import open_client, sign_in_agent


def test_staff_add_a_catalog_charge_then_take_the_past_due_balance_only(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    sign_in_agent(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    ledger = page.locator("#ledger")
    expect(ledger.locator("tr[data-status=past-due]")).to_contain_text("$90.00")
    page.wait_for_load_state()

    # Add New Invoice: a charge of the catalog needs no words; Other… asks for them.
    page.get_by_role("link", name="Add New Invoice").click()
    settled(page)
    words = page.get_by_label("Description, for Other…")
    expect(words).to_be_visible()  # nothing picked yet
    page.get_by_label("Charge", exact=True).select_option(label="Calibration fee")
    expect(words).to_be_hidden()
    page.get_by_label("Charge", exact=True).select_option(label="Other…")
    expect(words).to_be_visible()
    page.get_by_label("Charge", exact=True).select_option(label="Calibration fee")
    page.get_by_label("Amount ($)").fill("40")
    shot(page, artifacts_dir, "catalog-01-add-invoice-1280")
    page.get_by_role("button", name="Add Invoice").click()
    expect(page.locator("#history-notice")).to_contain_text("Calibration fee, $40.00")
    expect(ledger.locator("tbody tr").first).to_contain_text("Calibration fee")

    # Take Payment: "Past due only" charges the $90.00 and nothing else.
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#invoice-summary")).to_be_visible()
    settled(page)
    expect(page.locator("form[hx-get] legend")).to_have_text("What to pay")
    page.get_by_label("Past due only ($90.00)").check()
    expect(page.locator("#total-due")).to_have_text("$90.00")
    expect(page.locator("#invoice-summary .summary-line--other_open")).to_have_count(0)
    expect(page.locator("#invoice-summary .summary-line--monitoring")).to_have_count(0)
    settled(page)
    page.get_by_label("Mastercard ending 4444", exact=False).check()
    shot(page, artifacts_dir, "take-payment-past-due-01-pick-1280")
    page.get_by_role("button", name="Review Payment").click()
    expect(page.locator("#confirm-total")).to_have_text("$90.00")
    page.get_by_role("button", name="Charge $90.00").click()
    expect(page.locator("#history-notice")).to_contain_text(
        "Payment of $90.00 charged to Mastercard ending 4444"
    )
    expect(page.locator(".past-due-alert")).to_have_count(0)
    expect(ledger.locator("tr[data-status=past-due]")).to_have_count(0)
    shot(page, artifacts_dir, "take-payment-past-due-02-charged-1280")
    assert live_server.app.state.gateway.successful_charge_count == 1

    # Nothing is past due now: the choice is gone; the calibration fee stays open.
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#invoice-summary")).to_be_visible()
    expect(page.get_by_label("Past due only", exact=False)).to_have_count(0)
    expect(page.locator("#invoice-summary .summary-line--other_open dd")).to_have_text("$40.00")
    assert page.js_errors == []
