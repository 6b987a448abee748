"""StripeGateway through the real stripe SDK against a fake Stripe API on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from litestar.testing import AsyncTestClient

from app.adapters.payments.port import CardDetails, ChargeResult
from app.adapters.payments.stripe_gateway import InvalidWebhook, StripeGateway, brand_name
from app.clock import FixedClock
from app.domain.errors import (
    CardDeclined,
    GatewayUnavailable,
    InvalidPaymentMethod,
    OutcomeUnknown,
)
from app.main import create_app
from tests.conftest import make_settings
from tests.fakes.fake_stripe import (
    RETURN_URL_REQUIRED,
    FakeStripe,
    deliver,
    sign_webhook,
    webhook_request,
)

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
    # Confirmed on the server with no return_url: Stripe refuses unless redirects are off.
    assert req.form["automatic_payment_methods[enabled]"] == "true"
    assert req.form["automatic_payment_methods[allow_redirects]"] == "never"
    assert "return_url" not in req.form


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({}, True),
        ({"automatic_payment_methods": {"enabled": True}}, True),
        ({"automatic_payment_methods": {"enabled": True, "allow_redirects": "always"}}, True),
        ({"automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}, False),
        ({"return_url": "https://example.com/back"}, False),
        ({"payment_method_types": ["card"]}, False),
    ],
)
async def test_fake_refuses_a_confirm_that_could_redirect_without_a_return_url(
    fake: FakeStripe, extra: dict[str, Any], refused: bool
) -> None:
    http = stripe.HTTPXClient()
    client = stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.url}, http_client=http, max_network_retries=0
    )
    params: Any = {
        "amount": 8500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        **extra,
    }
    try:
        if refused:
            with pytest.raises(stripe.InvalidRequestError) as caught:
                await client.v1.payment_intents.create_async(params=params)
            assert caught.value.http_status == 400
            assert caught.value.user_message == RETURN_URL_REQUIRED
            assert fake.payment_intents == {} and fake.charges == []
        else:
            intent = await client.v1.payment_intents.create_async(params=params)
            assert intent.status == "succeeded"
            assert len(fake.charges) == 1
    finally:
        await http.close_async()


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


async def test_server_error_on_a_charge_is_outcome_unknown(
    no_retry_gateway: StripeGateway, fake: FakeStripe
) -> None:
    # A 500 says nothing about whether the charge went through: never "nothing was charged".
    fake.fail_500 = 1
    with pytest.raises(OutcomeUnknown):
        await _charge(no_retry_gateway)
    assert fake.charges == []


async def test_dropped_connection_on_a_charge_is_outcome_unknown(
    no_retry_gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.drop_connections = 1
    with pytest.raises(OutcomeUnknown):
        await _charge(no_retry_gateway)
    assert fake.charges == []


async def test_unreachable_host_on_a_charge_is_outcome_unknown() -> None:
    # The SDK reports every network failure alike (and an earlier attempt may have landed).
    with FakeStripe() as gone:
        url = gone.url
    gw = StripeGateway("sk_test_fake", WEBHOOK_SECRET, api_base=url, max_network_retries=0)
    try:
        with pytest.raises(OutcomeUnknown):
            await _charge(gw)
    finally:
        await gw.aclose()


@pytest.mark.parametrize("fault", ["fail_500", "drop_connections", "rate_limit"])
async def test_reads_that_fail_are_unavailable(
    no_retry_gateway: StripeGateway, fake: FakeStripe, fault: str
) -> None:
    charged = await _charge(no_retry_gateway)
    setattr(fake, fault, 1)
    with pytest.raises(GatewayUnavailable):
        await no_retry_gateway.retrieve(charged.processor_ref)
    setattr(fake, fault, 1)
    with pytest.raises(GatewayUnavailable):
        await no_retry_gateway.describe_payment_method("pm_card_visa")
    assert getattr(fake, fault) == 0


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


def test_verify_webhook_refuses_a_timestamp_ten_minutes_in_the_future(
    gateway: StripeGateway,
) -> None:
    """The SDK only refuses old timestamps; one signed ahead of time is refused too."""
    payload = json.dumps(EVENT).encode()
    for ahead in (301, 600, 10**9):
        header = sign_webhook(payload, WEBHOOK_SECRET, timestamp=int(time.time()) + ahead)
        with pytest.raises(InvalidWebhook):
            gateway.verify_webhook(payload, header)


@pytest.mark.parametrize("offset", [-240, 0, 240])
def test_verify_webhook_accepts_four_minutes_either_way(
    gateway: StripeGateway, offset: int
) -> None:
    payload = json.dumps(EVENT).encode()
    header = sign_webhook(payload, WEBHOOK_SECRET, timestamp=int(time.time()) + offset)
    assert gateway.verify_webhook(payload, header)["id"] == "evt_1"


@pytest.mark.parametrize("written", ["+{t}", " {t}", "0{t}", "{t}.0", "{t}=1"])
def test_verify_webhook_refuses_a_timestamp_written_other_than_plainly(
    gateway: StripeGateway, written: str
) -> None:
    """The SDK reads `t=` with int(), which also takes "+1" or " 1"; the signature covers the
    number, not how it is written, so only the plain form is trusted."""
    payload = json.dumps(EVENT).encode()
    t = int(time.time())
    header = sign_webhook(payload, WEBHOOK_SECRET, timestamp=t)
    loose = header.replace(f"t={t}", "t=" + written.format(t=t), 1)
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(payload, loose)


def test_verify_webhook_needs_a_secret(fake: FakeStripe) -> None:
    gw = StripeGateway(fake.api_key, "", api_base=fake.url)
    payload = json.dumps(EVENT).encode()
    with pytest.raises(InvalidWebhook):
        gw.verify_webhook(payload, sign_webhook(payload, ""))


def test_verify_webhook_rejects_signed_non_json(gateway: StripeGateway) -> None:
    payload = b"not json"
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(payload, sign_webhook(payload, WEBHOOK_SECRET))


# -- webhooks as Stripe delivers them: signed, late, twice, out of order -------------------------


@contextmanager
def webhook_endpoint(gw: StripeGateway) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A listening endpoint that verifies each delivery with `gw`: 200 and kept, or 400."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            payload = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                received.append(gw.verify_webhook(payload, self.headers["Stripe-Signature"]))
                self.send_response(200)
            except InvalidWebhook:
                self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_fake_records_events_as_intents_change(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired", idempotency_key="k1")
    await gateway.cancel(waiting.processor_ref)
    paid = await _charge(gateway, idempotency_key="k2")
    with pytest.raises(CardDeclined):
        await _charge(gateway, "pm_card_chargeDeclined", idempotency_key="k3")
    await gateway.refund(
        processor_ref=paid.processor_ref, amount_cents=500, idempotency_key="r1", reason="test"
    )
    assert [e["type"] for e in fake.events] == [
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
    ]
    assert len({e["id"] for e in fake.events}) == 5
    assert all(e["id"].startswith("evt_") and e["object"] == "event" for e in fake.events)
    # Each event carries the object as it was then, not as it is now.
    first, cancelled = fake.events[0]["data"]["object"], fake.events[1]["data"]["object"]
    assert first["id"] == cancelled["id"] == waiting.processor_ref
    assert (first["status"], cancelled["status"]) == ("requires_action", "canceled")
    assert fake.events[2]["data"]["object"]["metadata"] == {"payment_id": "17"}
    refunded = fake.events[4]["data"]["object"]
    assert refunded["object"] == "charge"
    assert refunded["payment_intent"] == paid.processor_ref
    assert (refunded["amount_refunded"], refunded["refunded"]) == (500, False)


async def test_delivered_events_verify_in_the_order_and_number_sent(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    waiting = await _charge(gateway, "pm_card_authenticationRequired")
    intent = fake.payment_intents[waiting.processor_ref]
    early = fake.event("payment_intent.requires_action", intent)
    fake.complete_action(waiting.processor_ref)
    [succeeded] = [e for e in fake.events if e["type"] == "payment_intent.succeeded"]
    with webhook_endpoint(gateway) as (url, received):
        # Late, twice and out of order: the newer event first, then the older one.
        assert deliver(url, succeeded, WEBHOOK_SECRET) == 200
        assert deliver(url, succeeded, WEBHOOK_SECRET) == 200
        assert deliver(url, early, WEBHOOK_SECRET, timestamp=int(time.time()) - 200) == 200
        assert deliver(url, succeeded, "whsec_wrong") == 400
        assert deliver(url, succeeded, WEBHOOK_SECRET, timestamp=int(time.time()) - 600) == 400
    assert received == [succeeded, succeeded, early]
    assert early["id"] != succeeded["id"]
    assert early["data"]["object"]["status"] == "requires_action"
    assert succeeded["data"]["object"]["status"] == "succeeded"


async def test_the_app_answers_a_future_dated_webhook_with_400(
    db_url: str, clock: FixedClock, fake: FakeStripe
) -> None:
    app = create_app(
        make_settings(
            db_url,
            payments_gateway="stripe",
            stripe_secret_key=fake.api_key,
            stripe_publishable_key="pk_test_fake",
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake.url,
        ),
        clock=clock,
    )
    event = fake.event("payment_intent.succeeded", {"id": "pi_nope", "status": "succeeded"})
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        for offset, status in ((600, 400), (-600, 400), (240, 200), (-240, 200)):
            body, headers = webhook_request(event, WEBHOOK_SECRET, int(time.time()) + offset)
            r = await c.post("/webhooks/stripe", content=body, headers=headers)
            assert r.status_code == status, (offset, r.text)
        c.blocking_portal.call(app.state.gateway.aclose)


def test_webhook_request_is_signed_for_an_in_process_client(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    event = fake.event("payment_intent.succeeded", {"id": "pi_1", "status": "succeeded"})
    body, headers = webhook_request(event, WEBHOOK_SECRET)
    assert headers["Content-Type"].startswith("application/json")
    assert gateway.verify_webhook(body, headers["Stripe-Signature"]) == event
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(body, webhook_request(event, "whsec_wrong")[1]["Stripe-Signature"])
