"""StripeGateway when Stripe fails after doing the work, and the calls that resolve it: lookup,
cancel and refund. The real stripe SDK against the fake Stripe API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import stripe

from app.adapters.payments.port import CardDetails, ChargeResult, RefundResult
from app.adapters.payments.stripe_gateway import StripeGateway
from app.domain.errors import CardDeclined, GatewayError, GatewayUnavailable, OutcomeUnknown
from tests.fakes.fake_stripe import FakeStripe

# stripe 16 hands httpx the form body as a str (`data=`), which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

VISA = CardDetails("Visa", "4242", 12, 2034)


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK retries at once instead of backing off (0.5 s and more) between attempts."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.0)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeStripe) -> AsyncIterator[StripeGateway]:
    """Like production: the SDK retries twice, with the same idempotency key."""
    gw = StripeGateway(fake.api_key, "whsec_test", api_base=fake.url, max_network_retries=2)
    yield gw
    await gw.aclose()


@pytest.fixture
async def once(fake: FakeStripe) -> AsyncIterator[StripeGateway]:
    """One attempt per call and a short timeout, so a slow answer times out."""
    gw = StripeGateway(
        fake.api_key,
        "whsec_test",
        api_base=fake.url,
        max_network_retries=0,
        timeout_seconds=0.1,
    )
    yield gw
    await gw.aclose()


async def _charge(
    gw: StripeGateway, pm: str = "pm_card_visa", *, key: str = "pay-17-1", payment_id: int = 17
) -> ChargeResult:
    return await gw.charge(
        amount_cents=8500,
        payment_method=pm,
        idempotency_key=key,
        description="Monitor fee",
        metadata={"payment_id": str(payment_id)},
    )


async def _refund(gw: StripeGateway, ref: str, cents: int, key: str) -> RefundResult:
    return await gw.refund(
        processor_ref=ref, amount_cents=cents, idempotency_key=key, reason="duplicate fee"
    )


# -- a charge whose answer is lost -----------------------------------------------------------------


async def test_lost_answers_are_outcome_unknown_and_lookup_finds_the_charge(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.lose_answers = 3  # the first attempt and both SDK retries
    with pytest.raises(OutcomeUnknown) as caught:
        await _charge(gateway)
    assert "Don't pay again" in caught.value.message
    sent = fake.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in sent] == ["pay-17-1"] * 3
    [intent] = fake.charges  # Stripe did it once; the retries were replayed

    found = await gateway.lookup(idempotency_key="pay-17-1", payment_id=17)
    assert found == ChargeResult(
        status="succeeded", processor_ref=intent["id"], amount_cents=8500, card=VISA
    )
    [search] = fake.requests_to("GET", "/v1/payment_intents/search")
    assert search.form["query"] == "metadata['payment_id']:'17'"

    again = await _charge(gateway)  # asking again with the same key charges nothing more
    assert again == found
    assert len(fake.charges) == 1 and fake.net_charged(intent["id"]) == 8500


@pytest.mark.parametrize(
    ("knob", "count", "charged"),
    [
        ("fail_500_after", 1, 1),  # Stripe charged, then answered 500
        ("fail_500", 3, 0),  # 500 before the work, retries exhausted: still cannot know
        ("drop_connections", 3, 0),  # reset before the work, retries exhausted
    ],
)
async def test_server_errors_on_a_charge_are_outcome_unknown(
    gateway: StripeGateway,
    once: StripeGateway,
    fake: FakeStripe,
    knob: str,
    count: int,
    charged: int,
) -> None:
    setattr(fake, knob, count)
    with pytest.raises(OutcomeUnknown):
        await _charge(gateway if count > 1 else once)
    assert getattr(fake, knob) == 0
    assert len(fake.charges) == charged
    found = await gateway.lookup(idempotency_key="pay-17-1", payment_id=17)
    assert (found.status if found else None) == ("succeeded" if charged else None)


async def test_a_500_after_the_work_is_retried_and_answered_by_the_replay(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.fail_500_after = 1
    result = await _charge(gateway)
    assert result.status == "succeeded" and result.card == VISA
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 2
    assert len(fake.charges) == 1


async def test_slow_answer_past_the_timeout_is_outcome_unknown(
    once: StripeGateway, gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.fault_path = "/v1/payment_intents"
    fake.slow_seconds = 0.3  # the fake's thread answers late; the client gives up at 0.1 s
    with pytest.raises(OutcomeUnknown):
        await _charge(once)
    [intent] = fake.charges
    found = await gateway.lookup(idempotency_key="pay-17-1", payment_id=17)
    assert found is not None and found.processor_ref == intent["id"]


async def test_rate_limited_charge_is_unavailable(gateway: StripeGateway, fake: FakeStripe) -> None:
    fake.rate_limit = 1
    with pytest.raises(GatewayUnavailable) as caught:
        await _charge(gateway)
    assert "Nothing was charged" in caught.value.message
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1  # 429 is not retried
    assert fake.payment_intents == {}


async def test_faults_can_be_kept_to_one_path(gateway: StripeGateway, fake: FakeStripe) -> None:
    fake.fault_path = "/v1/refunds"
    fake.fail_500 = 1
    paid = await _charge(gateway)  # not hit
    assert fake.fail_500 == 1
    refund = await _refund(gateway, paid.processor_ref, 100, "r1")  # hit, then retried
    assert refund.status == "succeeded" and fake.fail_500 == 0


# -- lookup ----------------------------------------------------------------------------------------


async def test_lookup_of_a_payment_never_charged_is_none(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    await _charge(gateway, payment_id=17)
    assert await gateway.lookup(idempotency_key="pay-18-1", payment_id=18) is None


async def test_lookup_of_a_declined_payment_is_failed(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    with pytest.raises(CardDeclined) as caught:
        await _charge(gateway, "pm_card_chargeDeclined")
    found = await gateway.lookup(idempotency_key="pay-17-1", payment_id=17)
    assert found == ChargeResult(
        status="failed", processor_ref=str(caught.value.processor_ref), amount_cents=8500, card=None
    )


@pytest.mark.parametrize("declined_first", [True, False])
async def test_lookup_prefers_the_succeeded_intent(
    gateway: StripeGateway, fake: FakeStripe, declined_first: bool
) -> None:
    attempts = ["pm_card_chargeDeclined", "pm_card_visa"]
    for n, pm in enumerate(attempts if declined_first else attempts[::-1]):
        try:
            await _charge(gateway, pm, key=f"pay-17-{n}")
        except CardDeclined:
            pass
    found = await gateway.lookup(idempotency_key="pay-17-1", payment_id=17)
    assert found is not None and found.status == "succeeded"
    assert found.processor_ref == fake.charges[0]["id"]


async def test_lookup_misses_an_intent_the_search_index_has_not_caught_up_with(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    paid = await _charge(gateway)
    fake.unsearchable.add(paid.processor_ref)
    assert await gateway.lookup(idempotency_key="pay-17-1", payment_id=17) is None


@pytest.mark.parametrize("knob", ["fail_500", "lose_answers", "rate_limit"])
async def test_lookup_that_cannot_ask_is_unavailable(
    once: StripeGateway, fake: FakeStripe, knob: str
) -> None:
    setattr(fake, knob, 1)
    with pytest.raises(GatewayUnavailable):
        await once.lookup(idempotency_key="pay-17-1", payment_id=17)


# -- cancel ----------------------------------------------------------------------------------------


async def test_cancel_of_an_intent_waiting_for_3ds_is_failed(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired")
    assert waiting.status == "requires_action"
    cancelled = await gateway.cancel(waiting.processor_ref)
    assert cancelled == ChargeResult(
        status="failed", processor_ref=waiting.processor_ref, amount_cents=8500, card=None
    )
    assert fake.payment_intents[waiting.processor_ref]["status"] == "canceled"
    assert await gateway.cancel(waiting.processor_ref) == cancelled  # again: still failed
    assert fake.charges == []


async def test_cancel_after_the_payer_completed_3ds_is_succeeded(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired")
    fake.complete_action(waiting.processor_ref)
    result = await gateway.cancel(waiting.processor_ref)
    assert result == ChargeResult(
        status="succeeded",
        processor_ref=waiting.processor_ref,
        amount_cents=8500,
        card=CardDetails("Visa", "3184", 12, 2034),
    )
    assert fake.payment_intents[waiting.processor_ref]["status"] == "succeeded"
    assert len(fake.charges) == 1


async def test_cancel_whose_answer_is_lost_is_outcome_unknown(
    once: StripeGateway, gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired")
    fake.lose_answers = 1
    with pytest.raises(OutcomeUnknown):
        await once.cancel(waiting.processor_ref)
    assert fake.payment_intents[waiting.processor_ref]["status"] == "canceled"
    assert (await gateway.cancel(waiting.processor_ref)).status == "failed"


# -- refund ----------------------------------------------------------------------------------------


async def test_full_refund(gateway: StripeGateway, fake: FakeStripe) -> None:
    paid = await _charge(gateway)
    refund = await _refund(gateway, paid.processor_ref, 8500, "refund-1")
    assert refund.refund_ref.startswith("re_")
    assert (refund.amount_cents, refund.status) == (8500, "succeeded")
    [req] = fake.requests_to("POST", "/v1/refunds")
    assert req.idempotency_key == "refund-1"
    assert req.form["payment_intent"] == paid.processor_ref
    assert req.form["amount"] == "8500"
    assert req.nested("metadata") == {"reason": "duplicate fee"}
    assert len(fake.charges) == 1 and len(fake.refunds) == 1
    assert fake.net_charged(paid.processor_ref) == 0
    with pytest.raises(GatewayError) as caught:
        await _refund(gateway, paid.processor_ref, 100, "refund-2")
    assert caught.value.message == "This payment has already been refunded in full."


async def test_partial_refunds_up_to_what_remains(gateway: StripeGateway, fake: FakeStripe) -> None:
    paid = await _charge(gateway)
    first = await _refund(gateway, paid.processor_ref, 2000, "refund-1")
    assert (first.amount_cents, first.status) == (2000, "succeeded")
    with pytest.raises(GatewayError) as caught:
        await _refund(gateway, paid.processor_ref, 6501, "refund-2")
    assert caught.value.message == (
        "The refund is more than what is left of this payment. Nothing was refunded."
    )
    assert fake.net_charged(paid.processor_ref) == 6500
    rest = await _refund(gateway, paid.processor_ref, 6500, "refund-3")
    assert rest.refund_ref != first.refund_ref
    assert fake.net_charged(paid.processor_ref) == 0
    assert [r["amount"] for r in fake.refunds] == [2000, 6500]


async def test_same_refund_key_twice_refunds_once(gateway: StripeGateway, fake: FakeStripe) -> None:
    paid = await _charge(gateway)
    first = await _refund(gateway, paid.processor_ref, 3000, "refund-1")
    second = await _refund(gateway, paid.processor_ref, 3000, "refund-1")
    assert first == second
    assert len(fake.refunds) == 1 and fake.net_charged(paid.processor_ref) == 5500


async def test_refund_of_an_unpaid_intent_is_refused(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired")
    with pytest.raises(GatewayError) as caught:
        await _refund(gateway, waiting.processor_ref, 8500, "refund-1")
    assert type(caught.value) is GatewayError
    assert caught.value.message == "The processor refused this refund. Nothing was refunded."
    assert fake.refunds == []


async def test_pending_refund(gateway: StripeGateway, fake: FakeStripe) -> None:
    paid = await _charge(gateway)
    fake.refund_status = "pending"
    refund = await _refund(gateway, paid.processor_ref, 8500, "refund-1")
    assert refund.status == "pending"


@pytest.mark.parametrize("knob", ["lose_answers", "fail_500_after"])
async def test_refund_whose_answer_is_lost_is_outcome_unknown_and_retried_once(
    once: StripeGateway, gateway: StripeGateway, fake: FakeStripe, knob: str
) -> None:
    paid = await _charge(gateway)
    setattr(fake, knob, 1)
    with pytest.raises(OutcomeUnknown):
        await _refund(once, paid.processor_ref, 8500, "refund-1")
    [made] = fake.refunds
    again = await _refund(gateway, paid.processor_ref, 8500, "refund-1")
    assert again == RefundResult(refund_ref=made["id"], amount_cents=8500, status="succeeded")
    assert len(fake.refunds) == 1 and fake.net_charged(paid.processor_ref) == 0


async def test_rate_limited_refund_is_unavailable(gateway: StripeGateway, fake: FakeStripe) -> None:
    paid = await _charge(gateway)
    fake.rate_limit = 1
    with pytest.raises(GatewayUnavailable):
        await _refund(gateway, paid.processor_ref, 8500, "refund-1")
    assert fake.refunds == []
