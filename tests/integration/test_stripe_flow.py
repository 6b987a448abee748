"""The whole app in PAYMENTS_GATEWAY=stripe mode against a fake Stripe API on 127.0.0.1.

The browser would create the PaymentMethod with Stripe.js; here the form posts Stripe's test
PaymentMethod ids (`pm_card_visa`, ...) directly, with the terms box and the CSRF token.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.clock import FixedClock
from app.domain.links import hash_token
from app.main import create_app
from app.settings import Settings
from app.store.models import Client, Invoice, Payment, PaymentAllocation, PaymentLink, SmsMessage
from tests.conftest import make_settings
from tests.fakes.fake_stripe import FakeStripe, sign_webhook
from tests.html import Page, parse
from tests.integration.test_pay import make_link

WEBHOOK_SECRET = "whsec_test"
PUBLISHABLE_KEY = "pk_test_fake"
TOTAL_CENTS = 18201  # account 100002, F-150, 30 days: the $90 past-due invoice plus monitoring

# stripe 16 hands httpx the form body as a str (`data=`), which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


# -- fixtures: the conftest's app, client and session, in stripe mode ---------------------------


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def settings(db_url: str, fake: FakeStripe) -> Settings:
    return make_settings(
        db_url,
        payments_gateway="stripe",
        stripe_secret_key=fake.api_key,
        stripe_publishable_key=PUBLISHABLE_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake.url,
    )


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c
        # The app's lifespan does not close the gateway's connection pool, and requests run
        # on the test client's portal loop: close the pool there, before that loop ends.
        c.blocking_portal.call(app.state.gateway.aclose)


# -- helpers ------------------------------------------------------------------------------------


async def submit(c: AsyncTestClient[Any], token: str, payment_method: str) -> Any:
    """What card.js does once Stripe.js has created the PaymentMethod."""
    page = parse((await c.get(f"/pay/{token}")).text)
    return await c.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "payment_method": payment_method, "terms": "accepted"},
        follow_redirects=False,
    )


async def confirm(c: AsyncTestClient[Any], page: Page) -> Any:
    """What card.js does after stripe.handleNextAction(): post the same form to its confirm URL."""
    form = page.one("form[data-pay-form]")
    return await c.post(
        str(form["data-confirm-url"]),
        data={"_csrf_token": page.csrf(), "payment_method": "", "terms": "accepted"},
        follow_redirects=False,
    )


def event(kind: str, intent: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "api_version": "2024-06-20",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": intent},
    }


async def post_webhook(
    c: AsyncTestClient[Any], body: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> Any:
    payload = json.dumps(body).encode()
    return await c.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": sign_webhook(payload, secret),
            "Content-Type": "application/json",
        },
    )


async def link_of(app: Litestar, token: str) -> PaymentLink:
    async with app.state.sessionmaker() as s:
        return (
            await s.execute(
                select(PaymentLink).where(col(PaymentLink.token_hash) == hash_token(token))
            )
        ).scalar_one()


async def payments_of(app: Litestar, token: str) -> list[Payment]:
    link = await link_of(app, token)
    async with app.state.sessionmaker() as s:
        return list(
            (
                await s.execute(
                    select(Payment).where(col(Payment.link_id) == link.id).order_by(col(Payment.id))
                )
            )
            .scalars()
            .all()
        )


@dataclass(frozen=True)
class Ledger:
    payments: tuple[tuple[int, str], ...]  # (id, status) of every payment
    allocations: tuple[tuple[int, int, int], ...]  # (payment, invoice, cents)
    invoices: int
    receipts: int  # receipt text messages queued
    in_flight: tuple[int | None, ...]  # every client's payment_in_flight

    @property
    def succeeded(self) -> int:
        return sum(1 for _, status in self.payments if status == "succeeded")


async def ledger(app: Litestar) -> Ledger:
    async with app.state.sessionmaker() as s:
        pays = (
            await s.execute(select(col(Payment.id), col(Payment.status)).order_by(col(Payment.id)))
        ).all()
        allocs = (
            await s.execute(
                select(
                    col(PaymentAllocation.payment_id),
                    col(PaymentAllocation.invoice_id),
                    col(PaymentAllocation.amount_cents),
                ).order_by(col(PaymentAllocation.payment_id), col(PaymentAllocation.invoice_id))
            )
        ).all()
        invoices = (await s.execute(select(func.count()).select_from(Invoice))).scalar_one()
        receipts = (
            await s.execute(
                select(func.count())
                .select_from(SmsMessage)
                .where(col(SmsMessage.kind) == "receipt")
            )
        ).scalar_one()
        flights = (
            (await s.execute(select(col(Client.payment_in_flight)).order_by(col(Client.id))))
            .scalars()
            .all()
        )
    return Ledger(
        payments=tuple((int(i), str(st)) for i, st in pays),
        allocations=tuple((int(p), int(i), int(a)) for p, i, a in allocs),
        invoices=int(invoices),
        receipts=int(receipts),
        in_flight=tuple(flights),
    )


async def start_3ds(
    c: AsyncTestClient[Any], app: Litestar, fake: FakeStripe, token: str
) -> tuple[Page, Payment]:
    """Submit a card that needs 3-D Secure: the page comes back asking the browser to finish."""
    r = await submit(c, token, "pm_card_authenticationRequired")
    assert r.status_code == 200, r.text
    page = parse(r.text)
    [payment] = await payments_of(app, token)
    assert payment.status == "pending"
    assert payment.processor_ref is not None
    intent = fake.payment_intents[payment.processor_ref]
    assert intent["status"] == "requires_action"
    form = page.one("form[data-pay-form]")
    assert form["data-next-action-secret"] == intent["client_secret"]
    assert form["data-confirm-url"] == f"/pay/{token}/confirm"
    return page, payment


# -- 1. the page ----------------------------------------------------------------------------------


async def test_page_renders_the_payment_element_and_the_csp_allows_stripe_js(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 200
    page = parse(r.text)
    entry = page.one("[data-card-entry]")
    assert entry["data-gateway"] == "stripe"
    assert entry["data-stripe-key"] == PUBLISHABLE_KEY
    assert entry["data-amount"] == str(TOTAL_CENTS)
    assert page.one("#payment-element") in entry.descendants
    assert page.text("#total-due") == "$182.01"
    # No sandbox card inputs: card numbers are typed into Stripe's iframe only.
    for selector in ("[data-card-field]", "#cc-number", "#cc-exp", "#cc-cvc", ".sandbox-hint"):
        assert not page.has(selector), selector
    assert not page.has("[data-tokenize-url]")
    assert "4242 4242 4242 4242" not in r.text
    assert any(s.get("src") == "https://js.stripe.com/v3/" for s in page.all("script[src]")), (
        "Stripe.js is not loaded"
    )
    csp = {
        d.split()[0]: d.split()[1:]
        for d in (part.strip() for part in r.headers["content-security-policy"].split(";"))
        if d
    }
    assert "https://js.stripe.com" in csp["script-src"]
    assert "https://js.stripe.com" in csp["frame-src"]
    assert "https://api.stripe.com" in csp["connect-src"]
    # The sandbox tokenizer does not exist in stripe mode, and the page alone touched no API.
    r = await client.post("/sandbox/payment_methods", json={"number": "4242424242424242"})
    assert r.status_code in (404, 405)
    assert fake.requests == []


# -- 2. paying ------------------------------------------------------------------------------------


async def test_visa_pays_once_with_the_payment_rows_idempotency_key(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    before = await ledger(app)
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/pay/{token}/receipt"

    [payment] = await payments_of(app, token)
    assert payment.status == "succeeded"
    [create] = fake.requests_to("POST", "/v1/payment_intents")
    assert create.idempotency_key == payment.idempotency_key
    assert create.form["amount"] == str(TOTAL_CENTS)
    assert create.form["currency"] == "usd"
    assert create.form["payment_method"] == "pm_card_visa"
    assert create.form["confirm"] == "true"
    assert create.nested("metadata")["payment_id"] == str(payment.id)
    assert len(fake.charges) == 1
    assert payment.processor_ref == fake.charges[0]["id"]
    assert (payment.card_brand, payment.card_last4) == ("Visa", "4242")

    after = await ledger(app)
    assert after.succeeded == before.succeeded + 1
    assert len(after.allocations) == len(before.allocations) + 2  # past-due + new monitoring
    assert after.receipts == before.receipts + 1
    link = await link_of(app, token)
    assert link.status == "paid" and link.payment_id == payment.id

    receipt = parse((await client.get(r.headers["location"])).text)
    assert receipt.text("#receipt-amount") == "$182.01"
    assert receipt.text("#receipt-card") == "Visa ending 4242"


# -- 3. webhooks ----------------------------------------------------------------------------------


async def test_replayed_succeeded_webhook_changes_nothing(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    before = await ledger(app)
    assert (await submit(client, token, "pm_card_visa")).status_code == 303
    paid = await ledger(app)
    assert paid.succeeded == before.succeeded + 1
    [intent] = fake.charges
    body = event("payment_intent.succeeded", dict(intent))
    # Stripe retries and replays; the same event may arrive many times: known by its id.
    for expected in ("already_final", "duplicate", "duplicate"):
        r = await post_webhook(client, body)
        assert r.status_code == 200, r.text
        assert r.json() == {"received": True, "result": expected}
    assert await ledger(app) == paid
    assert len(fake.charges) == 1


async def test_bad_signature_is_400_and_changes_nothing(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    _, payment = await start_3ds(client, app, fake, token)
    assert payment.processor_ref is not None
    intent = fake.complete_action(payment.processor_ref)  # a genuine event would apply it
    before = await ledger(app)
    body = event("payment_intent.succeeded", intent)
    payload = json.dumps(body).encode()
    good = sign_webhook(payload, WEBHOOK_SECRET)
    attempts: list[tuple[bytes, dict[str, str]]] = [
        (payload, {"Stripe-Signature": sign_webhook(payload, "whsec_wrong")}),
        (payload, {}),
        (payload, {"Stripe-Signature": "garbage"}),
        (payload.replace(b'"livemode": false', b'"livemode": true'), {"Stripe-Signature": good}),
        (
            payload,
            {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, int(time.time()) - 600)},
        ),
    ]
    for content, headers in attempts:
        r = await client.post(
            "/webhooks/stripe",
            content=content,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (headers, r.text)
    assert await ledger(app) == before
    [still] = await payments_of(app, token)
    assert still.status == "pending"
    # The same event, correctly signed, is what finalizes it.
    r = await post_webhook(client, body)
    assert r.status_code == 200 and r.json()["result"] == "applied"


async def test_webhook_in_sandbox_mode_is_404(db_url: str, clock: FixedClock) -> None:
    # a secret alone does not turn webhooks on
    sandbox = make_settings(db_url, stripe_webhook_secret=WEBHOOK_SECRET)
    assert sandbox.payments_gateway == "sandbox"
    app = create_app(sandbox, clock=clock)
    body = event("payment_intent.succeeded", {"id": "pi_x", "metadata": {"payment_id": "1"}})
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        before = await ledger(app)
        r = await post_webhook(c, body)
        assert r.status_code == 404
        assert await ledger(app) == before


# -- 4. 3-D Secure --------------------------------------------------------------------------------


async def test_3ds_pending_link_cannot_be_paid_twice_then_confirm_applies_once(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    page, payment = await start_3ds(client, app, fake, token)
    assert payment.processor_ref is not None
    link = await link_of(app, token)
    assert link.claim_payment_id == payment.id and link.status != "paid"

    # Meanwhile, a second submission (another tab, a double tap) charges nothing: it is sent
    # back to the page, which hands the unfinished 3-D Secure back to the browser.
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}", r.text
    again = parse((await client.get(f"/pay/{token}")).text)
    assert again.one("form[data-pay-form]").get("data-next-action-secret")
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1
    assert fake.charges == []
    assert [p.status for p in await payments_of(app, token)] == ["pending"]

    # The bank says yes; the browser posts back to /confirm.
    intent = fake.complete_action(payment.processor_ref)
    r = await confirm(client, page)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/pay/{token}/receipt"
    receipt = parse((await client.get(r.headers["location"])).text)
    assert receipt.text("#receipt-amount") == "$182.01"
    assert receipt.text("#receipt-card") == "Visa ending 3184"
    paid = await ledger(app)
    [done] = await payments_of(app, token)
    assert done.status == "succeeded" and done.processor_ref == payment.processor_ref
    assert sum(1 for p, _, _ in paid.allocations if p == done.id) == 2
    link = await link_of(app, token)
    assert link.status == "paid" and link.payment_id == done.id

    # Stripe's webhook arrives afterwards (twice): nothing more happens.
    for _ in range(2):
        r = await post_webhook(client, event("payment_intent.succeeded", intent))
        assert r.status_code == 200 and r.json()["result"] == "already_final"
    # And a second confirm (a reload) just shows the receipt again.
    r = await confirm(client, page)
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}/receipt"
    assert await ledger(app) == paid
    assert len(fake.charges) == 1
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1


async def test_3ds_finalized_by_webhook_then_confirm_applies_once(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    before = await ledger(app)
    page, payment = await start_3ds(client, app, fake, token)
    assert payment.processor_ref is not None
    intent = fake.complete_action(payment.processor_ref)

    # The browser was closed after 3-D Secure: the webhook alone finalizes the payment.
    r = await post_webhook(client, event("payment_intent.succeeded", intent))
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "applied"
    paid = await ledger(app)
    [done] = await payments_of(app, token)
    assert done.status == "succeeded"
    assert (done.card_brand, done.card_last4) == ("Visa", "3184")
    assert paid.succeeded == before.succeeded + 1
    assert len(paid.allocations) == len(before.allocations) + 2
    assert paid.receipts == before.receipts + 1
    assert paid.in_flight == before.in_flight  # the account is released
    link = await link_of(app, token)
    assert link.status == "paid" and link.payment_id == done.id

    # A replay, then the browser's late confirm: still applied exactly once.
    r = await post_webhook(client, event("payment_intent.succeeded", intent))
    assert r.status_code == 200 and r.json()["result"] == "already_final"
    r = await confirm(client, page)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/pay/{token}/receipt"
    receipt = parse((await client.get(r.headers["location"])).text)
    assert receipt.text("#receipt-card") == "Visa ending 3184"
    assert await ledger(app) == paid
    assert len(fake.charges) == 1
    # A new submission on the paid link charges nothing.
    r = await submit(client, token, "pm_card_visa")
    assert "already been paid" in parse(r.text).text("main")
    assert len(fake.requests_to("POST", "/v1/payment_intents")) == 1


async def test_confirm_while_the_intent_is_processing_keeps_the_payment_pending(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    page, payment = await start_3ds(client, app, fake, token)
    assert payment.processor_ref is not None
    fake.complete_action(payment.processor_ref, processing=True)  # money is on its way
    r = await confirm(client, page)
    assert r.status_code == 202 and "being confirmed" in parse(r.text).text("main")
    [still] = await payments_of(app, token)
    # Not failed: the charge may still succeed, and a failed row releases the link for a
    # second charge while the succeeded webhook would then find it "already_final".
    assert still.status == "pending"
    link = await link_of(app, token)
    assert link.claim_payment_id == payment.id and link.decline_count == 0


# -- 5. a decline ---------------------------------------------------------------------------------


async def test_decline_shows_the_card_error_with_402_and_charges_nothing(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    before = await ledger(app)
    r = await submit(client, token, "pm_card_chargeDeclined")
    assert r.status_code == 402, r.text
    page = parse(r.text)
    assert "declined" in page.text("#card-error")
    assert "4 tries left" in page.text("#pay-errors")
    assert page.has("#payment-element")  # the payer can try another card right away
    assert fake.charges == []
    [payment] = await payments_of(app, token)
    assert payment.status == "failed"
    assert payment.failure_code == "generic_decline"
    [create] = fake.requests_to("POST", "/v1/payment_intents")
    assert create.idempotency_key == payment.idempotency_key
    after = await ledger(app)
    assert after.allocations == before.allocations and after.invoices == before.invoices
    assert after.in_flight == before.in_flight
    link = await link_of(app, token)
    assert link.claim_payment_id is None and link.decline_count == 1
    assert link.status not in ("paid", "locked")


# -- 6. a failed 3-D Secure, reported by webhook ------------------------------------------------


async def test_payment_failed_webhook_fails_the_3ds_payment_and_releases_the_link(
    client: AsyncTestClient[Any], app: Litestar, fake: FakeStripe
) -> None:
    token = await make_link(app)
    before = await ledger(app)
    _, payment = await start_3ds(client, app, fake, token)
    assert payment.processor_ref is not None
    intent = fake.fail_action(payment.processor_ref)
    body = event("payment_intent.payment_failed", intent)
    r = await post_webhook(client, body)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "failed"
    [failed] = await payments_of(app, token)
    assert failed.status == "failed"
    assert failed.failure_code == "payment_intent_authentication_failure"
    link = await link_of(app, token)
    assert link.claim_payment_id is None and link.decline_count == 1
    assert (await ledger(app)).in_flight == before.in_flight
    # A replay (known by its event id) and the same news in a new event change nothing.
    r = await post_webhook(client, body)
    assert r.status_code == 200 and r.json()["result"] == "duplicate"
    r = await post_webhook(client, event("payment_intent.payment_failed", intent))
    assert r.status_code == 200 and r.json()["result"] == "already_final"
    assert (await link_of(app, token)).decline_count == 1

    # The payer tries another card on the same link.
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303, r.text
    pays = await payments_of(app, token)
    assert [p.status for p in pays] == ["failed", "succeeded"]
    assert pays[0].idempotency_key != pays[1].idempotency_key
    after = await ledger(app)
    assert after.succeeded == before.succeeded + 1
    assert len(fake.charges) == 1 and fake.charges[0]["payment_method"] == "pm_card_visa"
