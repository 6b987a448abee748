"""A supervisor at desktop width refunds a payment from Account History: part, then the rest."""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_account_history import settled
from tests.e2e.test_send_link import open_client


def sign_in_supervisor(page: Any) -> None:
    page.goto("/plus/login")
    page.get_by_label("Work email").fill("supervisor@demo.test")
    page.get_by_label("Password").fill("demo-supervisor-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find a client")).to_be_visible()
    page.wait_for_load_state()


def take_payment_for_the_f150(page: Any) -> None:
    page.get_by_role("link", name="Take Payment").click()
    expect(page.locator("#invoice-summary")).to_be_visible()
    settled(page)
    vehicle = page.get_by_label("Vehicle", exact=True)
    vehicle.select_option(label=vehicle.locator("option", has_text="F-150").inner_text())
    settled(page)
    page.get_by_label("30 days").check()
    expect(page.locator("#total-due")).to_have_text("$182.01")
    settled(page)
    page.get_by_label("Mastercard ending 4444", exact=False).check()
    page.get_by_role("button", name="Review Payment").click()
    expect(page.locator("#confirm-total")).to_have_text("$182.01")
    page.get_by_role("button", name="Charge $182.01").click()
    expect(page.locator("#history-notice")).to_contain_text(
        "Payment of $182.01 charged to Mastercard ending 4444"
    )


def test_supervisor_refunds_part_of_a_payment_then_the_rest(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    sign_in_supervisor(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    ledger = page.locator("#ledger")
    expect(ledger).to_be_visible()
    page.wait_for_load_state()
    balance_before = page.locator("#ledger-balance").inner_text()
    page.evaluate("window.__noReload = true")

    take_payment_for_the_f150(page)
    paid = ledger.locator("tr.ledger-row--payment").first
    expect(paid).to_have_attribute("data-status", "succeeded")
    expect(paid).to_contain_text("−$182.01")
    shot(page, artifacts_dir, "refund-01-paid-1280")

    # Refund $50.00 of it: the form opens in place, pre-filled with all that is left.
    settled(page)
    paid.get_by_role("link", name="Refund").click()
    amount = page.get_by_label("Amount to refund ($)")
    expect(amount).to_have_value("182.01")
    expect(amount).to_be_focused()
    amount.fill("50")
    page.get_by_role("button", name="Review refund").click()
    expect(page.locator("#refund-reason-error")).to_contain_text("Say why")
    expect(amount).to_have_value("50")
    shot(page, artifacts_dir, "refund-02-reason-missing-1280")
    page.get_by_label("Reason").fill("Charged for the wrong days")
    page.get_by_role("button", name="Review refund").click()
    confirm = page.locator("#confirm-refund")
    expect(confirm).to_contain_text(
        "Refund $50.00 to Mastercard ending 4444? The client gets a text."
    )
    shot(page, artifacts_dir, "refund-03-confirm-1280")
    page.get_by_role("button", name="Confirm refund").dblclick()
    expect(page.locator("#history-notice")).to_have_text(
        "Refunded $50.00 to Mastercard ending 4444."
    )
    top = ledger.locator("tbody tr").first
    expect(top).to_have_attribute("data-status", "refunded")
    expect(top).to_contain_text("Refund — Charged for the wrong days")
    expect(top).to_contain_text("$50.00")
    expect(paid).to_have_attribute("data-status", "partially_refunded")
    expect(paid).to_contain_text("Partly refunded")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "refund-04-partly-refunded-1280")

    # Then the rest: what is left is offered, and the account is back where it started.
    settled(page)
    paid.get_by_role("link", name="Refund").click()
    expect(amount).to_have_value("132.01")
    page.get_by_label("Reason").fill("Client cancelled the service")
    page.get_by_role("button", name="Review refund").click()
    expect(confirm).to_contain_text("Refund $132.01 to Mastercard ending 4444?")
    page.get_by_role("button", name="Confirm refund").click()
    expect(page.locator("#history-notice")).to_have_text(
        "Refunded $132.01 to Mastercard ending 4444."
    )
    expect(paid).to_have_attribute("data-status", "refunded")
    expect(paid.get_by_role("link", name="Refund")).to_have_count(0)
    expect(ledger.locator("tr.ledger-row--refund[data-status=refunded]")).to_have_count(2)
    expect(page.locator("#ledger-balance")).to_have_text(balance_before)
    expect(ledger.locator("tr[data-status=past-due]")).to_contain_text("$90.00")  # open again
    expect(page.locator(".past-due-alert")).to_contain_text("$90.00")
    assert no_horizontal_scroll(page)
    assert page.evaluate("window.__noReload") is True  # all in place, no reload
    shot(page, artifacts_dir, "refund-05-refunded-1280")

    # The processor refunded all of it, once (the double click above refunded once).
    db = live_server.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with closing(sqlite3.connect(db)) as conn:
        (intent,) = conn.execute(
            "SELECT processor_ref FROM payment WHERE status = 'refunded' AND amount_cents = 18201"
        ).fetchone()
    assert live_server.app.state.gateway.refunded_cents(intent) == 18201
    assert page.js_errors == []
