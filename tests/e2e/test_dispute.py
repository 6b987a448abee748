"""At desktop width: James pays his link with the sandbox's dispute card (4000 0000 0000 0259);
the card's bank disputes it; a supervisor sees it on Disputes, with the ledger and the report
showing it as disputed; losing it with the sandbox's bank control gives the money back in
Account History and counts it as lost in Reports (not as a refund)."""

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_pay_link import fill_card, send_link
from tests.e2e.test_pay_link_failures import run_reconcile
from tests.e2e.test_refund import sign_in_supervisor
from tests.e2e.test_send_link import open_client

TODAY = "/plus/reports?from=2026-11-25&to=2026-11-25"


def account_history(page: Any) -> Any:
    page.goto("/plus")
    page.wait_for_load_state()
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    ledger = page.locator("#ledger")
    expect(ledger).to_be_visible()
    return ledger


def test_a_disputed_payment_reaches_a_supervisor_and_losing_it_moves_the_ledger_and_report(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    link = send_link(page)  # as an agent
    page.get_by_role("button", name="Sign out").click()

    # James pays with the dispute card: it is charged like any other.
    page.goto(link)
    fill_card(page, "4000 0000 0000 0259")
    page.get_by_label("I authorize a one-time charge").check()
    page.get_by_role("button", name="Make Payment").click()
    expect(page.get_by_role("heading", name="Thank you, your payment was received")).to_be_visible()
    expect(page.locator("#receipt-card")).to_have_text("Visa ending 0259")

    # The card's bank disputes it; the sandbox posts the event, delivered by reconcile.
    assert run_reconcile(live_server).events["opened"] == 1

    sign_in_supervisor(page)
    page.goto(TODAY)
    expect(page.locator("#total-disputed")).to_have_text("$182.01 (1)")
    expect(page.locator("#total-lost")).to_have_text("$0.00 (0)")
    refunded_before = page.locator("#total-refunded").inner_text()
    net_before = page.locator("#total-net").inner_text()

    ledger = account_history(page)
    paid = ledger.locator("tr.ledger-row--payment").first
    expect(paid).to_have_attribute("data-status", "succeeded")
    expect(paid.locator(".dispute-badge")).to_have_text("Disputed: Needs response")
    expect(paid.get_by_role("link", name="Refund")).to_have_count(0)
    balance_disputed = page.locator("#ledger-balance").inner_text()
    shot(page, artifacts_dir, "dispute-01-history-disputed-1280")

    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Disputes").click()
    expect(page.get_by_role("heading", name="Disputes", level=1)).to_be_visible()
    due = page.locator("#table-disputes-due tbody tr")
    expect(due).to_have_count(1)
    expect(due).to_contain_text("James Carter")
    expect(due).to_contain_text("Fraudulent")
    expect(due).to_contain_text("Needs response")
    expect(due).to_contain_text("$182.01")
    expect(due).to_contain_text("Dec 2, 2026")  # evidence due in 7 days
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "dispute-02-needs-response-1280")

    # The sandbox's bank decides against us.
    due.get_by_role("button", name="Lose").click()
    expect(page.locator("#dispute-notice")).to_contain_text("The sandbox dispute was lost")
    expect(page.locator("#no-disputes-due")).to_be_visible()
    closed = page.locator("#table-disputes-other tbody tr")
    expect(closed).to_contain_text("Lost")
    expect(closed.get_by_role("button")).to_have_count(0)
    shot(page, artifacts_dir, "dispute-03-lost-1280")

    # Account History: the money given back the way a full refund gives it back.
    ledger = account_history(page)
    paid = ledger.locator("tr.ledger-row--payment").first
    expect(paid).to_have_attribute("data-status", "refunded")
    expect(paid.locator(".dispute-badge")).to_have_text("Dispute lost")
    given = ledger.locator("tr.ledger-row--refund").first
    expect(given).to_contain_text("Refund — Dispute lost: Fraudulent")
    expect(given).to_contain_text("$182.01")
    expect(page.locator("#ledger-balance")).not_to_have_text(balance_disputed)
    expect(ledger.locator("tr[data-status=past-due]")).to_contain_text("$90.00")  # open again
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "dispute-04-history-lost-1280")

    # Reports: lost to disputes, apart from refunds; the net moves by what was lost.
    page.goto(TODAY)
    expect(page.locator("#total-lost")).to_have_text("$182.01 (1)")
    expect(page.locator("#total-disputed")).to_have_text("$182.01 (1)")
    expect(page.locator("#total-refunded")).to_have_text(refunded_before)
    assert _cents(page.locator("#total-net").inner_text()) == _cents(net_before) - 18201
    shot(page, artifacts_dir, "dispute-05-report-1280")
    assert page.js_errors == []  # type: ignore[attr-defined]


def _cents(text: str) -> int:
    return round(float(text.replace("$", "").replace(",", "").replace("−", "-")) * 100)
