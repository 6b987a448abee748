"""The processor is the source of truth (stripe mode, the real SDK against a fake Stripe that
fails the way Stripe does): lost answers, webhooks late, twice and out of order, a success that
no longer fits refunded in full, abandoned 3-D Secure cancelled."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.clock import FixedClock
from app.services import reconcile
from app.store.models import AuditEvent, Invoice, Payment, PaymentAllocation, Refund, SmsMessage
from tests.conftest import sign_in_client, sign_in_staff
from tests.fakes.fake_stripe import FakeStripe
from tests.html import parse
from tests.integration.test_account_stripe import pay_form
from tests.integration.test_pay import make_link
from tests.integration.test_stripe_flow import (  # noqa: F401 - fixtures
    TOTAL_CENTS,
    client,
    event,
    fake,
    link_of,
    payments_of,
    post_webhook,
    settings,
    submit,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    import stripe

    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0)


async def count(app: Litestar, model: Any, *where: Any) -> int:
    async with app.state.sessionmaker() as s:
        return int(
            (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


async def test_lost_answer_then_the_signed_success_is_applied_once(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    fake.fault_path, fake.lose_answers = "/v1/payment_intents", 3  # first try and both retries
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}"
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 202, r.text
    assert "confirming your payment" in parse(r.text).text("main")
    assert "othing was charged" not in r.text
    [intent] = fake.charges  # Stripe did charge
    [p] = await payments_of(app, token)
    assert p.status == "unknown" and (await link_of(app, token)).claim_payment_id == p.id

    # Stripe's webhook for that charge arrives: applied, whatever our status said.
    r = await post_webhook(client, event("payment_intent.succeeded", intent))
    assert r.json()["result"] == "applied"
    # ... and again, late and twice: nothing more.
    for _ in range(2):
        assert (await post_webhook(client, event("payment_intent.succeeded", intent))).json()[
            "result"
        ] == "already_final"
    [p] = await payments_of(app, token)
    assert p.status == "succeeded" and p.processor_ref == intent["id"]
    assert (await link_of(app, token)).status == "paid"
    # A second attempt charges nothing.
    r = await client.get(f"/pay/{token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    assert len(fake.charges) == 1


async def test_lost_answer_found_by_reconcile_only_once_stripe_search_sees_it(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, clock: FixedClock
) -> None:
    token = await make_link(app)
    fake.fault_path, fake.lose_answers = "/v1/payment_intents", 3
    assert (await submit(client, token, "pm_card_visa")).status_code == 303
    [intent] = fake.charges
    fake.unsearchable.add(intent["id"])  # Stripe's search index lags behind
    clock.advance(minutes=1)
    # reconcile runs on the app's loop, where the gateway's HTTP pool lives
    maker, gateway = app.state.sessionmaker, app.state.gateway
    report = client.blocking_portal.call(reconcile.run, maker, gateway, clock)
    assert report.payments["not_found_yet"] == 1
    [p] = await payments_of(app, token)
    assert p.status == "unknown"  # not found yet is not "never charged"
    fake.unsearchable.clear()
    report = client.blocking_portal.call(reconcile.run, maker, gateway, clock)
    assert report.payments["applied"] == 1
    [p] = await payments_of(app, token)
    assert p.status == "succeeded" and len(fake.charges) == 1


async def test_a_late_success_for_a_period_paid_another_way_is_refunded_in_full(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    """The link payment waits in 3-D Secure; Stripe's events arrive out of order (a failure
    first, which releases the account); the client pays the same period in My Account; then
    the bank's success arrives for the first. Two charges happened at Stripe: the second
    success no longer fits, so it is refunded in full, shown and texted, never kept."""
    token = await make_link(app)
    f150_periods = (col(Invoice.kind) == "monitoring", col(Invoice.description).contains("F-150"))
    periods_before = await count(app, Invoice, *f150_periods)
    r = await submit(client, token, "pm_card_authenticationRequired")
    assert r.status_code == 200
    [link_payment] = await payments_of(app, token)
    intent_id = str(link_payment.processor_ref)
    failed_first = event("payment_intent.payment_failed", dict(fake.payment_intents[intent_id]))
    assert (await post_webhook(client, failed_first)).json()["result"] == "failed"

    # James pays the F-150's 30 days in My Account meanwhile.
    await sign_in_client(client, "100002")
    page = parse((await client.get("/account/payment")).text)
    form = pay_form(page, "pm_card_visa")
    assert form["days"] == "30"
    r = await client.post("/account/payment", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text

    # The bank finishes the first payer's 3-D Secure after all.
    done = fake.complete_action(intent_id)
    r = await post_webhook(client, event("payment_intent.succeeded", done))
    assert r.json()["result"] == "refunded"
    assert fake.net_charged(intent_id) == 0
    assert [rf["amount"] for rf in fake.refunds] == [TOTAL_CENTS]
    [first] = await payments_of(app, token)
    assert first.status == "refunded" and first.refunded_cents == TOTAL_CENTS
    assert (
        await count(
            app, Refund, col(Refund.payment_id) == first.id, col(Refund.status) == "succeeded"
        )
        == 1
    )
    assert await count(app, PaymentAllocation, col(PaymentAllocation.payment_id) == first.id) == 0
    assert await count(app, SmsMessage, col(SmsMessage.kind) == "refund") == 1
    assert await count(app, AuditEvent, col(AuditEvent.action) == "payment.refunded") == 1
    # The $90.00 invoice was settled once; one monitoring invoice for those 30 days.
    assert await count(app, Invoice, *f150_periods) == periods_before + 1
    # The same success again changes nothing.
    assert (await post_webhook(client, event("payment_intent.succeeded", done))).json()[
        "result"
    ] == "already_final"
    assert len(fake.refunds) == 1
    # Staff see it in Account History.
    assert (
        await count(
            app, Payment, col(Payment.status) == "succeeded", col(Payment.channel) == "portal"
        )
        == 1
    )


async def test_an_abandoned_challenge_is_cancelled_at_stripe_by_reconcile(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, clock: FixedClock
) -> None:
    token = await make_link(app)
    assert (await submit(client, token, "pm_card_authenticationRequired")).status_code == 200
    [p] = await payments_of(app, token)
    clock.advance(minutes=6)
    report = client.blocking_portal.call(
        reconcile.run, app.state.sessionmaker, app.state.gateway, clock
    )
    assert report.payments["abandoned"] == 1
    assert fake.payment_intents[str(p.processor_ref)]["status"] == "canceled"
    [p] = await payments_of(app, token)
    assert p.status == "failed" and p.failure_code == "abandoned"
    assert (await link_of(app, token)).claim_payment_id is None
    # A canceled event arriving later changes nothing; the link can be paid with another card.
    gone = event("payment_intent.canceled", dict(fake.payment_intents[str(p.processor_ref)]))
    assert (await post_webhook(client, gone)).json()["result"] == "already_final"
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    assert len(fake.charges) == 1


async def test_a_challenge_completed_just_as_reconcile_cancels_is_applied_not_dropped(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, clock: FixedClock
) -> None:
    token = await make_link(app)
    assert (await submit(client, token, "pm_card_authenticationRequired")).status_code == 200
    [p] = await payments_of(app, token)
    clock.advance(minutes=6)
    fake.complete_action(str(p.processor_ref))  # the bank said yes a moment before
    report = client.blocking_portal.call(
        reconcile.run, app.state.sessionmaker, app.state.gateway, clock
    )
    assert report.payments["applied"] == 1
    [p] = await payments_of(app, token)
    assert p.status == "succeeded" and len(fake.charges) == 1
    assert (await link_of(app, token)).status == "paid"


async def test_a_success_for_another_amount_is_refunded_in_full_with_a_note_for_staff(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    """Stripe reports a success whose amount is not the payment's (the intent was changed at
    Stripe while 3-D Secure waited): nothing is applied, the whole charge goes back, and staff
    read why in Account History and the audit trail."""
    token = await make_link(app)
    assert (await submit(client, token, "pm_card_authenticationRequired")).status_code == 200
    [p] = await payments_of(app, token)
    intent_id = str(p.processor_ref)
    fake.payment_intents[intent_id]["amount"] = TOTAL_CENTS + 1000
    done = fake.complete_action(intent_id)
    r = await post_webhook(client, event("payment_intent.succeeded", done))
    assert r.json()["result"] == "amount_mismatch_refunded"
    assert fake.net_charged(intent_id) == 0
    assert [rf["amount"] for rf in fake.refunds] == [TOTAL_CENTS + 1000]
    [p] = await payments_of(app, token)
    assert p.status == "refunded" and p.refunded_cents == p.amount_cents == TOTAL_CENTS + 1000
    assert await count(app, PaymentAllocation, col(PaymentAllocation.payment_id) == p.id) == 0
    assert (await link_of(app, token)).status != "paid"
    async with app.state.sessionmaker() as s:
        [refund] = (await s.execute(select(Refund).where(col(Refund.payment_id) == p.id))).scalars()
        [audit] = (
            await s.execute(
                select(AuditEvent).where(col(AuditEvent.action) == "payment.amount_mismatch")
            )
        ).scalars()
    note = "The processor charged $192.01, not the $182.01 this payment was for"
    assert refund.status == "succeeded" and refund.kind == "mismatch" and note in refund.reason
    assert audit.client_id == p.client_id and '"expected_cents": 18201' in audit.detail
    # The same event again changes nothing.
    again = await post_webhook(client, event("payment_intent.succeeded", done))
    assert again.json()["result"] == "already_final" and len(fake.refunds) == 1
    # A supervisor sees the note on the payment in Account History.
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    page = parse((await client.get(f"/plus/clients/{p.client_id}/history")).text)
    assert note in page.text("#ledger")
