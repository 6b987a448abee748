"""Apple Pay and Google Pay in stripe mode, at the configuration level, against the fake Stripe.

What is tested: the settings (and how bad ones refuse to start), what the Secure Payment page and
My Account hand the Payment Element (`data-wallets`, the Stripe.js key and script) in stripe and
sandbox mode, the page policy for both, the Apple Pay domain association file, a wallet's
PaymentMethod charged once through the real SDK with the receipt naming its card, and the
domain registration with Stripe.

What cannot be tested here: whether Stripe.js really shows the Apple Pay or Google Pay button.
That needs the real Stripe.js from js.stripe.com, a registered HTTPS domain and a device with a
wallet; tests reach nothing beyond 127.0.0.1, and a fake Stripe.js would only test the fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError
from sqlalchemy import select

from app.adapters.payments.stripe_gateway import StripeGateway, wallet_name
from app.cli import main as cli_main
from app.clock import FixedClock
from app.main import create_app
from app.settings import Settings
from app.store.models import Payment
from app.web.security import content_security_policy
from app.web.wallets import ASSOCIATION_PATH, domain_command, element_wallets, register_domain
from tests.conftest import get_page, make_settings, sign_in_client
from tests.fakes.fake_stripe import FakeStripe
from tests.html import Page, parse
from tests.integration.test_account_stripe import pay_form
from tests.integration.test_pay import make_link

PUBLISHABLE_KEY = "pk_test_fake"
WEBHOOK_SECRET = "whsec_test"
# What Stripe hands over for the domain (a long hex string); any bytes do for the tests.
ASSOCIATION = b"7B2270737049..." + b"0" * 64 + b"\n"

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def association_file(tmp_path: Path) -> Path:
    path = tmp_path / "apple-developer-merchantid-domain-association"
    path.write_bytes(ASSOCIATION)
    return path


def stripe_settings(db_url: str, fake: FakeStripe, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "payments_gateway": "stripe",
        "stripe_secret_key": fake.api_key,
        "stripe_publishable_key": PUBLISHABLE_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fake.url,
    }
    return make_settings(db_url, **(values | overrides))


@asynccontextmanager
async def running(
    settings: Settings, clock: FixedClock
) -> AsyncIterator[tuple[Litestar, AsyncTestClient[Litestar]]]:
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield app, c
        close = getattr(app.state.gateway, "aclose", None)
        if close is not None:  # the Stripe SDK's pool lives on the test client's loop
            c.blocking_portal.call(close)


def policy(headers: Any) -> dict[str, list[str]]:
    parts = (p.strip() for p in headers["content-security-policy"].split(";"))
    return {p.split()[0]: p.split()[1:] for p in parts if p}


def stripe_js_loaded(page: Page) -> bool:
    return any(s.get("src") == "https://js.stripe.com/v3/" for s in page.all("script[src]"))


async def pay_page(c: AsyncTestClient[Any], app: Litestar) -> tuple[str, Any, Page]:
    token = await make_link(app)
    r = await c.get(f"/pay/{token}")
    assert r.status_code == 200, r.text
    return token, r, parse(r.text)


async def account_pages(c: AsyncTestClient[Any]) -> tuple[Page, Page]:
    """My Account's Make a Payment (payment mode) and Payment Methods (setup mode)."""
    await sign_in_client(c, "100001")
    status, make = await get_page(c, "/account/payment")
    assert status == 200
    status, methods = await get_page(c, "/account/payment/methods")
    assert status == 200
    return make, methods


# -- 1. settings ----------------------------------------------------------------------------------


def test_wallets_are_on_by_default_in_stripe_mode_and_never_in_the_sandbox(
    db_url: str, fake: FakeStripe
) -> None:
    assert stripe_settings(db_url, fake).wallets is True
    assert element_wallets(stripe_settings(db_url, fake)) == "auto"
    off = stripe_settings(db_url, fake, stripe_wallets=False)
    assert off.wallets is False and element_wallets(off) == "never"
    sandbox = make_settings(db_url)
    assert sandbox.stripe_wallets is True  # the default, which the sandbox does not use
    assert sandbox.wallets is False and element_wallets(sandbox) == "never"


def test_stripe_wallets_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, db_url: str, fake: FakeStripe
) -> None:
    monkeypatch.setenv("STRIPE_WALLETS", "false")
    assert stripe_settings(db_url, fake).wallets is False
    monkeypatch.setenv("STRIPE_WALLETS", "maybe")
    with pytest.raises(ValidationError, match="stripe_wallets"):
        stripe_settings(db_url, fake)


def test_a_bad_association_file_refuses_to_start_with_a_clear_message(
    db_url: str, fake: FakeStripe, tmp_path: Path, association_file: Path
) -> None:
    missing = tmp_path / "nowhere" / "association"
    with pytest.raises(ValidationError, match="APPLE_PAY_DOMAIN_ASSOCIATION: no such file"):
        stripe_settings(db_url, fake, apple_pay_domain_association=str(missing))
    with pytest.raises(ValidationError, match="no such file"):  # a folder is not the file
        stripe_settings(db_url, fake, apple_pay_domain_association=str(tmp_path))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="is 0 bytes"):
        stripe_settings(db_url, fake, apple_pay_domain_association=str(empty))
    with pytest.raises(ValidationError, match="only used with PAYMENTS_GATEWAY=stripe"):
        make_settings(db_url, apple_pay_domain_association=str(association_file))
    ok = stripe_settings(db_url, fake, apple_pay_domain_association=str(association_file))
    assert ok.apple_pay_domain_association == str(association_file)


def test_the_command_line_says_what_is_wrong_and_stops(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("PAYMENTS_GATEWAY", "stripe")
    monkeypatch.setenv("APPLE_PAY_DOMAIN_ASSOCIATION", str(tmp_path / "missing"))
    assert cli_main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "APPLE_PAY_DOMAIN_ASSOCIATION: no such file" in err


# -- 2. what the pages hand the Payment Element --------------------------------------------------


async def test_stripe_mode_offers_wallets_on_the_pay_page(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    async with running(stripe_settings(db_url, fake), clock) as (app, c):
        _, r, page = await pay_page(c, app)
    entry = page.one("[data-card-entry]")
    assert entry["data-gateway"] == "stripe" and entry["data-mode"] == "payment"
    assert entry["data-wallets"] == "auto"
    assert entry["data-stripe-key"] == PUBLISHABLE_KEY
    assert page.has("#payment-element") and stripe_js_loaded(page)
    assert not page.has("#cc-number")  # no card fields of ours: Stripe's frame has them
    assert fake.requests == []  # showing the page asks Stripe nothing


async def test_stripe_mode_offers_wallets_in_my_account_payments_but_not_when_saving_a_card(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    async with running(stripe_settings(db_url, fake), clock) as (_, c):
        make, methods = await account_pages(c)
    entry = make.one("#new-card [data-card-entry]")
    assert entry["data-mode"] == "payment" and entry["data-wallets"] == "auto"
    assert stripe_js_loaded(make)
    saving = methods.one("#add-card-form [data-card-entry]")
    assert saving["data-mode"] == "setup" and saving["data-wallets"] == "never"


async def test_stripe_wallets_off_keeps_the_payment_element_to_cards(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    settings = stripe_settings(db_url, fake, stripe_wallets=False)
    async with running(settings, clock) as (app, c):
        _, _, page = await pay_page(c, app)
        make, methods = await account_pages(c)
    for entry in (
        page.one("[data-card-entry]"),
        make.one("#new-card [data-card-entry]"),
        methods.one("#add-card-form [data-card-entry]"),
    ):
        assert entry["data-gateway"] == "stripe" and entry["data-wallets"] == "never"


async def test_the_sandbox_keeps_cards_only_and_loads_nothing_from_stripe(
    db_url: str, clock: FixedClock
) -> None:
    async with running(make_settings(db_url), clock) as (app, c):
        _, r, page = await pay_page(c, app)
        make, methods = await account_pages(c)
        association = await c.get(ASSOCIATION_PATH)
    for p in (page, make, methods):
        entry = p.one("[data-card-entry]")
        assert entry["data-gateway"] == "sandbox"
        assert not entry.has_attr("data-wallets") and not entry.has_attr("data-stripe-key")
        assert p.has("#cc-number") and not p.has("#payment-element")
        assert not stripe_js_loaded(p)
    assert "stripe.com" not in r.headers["content-security-policy"]
    assert policy(r.headers)["frame-src"] == ["'none'"]
    assert association.status_code == 404


# -- 3. the page policy ---------------------------------------------------------------------------


async def test_the_policy_allows_stripe_js_and_its_frames_in_stripe_mode_only(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    async with running(stripe_settings(db_url, fake), clock) as (app, c):
        _, r, _ = await pay_page(c, app)
        await sign_in_client(c, "100001")
        account = await c.get("/account/payment")
    for headers in (r.headers, account.headers):
        csp = policy(headers)
        assert csp["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
        assert csp["frame-src"] == [
            "https://js.stripe.com",
            "https://*.js.stripe.com",
            "https://hooks.stripe.com",
        ]
        assert csp["connect-src"] == ["'self'", "https://api.stripe.com"]
        # Unchanged by wallets: no inline script, nothing framing us, forms post home only.
        assert csp["default-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
        assert csp["frame-ancestors"] == ["'none'"] and csp["form-action"] == ["'self'"]
        # Wallets use the browser's Payment Request API: no header may switch it off.
        assert "payment" not in headers.get("permissions-policy", "")
    sandbox = content_security_policy(False)
    assert "stripe" not in sandbox and "frame-src 'none'" in sandbox
    assert "script-src 'self';" in sandbox and "connect-src 'self';" in sandbox


# -- 4. the Apple Pay domain association file ----------------------------------------------------


async def test_the_association_file_is_served_as_given_when_configured(
    db_url: str, fake: FakeStripe, clock: FixedClock, association_file: Path
) -> None:
    settings = stripe_settings(db_url, fake, apple_pay_domain_association=str(association_file))
    async with running(settings, clock) as (_, c):
        r = await c.get(ASSOCIATION_PATH)
        post = await c.post(ASSOCIATION_PATH)
        await asyncio.to_thread(association_file.write_bytes, b"changed")  # read at start-up
        again = await c.get(ASSOCIATION_PATH)
    assert r.status_code == 200
    assert r.content == ASSOCIATION and again.content == ASSOCIATION
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert "set-cookie" not in r.headers  # public and cacheable: no session, no CSRF cookie
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert post.status_code == 405


async def test_the_association_file_is_not_found_when_not_configured(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    async with running(stripe_settings(db_url, fake), clock) as (_, c):
        r = await c.get(ASSOCIATION_PATH)
    assert r.status_code == 404


async def test_wallets_switched_off_keep_the_domain_verified(
    db_url: str, fake: FakeStripe, clock: FixedClock, association_file: Path
) -> None:
    """Apple checks the domain again now and then: turning wallets off for a while must not
    lose the registration, so the file stays served while it is configured."""
    settings = stripe_settings(
        db_url, fake, stripe_wallets=False, apple_pay_domain_association=str(association_file)
    )
    async with running(settings, clock) as (_, c):
        r = await c.get(ASSOCIATION_PATH)
    assert r.status_code == 200 and r.content == ASSOCIATION


# -- 5. paying with a wallet: a card to the processor --------------------------------------------


async def pay_with(c: AsyncTestClient[Any], token: str, payment_method: str) -> Any:
    """What card.js posts once the Payment Element (here: Apple Pay's sheet) gave a
    PaymentMethod."""
    page = parse((await c.get(f"/pay/{token}")).text)
    return await c.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "payment_method": payment_method, "terms": "accepted"},
        follow_redirects=False,
    )


async def test_an_apple_pay_card_pays_the_link_once_and_the_receipt_names_its_card(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    pm = fake.enter_wallet_card("apple_pay", "pm_card_visa", dynamic_last4="9876")
    async with running(stripe_settings(db_url, fake), clock) as (app, c):
        token = await make_link(app)
        r = await pay_with(c, token, pm)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/pay/{token}/receipt"
        again = await pay_with(c, token, pm)  # a second tap: the link is paid
        receipt = parse((await c.get(f"/pay/{token}/receipt")).text)
        async with app.state.sessionmaker() as s:
            payments = (await s.execute(select(Payment))).scalars().all()
    assert again.status_code < 500
    [paid] = [p for p in payments if p.processor_ref == fake.charges[0]["id"]]
    assert paid.status == "succeeded" and paid.card_brand == "Visa" and paid.card_last4 == "4242"
    assert len(fake.charges) == 1 and fake.charges[0]["payment_method"] == pm
    assert receipt.text("#receipt-card") == "Visa ending 4242 · Apple Pay"
    assert paid.card_wallet == "Apple Pay"
    # Never the device account number, whole or in part.
    assert "9876" not in receipt.text() and paid.card_last4 != "9876"


async def test_a_declined_google_pay_card_is_refused_like_a_card(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    pm = fake.enter_wallet_card("google_pay", "pm_card_chargeDeclinedInsufficientFunds")
    async with running(stripe_settings(db_url, fake), clock) as (app, c):
        token = await make_link(app)
        r = await pay_with(c, token, pm)
    assert r.status_code == 402
    assert "insufficient funds" in parse(r.text).text()
    assert fake.charges == []


async def test_a_google_pay_card_pays_in_my_account(
    db_url: str, fake: FakeStripe, clock: FixedClock
) -> None:
    pm = fake.enter_wallet_card("google_pay", "pm_card_mastercard")
    async with running(stripe_settings(db_url, fake), clock) as (app, c):
        await sign_in_client(c, "100001")
        _, page = await get_page(c, "/account/payment")
        r = await c.post("/account/payment", data=pay_form(page, pm), follow_redirects=False)
        async with app.state.sessionmaker() as s:
            [paid] = (
                (await s.execute(select(Payment).where(Payment.channel == "portal")))
                .scalars()
                .all()
            )
    assert r.status_code == 303, r.text
    assert paid.status == "succeeded" and (paid.card_brand, paid.card_last4) == (
        "Mastercard",
        "4444",
    )
    assert len(fake.charges) == 1


async def test_the_gateway_names_the_wallet_of_a_card(fake: FakeStripe) -> None:
    gateway = StripeGateway(fake.api_key, WEBHOOK_SECRET, api_base=fake.url)
    try:
        apple = fake.enter_wallet_card("apple_pay")
        card = await gateway.describe_payment_method(apple)
        assert (card.brand, card.last4, card.wallet) == ("Visa", "4242", "Apple Pay")
        result = await gateway.charge(
            amount_cents=5000,
            payment_method=fake.enter_wallet_card("google_pay", "pm_card_amex"),
            idempotency_key="wallet-charge-1",
            description="test",
        )
        assert result.status == "succeeded" and result.card is not None
        assert (result.card.brand, result.card.wallet) == ("American Express", "Google Pay")
        typed = await gateway.describe_payment_method(fake.enter_card("pm_card_visa"))
        assert typed.wallet is None
    finally:
        await gateway.aclose()
    assert wallet_name({"wallet": {"type": "link"}}) is None  # not offered: a plain card
    assert wallet_name({"wallet": None}) is None and wallet_name(None) is None


# -- 6. registering the domain with Stripe -------------------------------------------------------


async def test_registering_the_domain_creates_it_once_then_rechecks_it(
    db_url: str, fake: FakeStripe
) -> None:
    settings = stripe_settings(db_url, fake, public_base_url="https://pay.example.com")
    fake.apple_pay_verifies = False  # the association file is not reachable yet
    code, lines = await register_domain(settings)
    assert code == 0
    assert lines[0].startswith("wallets-domain: pay.example.com registered (pmd_")
    assert "Google Pay: active" in lines[1]
    assert "Apple Pay: inactive (The domain association file could not be" in lines[2]
    assert ASSOCIATION_PATH in lines[3]
    [created] = fake.requests_to("POST", "/v1/payment_method_domains")
    assert created.form == {"domain_name": "pay.example.com", "enabled": "true"}

    fake.apple_pay_verifies = True  # now it is: run it again
    code, lines = await register_domain(settings)
    assert code == 0 and "already registered" in lines[0] and "Apple Pay: active" in lines[2]
    assert len(fake.requests_to("POST", "/v1/payment_method_domains")) == 1
    [pmd] = fake.payment_method_domains.values()
    assert len(fake.requests_to("POST", f"/v1/payment_method_domains/{pmd['id']}/validate")) == 1

    pmd["enabled"] = False  # switched off in the Dashboard: switched back on
    code, lines = await register_domain(settings)
    assert code == 0 and pmd["enabled"] is True


async def test_registering_refuses_what_cannot_work(db_url: str, fake: FakeStripe) -> None:
    code, lines = await register_domain(make_settings(db_url))
    assert code == 2 and "sandbox has no wallets" in lines[0]
    code, lines = await register_domain(stripe_settings(db_url, fake))
    assert code == 2 and "PUBLIC_BASE_URL" in lines[0]
    wrong_key = stripe_settings(
        db_url, fake, public_base_url="https://pay.example.com", stripe_secret_key="sk_test_wrong"
    )
    code, lines = await register_domain(wrong_key)
    assert code == 1 and lines[0].startswith("wallets-domain: Stripe refused to register")
    off = stripe_settings(
        db_url, fake, public_base_url="https://pay.example.com", stripe_wallets=False
    )
    code, lines = await register_domain(off)
    assert code == 0 and "STRIPE_WALLETS is off" in lines[-1]
    assert fake.payment_method_domains  # registered all the same, ready for when it is on


def test_the_command_prints_what_stripe_said(
    db_url: str, fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stripe_settings(db_url, fake, public_base_url="https://pay.example.com/")
    assert domain_command(settings) == 0
    out = capsys.readouterr()
    assert "pay.example.com registered" in out.out and "Apple Pay: active" in out.out
    assert out.err == ""
    assert domain_command(make_settings(db_url)) == 2
    out = capsys.readouterr()
    assert out.out == "" and "sandbox has no wallets" in out.err
