"""StripeGateway through the real stripe SDK against a fake Stripe API on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from app.adapters.payments.port import CardDetails, ChargeResult
from app.adapters.payments.stripe_gateway import InvalidWebhook, StripeGateway, brand_name
from app.domain.errors import CardDeclined, GatewayUnavailable, InvalidPaymentMethod
from tests.fakes.fake_stripe import FakeStripe, sign_webhook

WEBHOOK_SECRET = "whsec_test_fake"

# stripe 16 hands httpx the form body as a str (`data=`), which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeStripe) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway(fake.api_key, WEBHOOK_SECRET, api_base=fake.url)
    yield gw
    await gw.aclose()


@pytest.fixture
async def no_retry_gateway(fake: FakeStripe) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway(
        fake.api_key, WEBHOOK_SECRET, api_base=fake.url, max_network_retries=0, timeout_seconds=5
    )
    yield gw
    await gw.aclose()


async def _charge(gw: StripeGateway, pm: str = "pm_card_visa", **kw: object) -> ChargeResult:
    args: dict[str, object] = {
        "amount_cents": 8500,
        "payment_method": pm,
        "idempotency_key": "pay-1-attempt-1",
        "description": "Monitor fee",
        "metadata": {"payment_id": "17"},
    }
    args.update(kw)
    return await gw.charge(**args)  # type: ignore[arg-type]


async def test_charge_succeeds_with_card_details(gateway: StripeGateway, fake: FakeStripe) -> None:
    result = await _charge(gateway)
    assert result.status == "succeeded"
    assert result.processor_ref.startswith("pi_")
    assert result.amount_cents == 8500
    assert result.card == CardDetails("Visa", "4242", 12, 2034)
    assert result.client_secret is None
    assert len(fake.charges) == 1


async def test_charge_sends_amount_currency_metadata_and_idempotency_key(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    await _charge(gateway, "pm_card_mastercard", amount_cents=12345, idempotency_key="key-abc")
    [req] = fake.requests_to("POST", "/v1/payment_intents")
    assert req.idempotency_key == "key-abc"
    assert req.headers["authorization"] == f"Bearer {fake.api_key}"
    assert req.form["amount"] == "12345"
    assert req.form["currency"] == "usd"
    assert req.form["payment_method"] == "pm_card_mastercard"
    assert req.form["confirm"] == "true"
    assert req.form["description"] == "Monitor fee"
    assert req.nested("metadata") == {"payment_id": "17"}
    assert "latest_charge" in req.nested("expand").values()
    assert req.form["automatic_payment_methods[enabled]"] == "true"
    assert req.form["automatic_payment_methods[allow_redirects]"] == "never"
    assert "off_session" not in req.form
    assert "customer" not in req.form


async def test_retry_with_same_key_charges_once(gateway: StripeGateway, fake: FakeStripe) -> None:
    first = await _charge(gateway, idempotency_key="same-key")
    second = await _charge(gateway, idempotency_key="same-key")
    assert first == second
    assert len(fake.charges) == 1
    third = await _charge(gateway, idempotency_key="other-key")
    assert third.processor_ref != first.processor_ref
    assert len(fake.charges) == 2


async def test_transient_500_is_retried_with_the_same_key(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.fail_500 = 1
    result = await _charge(gateway, idempotency_key="retry-key")
    assert result.status == "succeeded"
    sent = fake.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in sent] == ["retry-key", "retry-key"]
    assert len(fake.charges) == 1


async def test_off_session_charge_sends_customer(gateway: StripeGateway, fake: FakeStripe) -> None:
    saved = await gateway.save_card(
        payment_method="pm_card_visa", customer=None, email="a@example.com", name="Ann Lee"
    )
    result = await _charge(gateway, customer=saved.customer_ref, off_session=True)
    assert result.status == "succeeded"
    [req] = fake.requests_to("POST", "/v1/payment_intents")
    assert req.form["customer"] == saved.customer_ref
    assert req.form["off_session"] == "true"
    assert not any(k.startswith("automatic_payment_methods") for k in req.form)


@pytest.mark.parametrize(
    ("pm", "code", "message"),
    [
        (
            "pm_card_chargeDeclined",
            "generic_decline",
            "Your card was declined. Try another card or call your bank.",
        ),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds. Try another card.",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            "Your card has expired. Check the expiry date or use another card.",
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            "Your card's security code is incorrect. Check it and try again.",
        ),
    ],
)
async def test_declines_map_to_card_declined(
    gateway: StripeGateway, fake: FakeStripe, pm: str, code: str, message: str
) -> None:
    with pytest.raises(CardDeclined) as caught:
        await _charge(gateway, pm)
    assert caught.value.code == code
    assert caught.value.message == message
    assert caught.value.processor_ref is not None
    assert caught.value.processor_ref.startswith("pi_")
    assert fake.charges == []


async def test_off_session_authentication_required_is_a_decline(
    gateway: StripeGateway,
) -> None:
    saved = await gateway.save_card(
        payment_method="pm_card_authenticationRequired",
        customer=None,
        email="a@example.com",
        name="Ann Lee",
    )
    with pytest.raises(CardDeclined) as caught:
        await _charge(
            gateway,
            "pm_card_authenticationRequired",
            customer=saved.customer_ref,
            off_session=True,
        )
    assert caught.value.code == "authentication_required"
    assert "confirm this payment" in caught.value.message


async def test_requires_action_returns_client_secret(gateway: StripeGateway) -> None:
    result = await _charge(gateway, "pm_card_authenticationRequired")
    assert result.status == "requires_action"
    assert result.client_secret == f"{result.processor_ref}_secret_fake"
    again = await gateway.retrieve(result.processor_ref)
    assert again.status == "requires_action"


async def test_processing_status(gateway: StripeGateway) -> None:
    result = await _charge(gateway, "pm_card_processing")
    assert result.status == "processing"


async def test_retrieve_returns_card(gateway: StripeGateway, fake: FakeStripe) -> None:
    charged = await _charge(gateway)
    result = await gateway.retrieve(charged.processor_ref)
    assert result == charged
    [req] = fake.requests_to("GET", f"/v1/payment_intents/{charged.processor_ref}")
    assert "latest_charge" in req.nested("expand").values()


async def test_unknown_payment_method_is_invalid(gateway: StripeGateway) -> None:
    with pytest.raises(InvalidPaymentMethod):
        await _charge(gateway, "pm_nope")
    with pytest.raises(InvalidPaymentMethod):
        await gateway.describe_payment_method("pm_nope")


async def test_server_error_is_unavailable(
    no_retry_gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.fail_500 = 1
    with pytest.raises(GatewayUnavailable):
        await _charge(no_retry_gateway)
    assert fake.charges == []


async def test_dropped_connection_is_unavailable(
    no_retry_gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.drop_connections = 1
    with pytest.raises(GatewayUnavailable):
        await _charge(no_retry_gateway)
    assert fake.charges == []


async def test_unreachable_host_is_unavailable() -> None:
    with FakeStripe() as gone:
        url = gone.url
    gw = StripeGateway("sk_test_fake", WEBHOOK_SECRET, api_base=url, max_network_retries=0)
    try:
        with pytest.raises(GatewayUnavailable):
            await _charge(gw)
    finally:
        await gw.aclose()


async def test_describe_payment_method(gateway: StripeGateway) -> None:
    assert await gateway.describe_payment_method("pm_card_mastercard") == CardDetails(
        "Mastercard", "4444", 12, 2034
    )
    amex = await gateway.describe_payment_method("pm_card_amex")
    assert amex.brand == "American Express"


def test_brand_names() -> None:
    assert brand_name("visa") == "Visa"
    assert brand_name("discover") == "Discover"
    assert brand_name("cartes_bancaires") == "Cartes Bancaires"


async def test_save_card_creates_customer_and_attaches(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    saved = await gateway.save_card(
        payment_method="pm_card_visa", customer=None, email="a@example.com", name="Ann Lee"
    )
    assert saved.customer_ref.startswith("cus_")
    assert saved.payment_method_ref == "pm_card_visa"
    assert saved.card == CardDetails("Visa", "4242", 12, 2034)
    [created] = fake.requests_to("POST", "/v1/customers")
    assert created.form == {"email": "a@example.com", "name": "Ann Lee"}
    [attach] = fake.requests_to("POST", "/v1/payment_methods/pm_card_visa/attach")
    assert attach.form == {"customer": saved.customer_ref}
    assert fake.payment_methods["pm_card_visa"]["customer"] == saved.customer_ref

    again = await gateway.save_card(
        payment_method="pm_card_mastercard",
        customer=saved.customer_ref,
        email="a@example.com",
        name="Ann Lee",
    )
    assert again.customer_ref == saved.customer_ref
    assert len(fake.requests_to("POST", "/v1/customers")) == 1


async def test_remove_card_detaches(gateway: StripeGateway, fake: FakeStripe) -> None:
    saved = await gateway.save_card(
        payment_method="pm_card_visa", customer=None, email="a@example.com", name="Ann Lee"
    )
    await gateway.remove_card(saved.payment_method_ref)
    assert fake.payment_methods["pm_card_visa"]["customer"] is None
    assert len(fake.requests_to("POST", "/v1/payment_methods/pm_card_visa/detach")) == 1
    await gateway.remove_card(saved.payment_method_ref)  # already detached: still fine
    await gateway.remove_card("pm_gone")  # no such card at Stripe: nothing left to remove


async def test_remove_card_server_error_is_unavailable(
    no_retry_gateway: StripeGateway, fake: FakeStripe
) -> None:
    await no_retry_gateway.save_card(
        payment_method="pm_card_visa", customer=None, email="a@example.com", name="Ann Lee"
    )
    fake.fail_500 = 1
    with pytest.raises(GatewayUnavailable):
        await no_retry_gateway.remove_card("pm_card_visa")
    assert fake.payment_methods["pm_card_visa"]["customer"] is not None


EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "data": {
        "object": {
            "id": "pi_1",
            "object": "payment_intent",
            "amount": 8500,
            "amount_received": 8500,
            "metadata": {"payment_id": "17"},
            "payment_method": "pm_card_visa",
        }
    },
}


def test_verify_webhook_accepts_signed_payload(gateway: StripeGateway) -> None:
    payload = json.dumps(EVENT).encode()
    event = gateway.verify_webhook(payload, sign_webhook(payload, WEBHOOK_SECRET))
    assert event == EVENT
    assert type(event) is dict
    assert type(event["data"]["object"]["metadata"]) is dict


def test_verify_webhook_rejects_bad_signature(gateway: StripeGateway) -> None:
    payload = json.dumps(EVENT).encode()
    with pytest.raises(InvalidWebhook) as caught:
        gateway.verify_webhook(payload, sign_webhook(payload, "whsec_wrong"))
    assert caught.value.message == "Invalid webhook signature."
    for header in ("", "garbage", "t=1,v0=abc"):
        with pytest.raises(InvalidWebhook):
            gateway.verify_webhook(payload, header)


def test_verify_webhook_rejects_tampered_payload(gateway: StripeGateway) -> None:
    payload = json.dumps(EVENT).encode()
    header = sign_webhook(payload, WEBHOOK_SECRET)
    tampered = payload.replace(b"8500", b"1")
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(tampered, header)


def test_verify_webhook_rejects_old_timestamp(gateway: StripeGateway) -> None:
    payload = json.dumps(EVENT).encode()
    old = sign_webhook(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(payload, old)
    recent = sign_webhook(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 200)
    assert gateway.verify_webhook(payload, recent)["id"] == "evt_1"


def test_verify_webhook_needs_a_secret(fake: FakeStripe) -> None:
    gw = StripeGateway(fake.api_key, "", api_base=fake.url)
    payload = json.dumps(EVENT).encode()
    with pytest.raises(InvalidWebhook):
        gw.verify_webhook(payload, sign_webhook(payload, ""))


def test_verify_webhook_rejects_signed_non_json(gateway: StripeGateway) -> None:
    payload = b"not json"
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(payload, sign_webhook(payload, WEBHOOK_SECRET))
