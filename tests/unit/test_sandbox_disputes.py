"""The sandbox's card bank: 4000 0000 0000 0259 is charged, then disputed; the dispute's
events wait until the app takes them, once each; lost takes the money off the charge; a
disputed charge cannot be refunded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.adapters.payments.sandbox import DISPUTE_CARD, SandboxGateway
from app.clock import FixedClock
from app.domain.errors import GatewayError

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


async def charged() -> tuple[SandboxGateway, str]:
    g = SandboxGateway(FixedClock(NOW))
    pm = g.tokenize(number=DISPUTE_CARD, exp="12/30", cvc="123", postal_code="78701")
    assert pm.startswith("pm_sandbox_visa_0259_")
    result = await g.charge(
        amount_cents=18201, payment_method=pm, idempotency_key="k1", description="x"
    )
    assert result.status == "succeeded"
    again = await g.charge(
        amount_cents=18201, payment_method=pm, idempotency_key="k1", description="x"
    )
    assert again == result  # a retry opens no second dispute
    return g, result.processor_ref


async def test_the_dispute_card_charges_then_a_dispute_is_queued_as_stripe_would_post_it() -> None:
    g, intent = await charged()
    [event] = g.undelivered_events()
    assert event["type"] == "charge.dispute.created" and event["id"].startswith("evt_sandbox_")
    dispute = event["data"]["object"]
    assert dispute["object"] == "dispute" and dispute["payment_intent"] == intent
    assert (dispute["amount"], dispute["reason"], dispute["status"]) == (
        18201,
        "fraudulent",
        "needs_response",
    )
    due = datetime.fromtimestamp(dispute["evidence_details"]["due_by"], UTC)
    assert due == NOW + timedelta(days=7)
    g.mark_delivered(event["id"])
    assert g.undelivered_events() == []


async def test_a_disputed_charge_cannot_be_refunded_and_a_lost_one_is_taken_back() -> None:
    g, intent = await charged()
    with pytest.raises(GatewayError, match="disputed"):
        await g.refund(processor_ref=intent, amount_cents=100, idempotency_key="r1", reason="x")
    ref = g.disputes()[0]["id"]
    assert g.close_dispute(ref, "lost")
    assert not g.close_dispute(ref, "won")  # closed already
    assert g.lost_cents(intent) == 18201
    kinds = [(e["type"], e["data"]["object"]["status"]) for e in g.undelivered_events()]
    assert kinds == [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.closed", "lost"),
    ]


async def test_a_won_dispute_takes_nothing_and_the_charge_can_be_refunded_again() -> None:
    g, intent = await charged()
    assert g.close_dispute(g.disputes()[0]["id"], "won")
    assert g.lost_cents(intent) == 0
    done = await g.refund(processor_ref=intent, amount_cents=100, idempotency_key="r1", reason="x")
    assert done.amount_cents == 100
