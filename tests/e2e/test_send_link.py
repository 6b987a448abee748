"""Staff flow at desktop width: search, client page, Send Secure Payment Link, status card."""

import contextlib
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot


def sign_in_agent(page: Any) -> None:
    page.goto("/plus/login")
    page.get_by_label("Work email").fill("agent@demo.test")
    page.get_by_label("Password").fill("demo-agent-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find a client")).to_be_visible()
    page.wait_for_load_state()  # htmx wires the page up on load; a person is never that fast


def open_client(page: Any, query: str, name: str) -> None:
    page.get_by_label("Account number, name or phone").fill(query)
    page.locator("#search-results").get_by_role("link", name=name).click()
    expect(page.locator(".client-header")).to_be_visible()
    page.wait_for_load_state()


def test_staff_sends_james_carter_a_link_to_another_number(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    sign_in_agent(page)
    open_client(page, "carter", "Carter, James")
    expect(page.locator(".past-due-alert")).to_contain_text("$90.00")
    shot(page, artifacts_dir, "plus-01-client-1280")

    page.get_by_role("link", name="Send Secure Payment Link").click()
    vehicle = page.get_by_label("Vehicle", exact=True)
    vehicle.select_option(label=vehicle.locator("option", has_text="F-150").inner_text())
    page.get_by_label("30 days").check()
    page.get_by_role("button", name="Get Summary").click()
    summary = page.locator("#invoice-summary")
    expect(summary).to_contain_text("Invoice Summary")
    expect(summary.locator(".summary-line--past_due dd")).to_have_text("$90.00")
    expect(summary.locator(".summary-line--monitoring dd")).to_have_text("$85.00")
    expect(summary.locator(".summary-line--tax dd")).to_have_text("$7.01")
    expect(page.locator("#total-due")).to_have_text("$182.01")
    expect(page.get_by_label("Text the link to")).to_have_value("(512) 555-0102")
    shot(page, artifacts_dir, "plus-02-invoice-summary-1280")

    # A bad number: inline error, nothing sent.
    page.get_by_label("Text the link to").fill("555-12")
    page.get_by_role("button", name="Send Message").click()
    expect(page.locator("#phone-error")).to_contain_text("valid US mobile number")
    expect(page.get_by_label("Text the link to")).to_have_value("555-12")
    shot(page, artifacts_dir, "plus-03-bad-phone-1280")

    # Someone else pays: a different number.
    page.get_by_label("Text the link to").fill("(737) 555-0188")
    page.get_by_role("button", name="Send Message").click()
    card = page.locator("#link-status")
    expect(card.locator("#sent-to")).to_have_text("(737) 555-0188")
    expect(card.locator(".status")).to_have_text("Delivered")  # the worker delivers via the outbox
    shot(page, artifacts_dir, "plus-04-status-card-1280")

    page.goto("/dev/sms")
    first = page.locator(".sms").first
    expect(first).to_have_attribute("data-to", "+17375550188")
    expect(first).to_contain_text("$182.01")
    expect(first).to_contain_text("Reply STOP to opt out")
    assert "/pay/" in first.locator("a").get_attribute("href")
    assert page.locator('.sms[data-to="+17375550188"]').count() == 1
    shot(page, artifacts_dir, "plus-05-dev-sms-1280")

    page.go_back()
    page.get_by_role("link", name="Payment Links", exact=True).click()
    expect(page.locator("tbody tr").first).to_contain_text("(737) 555-0188")
    expect(page.locator("tbody tr").first).to_contain_text("Alex Agent")
    expect(page.locator(".client-header")).to_contain_text("(512) 555-0102")  # phone on file kept
    shot(page, artifacts_dir, "plus-06-payment-links-1280")
    assert page.js_errors == []


def test_location_not_accepting_payments_and_opted_out_number(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    page = desktop
    sign_in_agent(page)
    open_client(page, "Ruiz", "Ruiz, Ana")
    expect(page.locator("#payments-off")).to_contain_text("not configured to accept payments")
    expect(page.get_by_role("button", name="Send Secure Payment Link")).to_be_disabled()
    shot(page, artifacts_dir, "plus-07-el-paso-refused-1280")

    page.goto("/plus")
    open_client(page, "100004", "Hunt, Derek")
    page.get_by_role("link", name="Send Secure Payment Link").click()
    page.get_by_role("button", name="Get Summary").click()
    page.get_by_role("button", name="Send Message").click()
    expect(page.locator("#phone-error")).to_contain_text("opted out")
    shot(page, artifacts_dir, "plus-08-opted-out-1280")

    page.goto("/dev/sms")
    expect(page.locator(".sms")).to_have_count(0)
    assert page.js_errors == []


def test_a_late_summary_never_hides_the_sent_link(desktop: Any, live_server: LiveServer) -> None:
    """Get Summary is still in flight when Send Message is clicked, and answers first: the
    status card must still be what staff see (the text did go out)."""
    page = desktop
    sign_in_agent(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Send Secure Payment Link").click()
    page.get_by_role("button", name="Get Summary").click()
    expect(page.locator("#total-due")).to_be_visible()
    expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    held: dict[str, Any] = {}
    page.route("**/send-link?*", lambda route: held.setdefault("summary", route))
    page.route("**/links", lambda route: held.setdefault("send", route))
    with page.expect_request("**/send-link?*"):
        page.get_by_role("button", name="Get Summary").click()
    with page.expect_request("**/links"):
        page.get_by_role("button", name="Send Message").click()
    with contextlib.suppress(Exception):  # the browser may have given up on it: the point
        held["summary"].continue_()
    # The late summary has been handled (swapped in, or dropped) before the send answers.
    page.wait_for_function("!document.querySelector('form.send-link-pick.htmx-request')")
    held["send"].continue_()
    expect(page.locator(".htmx-request")).to_have_count(0)
    page.unroute("**/send-link?*")
    page.unroute("**/links")
    expect(page.locator("#link-status .status")).to_have_text("Delivered")
    expect(page.locator("#invoice-summary")).to_have_count(0)


def test_the_client_page_shows_the_new_paid_through_date_after_a_live_payment(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    from tests.e2e.test_pay_link import fill_card, send_link  # it builds on this module

    staff = desktop
    link = send_link(staff)  # back on James Carter's page, the status card polling
    f150 = staff.locator("#vehicles tbody tr", has_text="F-150").locator(".paid-through")
    expect(f150).to_have_text("Nov 27, 2026")

    phone.goto(link)
    fill_card(phone, "4242 4242 4242 4242")
    phone.get_by_label("I authorize a one-time charge").check()
    phone.get_by_role("button", name="Make Payment").click()
    expect(phone.locator("#receipt-amount")).to_have_text("$182.01")

    # The status card's next poll says "Paid", and the vehicles are read again.
    expect(staff.locator("#link-status .status")).to_have_text("Paid")
    expect(f150).to_have_text("Dec 27, 2026")
    expect(staff.locator(".past-due-alert")).to_have_count(0)
    expect(staff.locator("#link-status li[data-step=opened]")).to_have_class("done")
    shot(staff, artifacts_dir, "plus-09-paid-vehicles-refreshed-1280")
    assert staff.js_errors == [] and phone.js_errors == []
