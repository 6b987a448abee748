"""Money holds when the world misbehaves (sandbox processor; SQLite and PostgreSQL).

Each test is one of the ways the payment core used to lose or double money: the processor's
answer lost after it charged, the database failing after the charge, a void racing a payment,
Take Payment in two tabs, an abandoned 3-D Secure challenge, a pool of connections exhausted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.clock import FixedClock
from app.domain.links import hash_token
from app.main import create_app
from app.services import payments, reconcile
from app.services.payments import apply as applying
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice, Payment, PaymentAllocation, PaymentLink, Vehicle
from tests.books import books_balance, unresolved
from tests.conftest import sign_in_staff
from tests.html import parse
from tests.integration.test_history import card_ids
from tests.integration.test_pay import make_link

LOST_ANSWER = "4000000000000408"
CHALLENGE = "4000002760003184"
GOOD = "4242424242424242"
TOTAL = 18201  # James Carter, F-150, 30 days: $90.00 past due + $85.00 + $7.01 tax

both_databases = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def tokenize(c: AsyncTestClient[Any], number: str) -> str:
    r = await c.post(
        "/sandbox/payment_methods",
        json={"number": number, "exp": "12/30", "cvc": "123", "postal_code": "78701"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def pay(c: AsyncTestClient[Any], token: str, number: str) -> Any:
    page = parse((await c.get(f"/pay/{token}")).text)
    data = {
        "_csrf_token": page.csrf(),
        "payment_method": await tokenize(c, number),
        "terms": "accepted",
    }
    r = await c.post(f"/pay/{token}", data=data, follow_redirects=False)
    if r.status_code == 303 and r.headers["location"] == f"/pay/{token}":
        return await c.get(r.headers["location"], follow_redirects=False)  # Post/Redirect/Get
    return r


async def link_payments(maker: Any, token: str) -> tuple[PaymentLink, list[Payment]]:
    async with maker() as s:
        link = (
            await s.execute(
                select(PaymentLink).where(col(PaymentLink.token_hash) == hash_token(token))
            )
        ).scalar_one()
        pays = (
            (
                await s.execute(
                    select(Payment).where(col(Payment.link_id) == link.id).order_by(col(Payment.id))
                )
            )
            .scalars()
            .all()
        )
        return link, list(pays)


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The test's own sessions, on this test's event loop (the app's pool lives on the test
    client's loop, which asyncpg connections cannot leave)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


def charges(app: Litestar) -> int:
    return int(app.state.gateway.successful_charge_count)


# -- 1. the answer is lost after the processor charged -------------------------------------------


@both_databases
async def test_lost_answer_never_says_nothing_was_charged_and_a_second_try_charges_nothing(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: FixedClock
) -> None:
    token = await make_link(app)
    r = await pay(client, token, LOST_ANSWER)
    page = parse(r.text)
    assert r.status_code == 202
    assert "confirming your payment with your bank" in page.text("main")
    assert "Don't pay again" in page.text("main")
    assert "Nothing was charged" not in r.text and "nothing was charged" not in r.text
    assert charges(app) == 1  # the processor did charge
    link, [first] = await link_payments(maker, token)
    assert first.status == "unknown" and link.claim_payment_id == first.id

    # The page the payer is looking at updates itself (every 5 seconds): it asks the
    # processor, finds the charge and shows the receipt.
    clock.advance(seconds=5)
    r = await client.get(f"/pay/{token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}/receipt"
    receipt = parse((await client.get(r.headers["location"])).text)
    assert receipt.text("#receipt-amount") == "$182.01"
    # Another device opening the link sees "already paid"; paying again charges nothing.
    client.cookies.clear()
    page = parse((await client.get(f"/pay/{token}")).text)
    assert "already been paid" in page.text("main")
    link, pays = await link_payments(maker, token)
    assert [p.status for p in pays] == ["succeeded"]
    assert link.status == "paid" and charges(app) == 1
    await books_balance(maker)


@both_databases
async def test_a_second_try_while_the_answer_is_lost_charges_nothing(
    client: AsyncTestClient[Any], app: Litestar, maker: Any
) -> None:
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    first = {"_csrf_token": page.csrf(), "payment_method": await tokenize(client, LOST_ANSWER),
             "terms": "accepted"}  # fmt: skip
    second = dict(first, payment_method=await tokenize(client, GOOD))  # the same page, twice
    r = await client.post(f"/pay/{token}", data=first, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}"
    r = await client.post(f"/pay/{token}", data=second, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}"
    assert "Nothing was charged" not in r.text
    _, pays = await link_payments(maker, token)
    assert len(pays) == 1 and charges(app) == 1


@both_databases
async def test_a_lost_answer_is_found_by_reconcile_when_nobody_comes_back(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: FixedClock
) -> None:
    token = await make_link(app)
    assert (await pay(client, token, LOST_ANSWER)).status_code == 202
    # The payer closed the phone. Too young for reconcile first (its request may still be
    # working on it), then resolved.
    report = await reconcile.run(maker, app.state.gateway, clock)
    assert sum(report.payments.values()) == 0 and await unresolved(maker) == 1
    clock.advance(minutes=1)
    report = await reconcile.run(maker, app.state.gateway, clock, "Demo")
    assert report.payments["applied"] == 1
    link, [p] = await link_payments(maker, token)
    assert p.status == "succeeded" and link.status == "paid" and charges(app) == 1
    async with maker() as s:
        carter = (
            await s.execute(select(Client).where(Client.account_number == "100002"))
        ).scalar_one()
        assert carter.payment_in_flight is None
    await books_balance(maker)


@both_databases
async def test_the_database_failing_after_the_charge_is_confirming_then_recorded_once(
    client: AsyncTestClient[Any],
    app: Litestar,
    maker: Any,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await make_link(app)
    real = applying.apply_success

    async def connection_dropped(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionResetError("server closed the connection unexpectedly")

    monkeypatch.setattr(applying, "apply_success", connection_dropped)
    r = await pay(client, token, GOOD)
    assert r.status_code == 202 and "Nothing was charged" not in r.text
    assert charges(app) == 1
    monkeypatch.setattr(applying, "apply_success", real)
    clock.advance(minutes=1)
    await reconcile.run(maker, app.state.gateway, clock)
    link, [p] = await link_payments(maker, token)
    assert p.status == "succeeded" and link.status == "paid" and charges(app) == 1
    assert await unresolved(maker) == 0
    await books_balance(maker)


# -- 2/3. a void or a second channel while a payment is unresolved -------------------------------


async def _carter(maker: Any) -> tuple[int, int, int]:
    async with maker() as s:
        carter = (
            await s.execute(select(Client).where(Client.account_number == "100002"))
        ).scalar_one()
        past_due = (
            await s.execute(
                select(Invoice).where(
                    col(Invoice.client_id) == carter.id, col(Invoice.status) == "open"
                )
            )
        ).scalar_one()
        f150 = (
            await s.execute(
                select(Vehicle).where(col(Vehicle.client_id) == carter.id, Vehicle.model == "F-150")
            )
        ).scalar_one()
        return carter.id or 0, past_due.id or 0, f150.id or 0


@both_databases
async def test_void_is_refused_while_a_payment_that_includes_the_invoice_is_unresolved(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: FixedClock
) -> None:
    token = await make_link(app)
    assert (await pay(client, token, LOST_ANSWER)).status_code == 202
    cid, invoice_id, _ = await _carter(maker)
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    history = f"/plus/clients/{cid}/history"
    csrf = parse((await client.get(history)).text).csrf()
    r = await client.post(
        f"{history}/invoices/{invoice_id}/void",
        data={"_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 409, r.text
    assert "being processed" in r.text
    async with maker() as s:
        assert (await s.get(Invoice, invoice_id)).status == "open"  # type: ignore[union-attr]
    # The charge is found; the $90.00 invoice is paid by it, all $182.01 allocated.
    clock.advance(minutes=1)
    await reconcile.run(maker, app.state.gateway, clock)
    async with maker() as s:
        assert (await s.get(Invoice, invoice_id)).status == "paid"  # type: ignore[union-attr]
        allocated = (
            await s.execute(
                select(func.sum(PaymentAllocation.amount_cents))
                .join(Payment, col(Payment.id) == col(PaymentAllocation.payment_id))
                .where(col(Payment.link_id).is_not(None))
            )
        ).scalar_one()
    assert allocated == TOTAL and charges(app) == 1


@both_databases
async def test_my_account_cannot_pay_the_same_period_while_the_link_payment_is_unresolved(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: FixedClock
) -> None:
    """The claim lasts as long as the payment is unresolved: ten minutes later (the old lease
    was five) My Account is still refused, then the first charge is applied once."""
    token = await make_link(app)
    assert (await pay(client, token, LOST_ANSWER)).status_code == 202
    clock.advance(minutes=10)
    _, _, f150 = await _carter(maker)
    from app.services import portal
    from app.services.summary import compute

    async with maker() as s:
        cid, _, _ = await _carter(maker)
        snap = await compute(s, client_id=cid, vehicle_id=f150, days=30, now=clock.now())
    with pytest.raises(payments.PaymentInProgress):
        await portal.pay(
            maker,
            app.state.gateway,
            clock,
            portal.PayRequest(
                client_id=cid, vehicle_id=f150, days=30, reviewed=snap.fingerprint,
                new_payment_method=await tokenize(client, GOOD),
            ),
        )  # fmt: skip
    assert charges(app) == 1
    await reconcile.run(maker, app.state.gateway, clock)
    _, [p] = await link_payments(maker, token)
    assert p.status == "succeeded" and charges(app) == 1
    await books_balance(maker)


# -- Take Payment in two tabs ----------------------------------------------------------------------


@both_databases
async def test_take_payment_reviewed_in_two_tabs_charges_once(
    client: AsyncTestClient[Any], app: Litestar, maker: Any
) -> None:
    cid, _, f150 = await _carter(maker)
    await sign_in_staff(client)
    history = f"/plus/clients/{cid}/history"
    hx = {"HX-Request": "true"}

    async def reviewed_tab() -> dict[str, str]:
        page = parse(
            (await client.get(f"{history}/take-payment?vehicle_id={f150}", headers=hx)).text
        )
        mastercard = card_ids(page)["Mastercard ending 4444"][0]
        data = {"_csrf_token": page.csrf(), "vehicle_id": str(f150), "days": "30",
                "card_id": mastercard}  # fmt: skip
        r = await client.post(f"{history}/take-payment/review", data=data, headers=hx)
        form = parse(r.text).one("#confirm-charge form")
        return {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}

    tab1, tab2 = await reviewed_tab(), await reviewed_tab()
    assert tab1["request_key"] != tab2["request_key"]
    r1 = await client.post(f"{history}/payments", data=tab1, headers=hx)
    assert r1.status_code == 200 and charges(app) == 1
    r2 = await client.post(f"{history}/payments", data=tab2, headers=hx)
    assert r2.status_code == 409
    assert "The summary changed — review it again" in parse(r2.text).text("#history-error")
    assert charges(app) == 1


# -- 4. an abandoned 3-D Secure challenge ---------------------------------------------------------


@both_databases
async def test_an_abandoned_challenge_is_cancelled_by_reconcile_and_the_link_can_be_paid(
    client: AsyncTestClient[Any], app: Litestar, maker: Any, clock: FixedClock
) -> None:
    token = await make_link(app)
    r = await pay(client, token, CHALLENGE)
    assert r.status_code == 303 and r.headers["location"].startswith("/sandbox/challenge/")
    # The payer never finishes the bank's check. Before the timeout nothing is cancelled.
    clock.advance(minutes=2)
    await reconcile.run(maker, app.state.gateway, clock)
    _, [p] = await link_payments(maker, token)
    assert p.status == "pending"
    clock.advance(minutes=4)  # 6 minutes: abandoned, the link still has 4 to live
    report = await reconcile.run(maker, app.state.gateway, clock)
    assert report.payments["abandoned"] == 1 and await unresolved(maker) == 0
    link, [p] = await link_payments(maker, token)
    assert p.status == "failed" and p.failure_code == "abandoned"
    assert link.claim_payment_id is None
    # Even if the bank page is submitted now, the cancelled attempt charges nothing.
    assert (await app.state.gateway.retrieve(p.processor_ref)).status == "failed"
    r = await pay(client, token, GOOD)
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    assert charges(app) == 1
    await books_balance(maker)


# -- 5. many payers at once, few connections -------------------------------------------------------


@pytest.fixture
def settings(db_url: str) -> Any:
    from tests.conftest import make_settings

    return make_settings(db_url, db_pool_size=3, db_pool_timeout_seconds=2)


@both_databases
async def test_twenty_payers_at_once_on_three_connections_never_hang_and_charge_once(
    client: AsyncTestClient[Any], app: Litestar, maker: Any
) -> None:
    token = await make_link(app)
    forms = []
    for _ in range(20):
        page = parse((await client.get(f"/pay/{token}")).text)
        forms.append({"_csrf_token": page.csrf(), "payment_method": await tokenize(client, GOOD),
                      "terms": "accepted"})  # fmt: skip
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(client.post(f"/pay/{token}", data=f, follow_redirects=False) for f in forms)
        ),
        timeout=60,
    )
    assert all(r.status_code < 500 or r.status_code == 503 for r in responses)
    assert sum(1 for r in responses if r.headers.get("location", "").endswith("/receipt")) >= 1
    assert charges(app) == 1
    _, pays = await link_payments(maker, token)
    assert [p.status for p in pays] == ["succeeded"]


# -- 3-D Secure in My Account, on the sandbox bank's page -----------------------------------------


@pytest.mark.parametrize("answer", ["complete", "fail"])
async def test_my_account_3ds_goes_to_the_sandbox_bank_and_comes_back(
    client: AsyncTestClient[Any], app: Litestar, answer: str
) -> None:
    from tests.conftest import sign_in_client
    from tests.integration.test_account import pay_data

    await sign_in_client(client, "100001")
    page = parse((await client.get("/account/payment")).text)
    data = pay_data(page, card="new", payment_method=await tokenize(client, CHALLENGE))
    r = await client.post("/account/payment", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/sandbox/challenge/")
    bank = parse((await client.get(r.headers["location"])).text)
    assert "$92.01" in bank.text("#challenge")
    r = await client.post(r.headers["location"], data={"answer": answer}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/payment/return/")
    r = await client.get(r.headers["location"], follow_redirects=False)
    if answer == "complete":
        assert r.status_code == 303 and r.headers["location"].startswith("/account?paid=INV-")
        assert charges(app) == 1
    else:
        assert r.status_code == 402
        assert "did not confirm" in parse(r.text).text("#card-entry-error")
        assert charges(app) == 0


async def test_an_exhausted_pool_answers_503_at_once_instead_of_hanging(
    db_url: str, clock: FixedClock
) -> None:
    from tests.conftest import make_settings

    app = create_app(make_settings(db_url, db_pool_size=1, db_pool_timeout_seconds=0.2), clock)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        await sign_in_staff(c)
        # Someone holds the only connection (on the app's loop, where its pool lives).
        held = c.blocking_portal.call(app.state.engine.connect().start)
        r = await asyncio.wait_for(c.get("/healthz"), timeout=10)
        assert r.status_code == 503
        r = await asyncio.wait_for(c.get("/plus/clients/1"), timeout=10)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2"
        assert "very busy" in parse(r.text).text("main")
        c.blocking_portal.call(held.close)
        assert (await c.get("/plus/clients/1")).status_code == 200  # and back at once
