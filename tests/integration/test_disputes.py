"""Disputes with the sandbox processor (4000 0000 0000 0259: charged, then disputed), through
the handlers: the dispute reaches supervisors by the sandbox's events (delivered by
reconcile), the list is theirs (agents refused), soonest evidence due first; the sandbox's bank
control loses or wins it; a lost one moves the ledger and the report (apart from refunds) and
/metrics counts the open ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.adapters.payments.sandbox import DISPUTE_CARD
from app.clock import FixedClock
from app.domain.disputes import DisputeFacts
from app.domain.reports import parse_range
from app.services import disputes, reconcile, reports
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Dispute, Payment, Refund
from tests.conftest import NOW, get_page, sign_in_staff
from tests.integration.test_history import history, ids
from tests.integration.test_money_failures import link_payments
from tests.integration.test_money_failures import pay as pay_with
from tests.integration.test_operable import scrape, value
from tests.integration.test_pay import make_link
from tests.integration.test_refunds import fresh, rows

SUPERVISOR = ("supervisor@demo.test", "demo-supervisor-pass")
TODAY = "from=2026-11-25&to=2026-11-25"


async def disputed(client: AsyncTestClient[Any], app: Litestar, clock: FixedClock) -> Payment:
    """A link paid with the dispute card; reconcile delivers the sandbox's dispute event."""
    token = await make_link(app)
    assert (await pay_with(client, token, DISPUTE_CARD)).status_code == 303
    _, [payment] = await link_payments(app.state.sessionmaker, token)
    assert payment.status == "succeeded"
    report = await reconcile.run(app.state.sessionmaker, app.state.gateway, clock, "Demo")
    assert report.events["opened"] == 1
    return payment


async def only_dispute(app: Litestar) -> Dispute:
    [row] = await rows(app, select(Dispute))
    return row


async def decide(client: AsyncTestClient[Any], dispute_id: int, outcome: str) -> Any:
    status, page = await get_page(client, "/plus/disputes")
    return await client.post(
        f"/plus/disputes/{dispute_id}/sandbox",
        data={"_csrf_token": page.csrf(), "outcome": outcome},
        follow_redirects=False,
    )


async def test_the_0259_card_is_charged_then_disputed_and_supervisors_see_it(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock, session: Any
) -> None:
    payment = await disputed(client, app, clock)
    row = await only_dispute(app)
    assert (row.payment_id, row.status, row.reason) == (payment.id, "needs_response", "fraudulent")
    assert row.amount_cents == payment.amount_cents == 18201
    assert row.evidence_due_by == NOW + timedelta(days=7)
    # Delivered once: reconcile again sends nothing more.
    again = await reconcile.run(app.state.sessionmaker, app.state.gateway, clock, "Demo")
    assert not again.events

    await sign_in_staff(client, *SUPERVISOR)
    status, page = await get_page(client, "/plus/disputes")
    assert status == 200
    assert page.one('nav a[href="/plus/disputes"]').get("aria-current") == "page"
    [tr] = page.all("#table-disputes-due tbody tr")
    text = tr.get_text(" ", strip=True)
    assert "James" in text and "Fraudulent" in text and "Needs response" in text
    assert "$182.01" in text and "Dec 2, 2026" in text  # due in 7 days, Austin's date
    assert [b["data-outcome"] for b in tr.select("button")] == ["lost", "won"]
    assert not tr.select("a[href^='https://dashboard.stripe.com']")  # not Stripe's dispute
    cid, _ = await ids(session)
    assert tr.select_one("a")["href"] == f"/plus/clients/{cid}/history#payment-{payment.id}"
    samples = await scrape(client)
    assert value(samples, "monitorpay_disputes_open", status="needs_response") == 1
    assert value(samples, "monitorpay_disputes_open_cents", status="needs_response") == 18201
    assert value(samples, "monitorpay_disputes_open", status="under_review") == 0


async def test_agents_get_neither_the_list_nor_the_sandbox_control(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock
) -> None:
    await disputed(client, app, clock)
    row = await only_dispute(app)
    await sign_in_staff(client)  # an agent
    status, page = await get_page(client, "/plus")
    assert not page.has('nav a[href="/plus/disputes"]')
    assert (await client.get("/plus/disputes")).status_code == 403
    r = await client.post(
        f"/plus/disputes/{row.id}/sandbox",
        data={"_csrf_token": page.csrf(), "outcome": "lost"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert (await fresh(app, Dispute, row.id)).status == "needs_response"
    # Signed out: to the sign-in page; without CSRF: refused.
    await client.post("/plus/logout", data={"_csrf_token": page.csrf()})
    r = await client.get("/plus/disputes", follow_redirects=False)
    assert r.status_code in (302, 303) and "/plus/login" in r.headers["location"]
    await sign_in_staff(client, *SUPERVISOR)
    r = await client.post(f"/plus/disputes/{row.id}/sandbox", data={"outcome": "lost"})
    assert r.status_code == 403
    assert (await fresh(app, Dispute, row.id)).status == "needs_response"


async def test_losing_it_in_the_sandbox_moves_the_ledger_and_the_report_apart_from_refunds(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock, session: Any
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, _ = await ids(session)
    before = (await get_page(client, f"/plus/reports?{TODAY}"))[1]
    balance_before = (await get_page(client, history(cid)))[1].text("#ledger-balance")
    payment = await disputed(client, app, clock)
    opened = (await get_page(client, f"/plus/reports?{TODAY}"))[1]
    assert opened.text("#total-disputed") == "$182.01 (1)"
    assert opened.text("#total-lost") == "$0.00 (0)"
    assert opened.text("#total-refunded") == before.text("#total-refunded")

    row = await only_dispute(app)
    r = await decide(client, row.id, "lost")
    assert r.status_code == 303 and r.headers["location"] == "/plus/disputes?decided=lost"
    status, page = await get_page(client, r.headers["location"])
    assert "was lost" in page.text("#dispute-notice")
    assert not page.all("#table-disputes-due tbody tr")
    assert page.one(f"#dispute-{row.id}")["data-status"] == "lost"
    assert not page.all(f"#dispute-{row.id} form")  # closed: no control

    paid = await fresh(app, Payment, payment.id)
    assert paid.status == "refunded" and paid.refunded_cents == 18201
    assert app.state.gateway.lost_cents(payment.processor_ref) == 18201
    [given] = await rows(app, select(Refund).where(col(Refund.payment_id) == payment.id))
    assert given.kind == "dispute" and given.status == "succeeded"
    status, page = await get_page(client, history(cid))
    assert page.text("#ledger-balance") == balance_before
    assert page.one(f"#payment-{payment.id} .dispute-badge").get_text(strip=True) == "Dispute lost"

    after = (await get_page(client, f"/plus/reports?{TODAY}"))[1]
    assert after.text("#total-lost") == "$182.01 (1)"
    assert after.text("#total-disputed") == "$182.01 (1)"
    assert after.text("#total-refunded") == before.text("#total-refunded")  # not a refund
    assert after.text("#total-collected") == opened.text("#total-collected")
    cents = {k: _cents(after.text(f"#total-{k}")) for k in ("collected", "refunded", "net")}
    assert cents["net"] == cents["collected"] - cents["refunded"] - 18201
    [link_row] = [
        tr for tr in after.all("#table-channel tbody tr") if "Secure Payment Link" in tr.get_text()
    ]
    assert [td.get_text(strip=True) for td in link_row.select("td")][7:] == [
        "1",
        "$182.01",
        "$182.01",
    ]
    csv_rows = (await client.get(f"/plus/reports.csv?{TODAY}")).text.splitlines()
    header = csv_rows[0].split(",")
    total = dict(zip(header, csv_rows[1].split(","), strict=True))
    assert (total["disputes"], total["disputed"]) == ("1", "182.01")
    assert (total["disputes_lost"], total["lost_to_disputes"]) == ("1", "182.01")
    samples = await scrape(client)
    assert value(samples, "monitorpay_disputes_open", status="needs_response") == 0
    # Deciding it again: it is closed.
    assert (await decide(client, row.id, "won")).status_code == 404


async def test_winning_it_in_the_sandbox_keeps_the_money(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock, session: Any
) -> None:
    payment = await disputed(client, app, clock)
    row = await only_dispute(app)
    await sign_in_staff(client, *SUPERVISOR)
    r = await decide(client, row.id, "won")
    assert r.status_code == 303
    assert (await fresh(app, Dispute, row.id)).status == "won"
    paid = await fresh(app, Payment, payment.id)
    assert paid.status == "succeeded" and paid.refunded_cents == 0
    assert app.state.gateway.lost_cents(payment.processor_ref) == 0
    assert (await decide(client, row.id, "lost")).status_code == 404  # closed already
    assert (await decide(client, row.id, "maybe")).status_code == 400
    cid, _ = await ids(session)
    status, page = await get_page(client, history(cid))
    assert page.one(f"#payment-{payment.id} .dispute-badge").get_text(strip=True) == "Dispute: Won"


async def test_the_list_puts_the_soonest_evidence_due_first(
    client: AsyncTestClient[Any], app: Litestar, clock: FixedClock
) -> None:
    """Four disputes on seeded payments: due in 9 days, in 2, none given, and one under review
    (not needing a response). The list: 2 days, 9 days, no due date; the other below."""
    maker = app.state.sessionmaker
    async with maker() as s:
        settled = list(
            (
                await s.execute(
                    select(Payment)
                    .where(col(Payment.status) == "succeeded")
                    .order_by(col(Payment.id))
                    .limit(4)
                )
            ).scalars()
        )
    plans = [(9, "needs_response"), (2, "warning_needs_response"), (None, "needs_response")]
    plans.append((1, "under_review"))
    for n, (payment, (days, status)) in enumerate(zip(settled, plans, strict=True)):
        facts = DisputeFacts(
            ref=f"du_test_{n}",
            charge_ref=None,
            payment_ref=payment.processor_ref,
            amount_cents=payment.amount_cents,
            reason="product_not_received",
            status=status,
            evidence_due_by=NOW + timedelta(days=days) if days else None,
            opened_at=NOW,
            livemode=False,
        )
        assert await disputes.record(maker, clock, payment, facts, NOW) == "opened"
    await sign_in_staff(client, *SUPERVISOR)
    status, page = await get_page(client, "/plus/disputes")
    due = [tr["data-ref"] for tr in page.all("#table-disputes-due tbody tr")]
    assert due == ["du_test_1", "du_test_0", "du_test_2"]
    assert "No due date" in page.one("#table-disputes-due tbody tr[data-ref=du_test_2]").get_text()
    assert "Inquiry: needs response" in page.text("#table-disputes-due")
    assert [tr["data-ref"] for tr in page.all("#table-disputes-other tbody tr")] == ["du_test_3"]
    assert "Product not received" in page.text("#table-disputes-due")


def _cents(text: str) -> int:
    digits = text.split(" ")[0].replace("$", "").replace(",", "").replace("−", "-")
    return round(float(digits) * 100)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_report_sums_disputes_apart_from_refunds_on_both_databases(db_url: str) -> None:
    """A seeded payment disputed and lost today, through the service (no processor: seeded
    payments never were charged): the report counts it as disputed and lost, not refunded."""
    engine = make_engine(db_url, poolclass=NullPool)
    maker = make_sessionmaker(engine)
    clock = FixedClock(NOW)
    try:
        async with maker() as s:
            locations = await reports.locations(s)
            span = parse_range("2026-11-25", "2026-11-25", NOW.date())
            before = await reports.build(s, locations=locations, location=None, span=span, now=NOW)
            payment = (
                await s.execute(
                    select(Payment)
                    .where(col(Payment.status) == "succeeded")
                    .order_by(col(Payment.id))
                    .limit(1)
                )
            ).scalar_one()
        facts = DisputeFacts(
            ref="du_report",
            charge_ref=None,
            payment_ref=payment.processor_ref,
            amount_cents=payment.amount_cents,
            reason="fraudulent",
            status="needs_response",
            evidence_due_by=None,
            opened_at=NOW,
            livemode=False,
        )
        assert await disputes.record(maker, clock, payment, facts, NOW) == "opened"
        lost = replace(facts, status="lost")
        assert (
            await disputes.record(maker, clock, payment, lost, NOW + timedelta(minutes=1)) == "lost"
        )
        async with maker() as s:
            after = await reports.build(s, locations=locations, location=None, span=span, now=NOW)
    finally:
        await engine.dispose()
    b, a = before.money.total, after.money.total
    assert (a.disputes - b.disputes, a.disputed_cents - b.disputed_cents) == (
        1,
        payment.amount_cents,
    )
    assert (a.lost - b.lost, a.lost_cents - b.lost_cents) == (1, payment.amount_cents)
    assert (a.refunds, a.refunded_cents) == (b.refunds, b.refunded_cents)
    assert a.net_cents == b.net_cents - payment.amount_cents
    by_channel = {r.key: r for r in after.money.by_channel}
    assert by_channel[payment.channel].lost_cents >= payment.amount_cents
