"""Disputes from Stripe's signed events (the real SDK against the fake Stripe, events posted
signed to /webhooks/stripe): opened on the payment, moved on, lost (the money given back the
way a full refund gives it back, the books balanced against Stripe's ledger) or won (nothing
moved); late, twice and out of order (closed before created) without moving a closed dispute
back or giving money back twice."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlmodel import col

from app.store.models import Dispute, Invoice, Payment, PaymentAllocation, ProcessedEvent, Refund
from app.store.models import Vehicle as VehicleRow
from tests.conftest import get_page, sign_in_staff
from tests.fakes.fake_stripe import FakeStripe
from tests.integration.test_history import history, ids
from tests.integration.test_pay import make_link
from tests.integration.test_refunds import fresh, rows
from tests.integration.test_stripe_flow import (  # noqa: F401 - fixtures
    client,
    fake,
    payments_of,
    post_webhook,
    settings,
    submit,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
SUPERVISOR = ("supervisor@demo.test", "demo-supervisor-pass")


def dispute_event(kind: str, dispute: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    """A `charge.dispute.*` event as Stripe sends it: a new id, the Dispute as `data.object`."""
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "api_version": "2024-06-20",
        "type": kind,
        "created": created if created is not None else int(dispute["created"]) + 60,
        "livemode": False,
        "data": {"object": dict(dispute)},
    }


def sent(fake: FakeStripe, kind: str) -> dict[str, Any]:
    """The last event of `kind` the fake recorded (what Stripe would post)."""
    return next(e for e in reversed(fake.events) if e["type"] == kind)


async def disputed_payment(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> tuple[str, Payment, dict[str, Any]]:
    """A link paid with Stripe's dispute test card: charged, and Stripe opened a dispute."""
    token = await make_link(app)
    r = await submit(client, token, "pm_card_createDispute")
    assert r.status_code == 303, r.text
    [payment] = await payments_of(app, token)
    assert payment.status == "succeeded" and payment.processor_ref
    return token, payment, fake.dispute_of(payment.processor_ref)


async def dispute_rows(app: Litestar) -> list[Dispute]:
    return await rows(app, select(Dispute).order_by(col(Dispute.id)))


async def dispute_refunds(app: Litestar) -> list[Refund]:
    return await rows(app, select(Refund).where(col(Refund.kind) == "dispute"))


async def test_a_dispute_opens_on_the_payment_and_losing_it_gives_the_money_back_like_a_full_refund(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, session: Any
) -> None:
    cid, vehicles = await ids(session)
    f150 = vehicles["F-150"]
    async with app.state.sessionmaker() as s:
        paid_through_before = (await s.get(VehicleRow, f150)).paid_through  # type: ignore[union-attr]
    await sign_in_staff(client, *SUPERVISOR)
    balance_before = (await get_page(client, history(cid)))[1].text("#ledger-balance")
    token, payment, dispute = await disputed_payment(client, app, fake)

    r = await post_webhook(client, sent(fake, "charge.dispute.created"))
    assert r.status_code == 200 and r.json()["result"] == "opened"
    [row] = await dispute_rows(app)
    assert (row.processor_ref, row.payment_id, row.client_id) == (dispute["id"], payment.id, cid)
    assert (row.status, row.reason, row.amount_cents) == ("needs_response", "fraudulent", 18201)
    assert row.evidence_due_by is not None
    assert int(row.evidence_due_by.timestamp()) == dispute["evidence_details"]["due_by"]
    # The money is still collected while the dispute runs: shown as disputed, nothing reopened.
    assert (await fresh(app, Payment, payment.id)).status == "succeeded"
    status, page = await get_page(client, history(cid))
    pay_row = page.one(f"#payment-{payment.id}")
    assert pay_row.select_one(".dispute-badge").get_text(strip=True) == "Disputed: Needs response"
    assert not pay_row.select_one("a.refund-link")  # a disputed charge is not refunded
    assert page.text("#ledger-balance") != balance_before

    # Evidence sent, then the bank decides against us.
    r = await post_webhook(
        client,
        dispute_event("charge.dispute.updated", fake.update_dispute(dispute["id"], "under_review")),
    )
    assert r.json()["result"] == "updated"
    fake.close_dispute(dispute["id"], "lost")
    r = await post_webhook(client, sent(fake, "charge.dispute.closed"))
    assert r.json()["result"] == "lost"

    # As a full refund: the payment refunded, the invoices it settled given back (the period
    # void, the F-150 paid through where it was), the balance where it started.
    payment = await fresh(app, Payment, payment.id)
    assert payment.status == "refunded" and payment.refunded_cents == 18201
    [given] = await dispute_refunds(app)
    assert (given.status, given.amount_cents, given.payment_id) == ("succeeded", 18201, payment.id)
    assert given.reason == "Dispute lost: Fraudulent"
    allocs = await rows(
        app, select(PaymentAllocation).where(col(PaymentAllocation.payment_id) == payment.id)
    )
    assert sum(a.amount_cents for a in allocs) == 0
    settled = await rows(
        app, select(Invoice).where(col(Invoice.id).in_({a.invoice_id for a in allocs}))
    )
    assert {i.kind: i.status for i in settled} == {"charge": "open", "monitoring": "void"}
    async with app.state.sessionmaker() as s:
        assert (await s.get(VehicleRow, f150)).paid_through == paid_through_before  # type: ignore[union-attr]
    status, page = await get_page(client, history(cid))
    assert page.text("#ledger-balance") == balance_before
    assert page.one(f"#payment-{payment.id} .dispute-badge").get_text(strip=True) == "Dispute lost"
    assert "Refund — Dispute lost: Fraudulent" in page.one(f"#refund-{given.id}").get_text()
    assert (await fresh(app, Dispute, row.id)).closed_at is not None
    # The books fixture checks the rest against Stripe's ledger (the dispute took 18201 back).


async def test_closed_before_created_and_late_repeats_never_reopen_or_give_back_twice(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    _, payment, dispute = await disputed_payment(client, app, fake)
    created = sent(fake, "charge.dispute.created")
    lost = dispute_event("charge.dispute.closed", fake.close_dispute(dispute["id"], "lost"))
    older = dispute_event(
        "charge.dispute.updated", {**dispute, "status": "under_review"}, created=lost["created"] - 1
    )

    # The closing event arrives first: the dispute is written lost, the money given back once.
    assert (await post_webhook(client, lost)).json()["result"] == "lost"
    # Then the older ones, and the closing one again (Stripe retries): nothing moves.
    assert (await post_webhook(client, created)).json()["result"] == "stale"
    assert (await post_webhook(client, older)).json()["result"] == "stale"
    assert (await post_webhook(client, lost)).json()["result"] == "duplicate"
    again = {**lost, "id": f"evt_{secrets.token_hex(8)}"}  # the same news under a new id
    assert (await post_webhook(client, again)).json()["result"] == "stale"

    [row] = await dispute_rows(app)
    assert row.status == "lost" and row.opened_at.timestamp() == dispute["created"]
    assert len(await dispute_refunds(app)) == 1
    assert (await fresh(app, Payment, payment.id)).refunded_cents == payment.amount_cents


async def test_a_won_dispute_keeps_the_money_and_a_duplicate_is_handled_once(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, session: Any
) -> None:
    cid, _ = await ids(session)
    _, payment, dispute = await disputed_payment(client, app, fake)
    created = sent(fake, "charge.dispute.created")
    assert (await post_webhook(client, created)).json()["result"] == "opened"
    assert (await post_webhook(client, created)).json()["result"] == "duplicate"
    review = fake.update_dispute(dispute["id"], "under_review")
    assert (await post_webhook(client, dispute_event("charge.dispute.updated", review))).json()[
        "result"
    ] == "updated"
    won = dispute_event("charge.dispute.closed", fake.close_dispute(dispute["id"], "won"))
    assert (await post_webhook(client, won)).json()["result"] == "won"
    # An update sent before the decision, arriving after it, does not reopen it.
    late = dispute_event("charge.dispute.updated", review, created=won["created"] - 5)
    assert (await post_webhook(client, late)).json()["result"] == "stale"

    [row] = await dispute_rows(app)
    assert row.status == "won"
    assert await dispute_refunds(app) == []
    payment = await fresh(app, Payment, payment.id)
    assert payment.status == "succeeded" and payment.refunded_cents == 0
    await sign_in_staff(client, *SUPERVISOR)
    status, page = await get_page(client, history(cid))
    assert page.one(f"#payment-{payment.id} .dispute-badge").get_text(strip=True) == "Dispute: Won"
    assert page.has(f"#payment-{payment.id} a.refund-link")  # refundable again


async def test_a_dispute_for_a_payment_we_do_not_know_is_not_remembered(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    stray = {
        "id": "du_stray",
        "object": "dispute",
        "amount": 5000,
        "charge": "ch_elsewhere",
        "payment_intent": "pi_elsewhere",
        "created": 1_780_000_000,
        "evidence_details": {"due_by": 1_780_600_000},
        "livemode": False,
        "reason": "general",
        "status": "needs_response",
    }
    event = dispute_event("charge.dispute.created", stray)
    assert (await post_webhook(client, event)).json()["result"] == "unknown_payment"
    assert await dispute_rows(app) == []
    async with app.state.sessionmaker() as s:
        assert (
            await s.execute(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(col(ProcessedEvent.event_id) == event["id"])
            )
        ).scalar_one() == 0
    # An unknown status is not acted on either.
    odd = dispute_event("charge.dispute.created", {**stray, "status": "on_fire"})
    assert (await post_webhook(client, odd)).json()["result"] == "ignored"


async def test_a_dispute_on_a_payment_whose_answer_we_have_not_had_waits_for_it(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    """Our record says unknown (the charge's answer was lost) when Stripe's dispute arrives: it is
    not remembered, so a lost dispute cannot find a payment that holds nothing yet (and give
    nothing back); once reconcile has settled the payment, the next delivery opens it."""
    _, payment, dispute = await disputed_payment(client, app, fake)
    async with app.state.sessionmaker() as s:  # as it stood before reconcile heard the answer
        await s.execute(
            update(Payment).where(col(Payment.id) == payment.id).values(status="unknown")
        )
        await s.commit()
    event = sent(fake, "charge.dispute.created")
    assert (await post_webhook(client, event)).json()["result"] == "unknown_payment"
    assert await dispute_rows(app) == []
    async with app.state.sessionmaker() as s:  # reconcile settled it
        await s.execute(
            update(Payment).where(col(Payment.id) == payment.id).values(status="succeeded")
        )
        await s.commit()
    assert (await post_webhook(client, event)).json()["result"] == "opened"
    [row] = await dispute_rows(app)
    assert (row.processor_ref, row.payment_id) == (dispute["id"], payment.id)


async def test_the_disputes_page_links_each_to_stripes_dashboard_and_has_no_sandbox_controls(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    _, _, dispute = await disputed_payment(client, app, fake)
    await post_webhook(client, sent(fake, "charge.dispute.created"))
    await sign_in_staff(client, *SUPERVISOR)
    status, page = await get_page(client, "/plus/disputes")
    assert status == 200
    [row] = page.all("#table-disputes-due tbody tr")
    link = row.select_one(f'a[href="https://dashboard.stripe.com/test/disputes/{dispute["id"]}"]')
    assert link is not None and link.get_text(" ", strip=True).startswith("Respond in Stripe")
    assert not row.select("form")
    [db_row] = await dispute_rows(app)
    r = await client.post(
        f"/plus/disputes/{db_row.id}/sandbox",
        data={"_csrf_token": page.csrf(), "outcome": "lost"},
        follow_redirects=False,
    )
    assert r.status_code == 404  # the sandbox's bank is not Stripe's
    assert (await fresh(app, Dispute, db_row.id)).status == "needs_response"
