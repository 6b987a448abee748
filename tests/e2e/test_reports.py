"""Reports at 1280 px: a supervisor takes a payment, then opens Reports for the demo data,
changes the location and the range in place (the address follows), sees the table and the
chart agree with what the database holds, downloads the CSV; an agent has no Reports link and
gets 403 at the address."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.formatting import money
from app.store.models import Client, Location, Payment, PaymentLink, Refund
from tests.conftest import NOW
from tests.e2e.conftest import DESKTOP, LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_accessibility import violations
from tests.e2e.test_account_history import settled
from tests.e2e.test_refund import sign_in_supervisor, take_payment_for_the_f150
from tests.e2e.test_send_link import open_client, sign_in_agent


def _engine(server: LiveServer) -> Any:
    return create_engine(server.settings.database_url.replace("+aiosqlite", ""))


def add_activity(server: LiveServer) -> None:
    """What a month brings beyond the seed: a declined link payment, two links texted (one
    paid an hour and a half later, one only opened), and a refund of an old payment."""
    with Session(_engine(server)) as s:
        maria = s.execute(select(Client).where(Client.account_number == "100001")).scalar_one()
        vehicle_id = 1
        sent = NOW - timedelta(days=3)
        for n, (opened, paid) in enumerate([(True, True), (True, False)]):
            s.add(
                PaymentLink(
                    token_hash=hashlib.sha256(f"report-{n}".encode()).hexdigest(),
                    client_id=maria.id or 0, vehicle_id=vehicle_id, days=30, total_cents=9201,
                    summary_json="{}", phone_e164=maria.phone_e164,
                    status="paid" if paid else "opened", created_at=sent, sent_at=sent,
                    expires_at=sent + timedelta(days=1),
                    opened_at=sent + timedelta(minutes=10) if opened else None,
                    paid_at=sent + timedelta(minutes=90) if paid else None,
                )
            )  # fmt: skip
        s.add(
            Payment(
                client_id=maria.id or 0, amount_cents=9201, channel="link", status="failed",
                idempotency_key="report-declined", summary_json="{}",
                created_at=NOW - timedelta(days=2), completed_at=NOW - timedelta(days=2),
                failure_message="Your card was declined.",
            )
        )  # fmt: skip
        seeded = s.execute(
            select(Payment).where(Payment.client_id == maria.id, Payment.status == "succeeded")
        ).scalar_one()
        seeded.status, seeded.refunded_cents = "partially_refunded", 1000
        s.add(
            Refund(
                payment_id=seeded.id or 0, client_id=maria.id or 0, amount_cents=1000,
                kind="staff", reason="Goodwill", status="succeeded", idempotency_key="report-r1",
                created_at=NOW - timedelta(days=1), completed_at=NOW - timedelta(days=1),
            )
        )  # fmt: skip
        s.commit()


def expected(server: LiveServer, start: date, end: date, location: str | None) -> dict[str, int]:
    """The figures straight from the database, each row on its own location's local date
    (computed here in Python, apart from the app's SQL)."""
    with Session(_engine(server)) as s:
        zones = {loc.id: (loc.name, ZoneInfo(loc.timezone)) for loc in s.scalars(select(Location))}
        where = {c.id: c.location_id for c in s.scalars(select(Client))}

        def counts(client_id: int, at: datetime | None) -> bool:
            if at is None:
                return False
            name, zone = zones[where[client_id]]
            return (location is None or name == location) and start <= at.astimezone(
                zone
            ).date() <= end

        collected = declined = refunded = 0
        for p in s.scalars(select(Payment)):
            if counts(p.client_id, p.completed_at):
                if p.status in ("succeeded", "refunded", "partially_refunded"):
                    collected += p.amount_cents
                elif p.status == "failed":
                    declined += p.amount_cents
        for r in s.scalars(select(Refund).where(Refund.status == "succeeded")):
            if counts(r.client_id, r.completed_at):
                refunded += r.amount_cents
        sent = paid = 0
        for link in s.scalars(select(PaymentLink)):
            if counts(link.client_id, link.sent_at):
                sent += 1
                paid += link.paid_at is not None
    return {
        "collected": collected,
        "refunded": refunded,
        "declined": declined,
        "net": collected - refunded,
        "sent": sent,
        "paid": paid,
    }


def check_totals(page: Any, want: dict[str, int]) -> None:
    expect(page.locator("#total-collected")).to_have_text(money(want["collected"]))
    expect(page.locator("#total-refunded")).to_have_text(money(want["refunded"]))
    expect(page.locator("#total-net")).to_have_text(money(want["net"]))
    foot = page.locator("#table-channel tfoot")
    expect(foot.locator("[data-col=collected]")).to_have_text(money(want["collected"]))
    expect(foot.locator("[data-col=declined]")).to_have_text(money(want["declined"]))
    expect(page.locator("#table-links [data-total=sent]")).to_have_text(str(want["sent"]))
    expect(page.locator("#table-links [data-total=paid]")).to_have_text(str(want["paid"]))


def test_supervisor_reads_reports_and_downloads_the_csv_an_agent_is_refused(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    add_activity(live_server)
    page = desktop
    sign_in_supervisor(page)
    open_client(page, "carter", "Carter, James")
    page.get_by_role("link", name="Account History").click()
    take_payment_for_the_f150(page)  # $182.01 by Sandra Supervisor, through Take Payment

    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    today = NOW.astimezone(ZoneInfo("America/Chicago")).date()
    start = today - timedelta(days=29)
    expect(page.get_by_label("From", exact=True)).to_have_value(start.isoformat())
    expect(page.get_by_label("To", exact=True)).to_have_value(today.isoformat())
    want = expected(live_server, start, today, None)
    assert want["collected"] > 0 and want["refunded"] == 1000 and want["declined"] == 9201
    check_totals(page, want)
    staff_row = page.locator("#table-staff tbody tr", has_text="Sandra Supervisor")
    expect(staff_row.locator("[data-col=collected]")).to_have_text("$182.01")
    expect(page.locator("#table-links [data-total=median]")).to_have_text("1 h 30 min")
    assert no_horizontal_scroll(page)
    assert not page.js_errors  # type: ignore[attr-defined]
    assert violations(page) == [], "reports"
    shot(page, artifacts_dir, "reports-01-all-locations-1280")
    page.screenshot(path=str(artifacts_dir / "reports-01-top-1280.png"))  # as first seen

    # The location, in place: the address follows (a link to this view), the page stays.
    page.evaluate("window.__stayed = true")
    page.get_by_label("Location", exact=True).select_option(label="Austin North")
    expect(page).to_have_url(re.compile(r"[?&]location=[0-9]+"))
    settled(page)
    want = expected(live_server, start, today, "Austin North")
    check_totals(page, want)
    austin = page.locator("#chart-location rect.report-bar title").first
    expect(austin).to_have_text(f"Austin North — Collected: {money(want['collected'])}")
    row = page.locator("#table-location tbody tr", has_text="Austin North")
    expect(row.locator("[data-col=collected]")).to_have_text(money(want["collected"]))
    expect(page.locator("#table-location tbody tr", has_text="El Paso")).to_have_count(0)

    # The range, in place: the last week only.
    week = today - timedelta(days=6)
    page.get_by_label("From", exact=True).fill(week.isoformat())
    expect(page.locator("#report-range")).to_contain_text(f"{week:%b} {week.day}, {week.year}")
    settled(page)
    query = parse_qs(urlsplit(page.url).query)
    assert query["from"] == [week.isoformat()] and query["location"] != [""]
    assert page.evaluate("window.__stayed") is True  # no full reload
    want = expected(live_server, week, today, "Austin North")
    check_totals(page, want)
    day_titles = page.locator("#chart-day rect.report-bar title").all_text_contents()
    paid_today = [t for t in day_titles if "Collected: $182.01" in t]
    assert paid_today, day_titles
    shot(page, artifacts_dir, "reports-02-austin-week-1280")

    # Back: the address before (Austin North, 30 days), the whole page as it was.
    page.go_back()
    expect(page.get_by_label("From", exact=True)).to_have_value(start.isoformat())
    expect(page.get_by_role("navigation", name="Staff")).to_be_visible()
    check_totals(page, expected(live_server, start, today, "Austin North"))
    page.go_forward()
    expect(page.get_by_label("From", exact=True)).to_have_value(week.isoformat())
    settled(page)

    # A reversed range: the message next to the field, the old figures gone, a 400.
    page.get_by_label("To", exact=True).fill((week - timedelta(days=3)).isoformat())
    expect(page.locator("#to-error")).to_contain_text("after the start date")
    expect(page.locator("#report-totals")).to_have_count(0)
    settled(page)
    expect(page.locator("#report-busy")).to_have_css("opacity", "0")
    assert violations(page) == [], "reports with an error"
    shot(page, artifacts_dir, "reports-03-bad-range-1280")
    page.get_by_label("To", exact=True).fill(today.isoformat())
    expect(page.locator("#report-totals")).to_be_visible()
    settled(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(Path(download.path()).read_text().splitlines()))
    total = next(r for r in rows if r["section"] == "total")
    assert total["collected"] == f"{want['collected'] / 100:.2f}"
    assert total["refunded"] == f"{want['refunded'] / 100:.2f}"
    staff = next(r for r in rows if r["section"] == "staff" and r["item"] == "Sandra Supervisor")
    assert staff["collected"] == "182.01"
    links = next(r for r in rows if r["section"] == "links_total")
    assert int(links["links_sent"]) == want["sent"]

    # An agent: no link in the navigation, and 403 at the address.
    page.get_by_role("button", name="Sign out").click()
    sign_in_agent(page)
    nav = page.get_by_role("navigation", name="Staff")
    expect(nav.get_by_role("link", name="Clients")).to_be_visible()
    expect(nav.get_by_role("link", name="Reports")).to_have_count(0)
    response = page.goto("/plus/reports")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("Reports are for supervisors and admins.")).to_be_visible()
    assert page.request.get("/plus/reports.csv").status == 403
    shot(page, artifacts_dir, "reports-04-agent-403-1280")


def test_reports_without_javascript_a_year_at_a_time(
    browser: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """The filters are a plain GET form: with scripts off, Show report loads the page for the
    range asked (here a year, the longest allowed), and the day chart draws every day."""
    add_activity(live_server)
    context = browser.new_context(
        viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False
    )
    page = context.new_page()
    try:
        sign_in_supervisor(page)
        page.goto("/plus/reports")
        today = NOW.astimezone(ZoneInfo("America/Chicago")).date()
        start = today - timedelta(days=365)
        page.get_by_label("From", exact=True).fill(start.isoformat())
        page.get_by_role("button", name="Show report").click()
        expect(page.locator("#report-range")).to_contain_text("(366 days)")
        query = parse_qs(urlsplit(page.url).query)
        assert query["from"] == [start.isoformat()] and query["to"] == [today.isoformat()]
        check_totals(page, expected(live_server, start, today, None))
        assert page.locator("#chart-day svg g.report-row").count() == 366
        assert no_horizontal_scroll(page)
        shot(page, artifacts_dir, "reports-05-a-year-no-js-1280")
        page.get_by_label("From", exact=True).fill((start - timedelta(days=1)).isoformat())
        page.get_by_role("button", name="Show report").click()
        expect(page.locator("#to-error")).to_contain_text("at most 366 days")
    finally:
        context.close()
