"""The Secure Payment page through the handlers, with the sandbox gateway."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from app.domain.links import hash_token
from app.services import pay_link, payments, send_link
from app.services.sms_worker import deliver_due
from app.services.summary import load_account
from app.store.models import (
    Client,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentLink,
    SmsMessage,
    StaffUser,
    Vehicle,
)
from tests.html import parse

CARDS = {
    "success": "4242424242424242",
    "decline": "4000000000000002",
    "insufficient": "4000000000009995",
}


async def make_link(
    app: Litestar,
    account: str = "100002",
    vehicle: str = "F-150",
    days: int = 30,
    phone: str = "",
    maker: Any = None,
) -> str:
    """Send a link the way staff do; return the token from the text message. `maker`: the
    sessionmaker to use instead of the app's (PostgreSQL tests that also drive the app's
    test client, whose pool lives in another event loop)."""
    maker = maker or app.state.sessionmaker
    async with maker() as s:
        client = (
            await s.execute(select(Client).where(Client.account_number == account))
        ).scalar_one()
        staff = (
            await s.execute(select(StaffUser).where(StaffUser.email == "agent@demo.test"))
        ).scalar_one()
        acct = await load_account(s, client.id or 0)
        vid = next(v.id for v in acct.vehicles if vehicle in v.label)
        await send_link.send(
            s,
            staff=staff,
            client_id=client.id or 0,
            vehicle_id=vid or 0,
            days=days,
            raw_phone=phone or client.phone_e164,
            reviewed=None,
            now=app.state.clock.now(),
            ttl_seconds=600,
            base_url="http://127.0.0.1:8000",
            company="Demo Interlock",
            box=app.state.box,
        )
        await s.commit()
    await deliver_due(maker, app.state.sms, app.state.clock, app.state.box)
    body = list(app.state.sms.delivered.values())[-1]
    match = re.search(r"/pay/([A-Za-z0-9_-]{43})", body)
    assert match
    return match.group(1)


async def tokenize(c: AsyncTestClient[Any], number: str, cvc: str = "123") -> str:
    """What card.js does: hand the card to the sandbox's tokenizer, keep only the reference."""
    r = await c.post(
        "/sandbox/payment_methods",
        json={"number": number, "exp": "12/30", "cvc": cvc, "postal_code": "78701"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def submit(
    c: AsyncTestClient[Any], token: str, card: str | None = "success", terms: bool = True
) -> Any:
    page = parse((await c.get(f"/pay/{token}")).text)
    data = {"_csrf_token": page.csrf()}
    if card:
        data["payment_method"] = await tokenize(c, CARDS[card])
    if terms:
        data["terms"] = "accepted"
    return await c.post(f"/pay/{token}", data=data, follow_redirects=False)


def charges(app: Litestar) -> int:
    return int(app.state.gateway.successful_charge_count)


async def test_page_shows_the_summary_with_private_headers_and_marks_opened(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in r.headers["x-robots-tag"]
    page = parse(r.text)
    assert page.text("#payment-summary-title") == "Payment Summary"
    assert "James C." in page.text(".payer") and "Carter" not in page.text("main")
    assert page.text("#total-due") == "$182.01"
    assert page.one("[data-pay-submit]").get_text(strip=True) == "Make Payment"
    assert page.one("#time-left")["data-seconds-left"] == "600"
    link = (await session.execute(select(PaymentLink))).scalar_one()
    assert link.status == "opened" and link.opened_at is not None


@pytest.mark.parametrize("token", ["short", "x" * 43, "a" * 43, "bad!token..~"])
async def test_unknown_or_malformed_token_is_a_generic_404(
    client: AsyncTestClient[Any], token: str
) -> None:
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 404
    assert "could not find this payment link" in parse(r.text).text("h1")


async def test_card_and_terms_are_enforced_by_the_server(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    token = await make_link(app)
    r = await submit(client, token, card=None, terms=False)
    assert r.status_code == 422
    page = parse(r.text)
    assert "Enter your card details" in page.text("#card-error")
    assert "Agree to the payment terms" in page.text("#terms-error")
    r = await submit(client, token, card="success", terms=False)
    assert r.status_code == 422 and charges(app) == 0


async def test_decline_then_success_gives_a_receipt_and_applies_once(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    r = await submit(client, token, card="decline")
    assert r.status_code == 402
    assert "declined" in parse(r.text).text("#card-error")
    assert "4 tries left" in parse(r.text).text("#pay-errors")
    r = await submit(client, token, card="success")
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}/receipt"
    receipt = parse((await client.get(r.headers["location"])).text)
    assert receipt.text("#receipt-amount") == "$182.01"
    assert receipt.text("#receipt-card") == "Visa ending 4242"
    assert receipt.text("#receipt-invoice").startswith("INV-")
    assert "AutoPay" in receipt.text(".autopay-invite")
    assert charges(app) == 1

    link = (await session.execute(select(PaymentLink))).scalar_one()
    assert link.status == "paid" and link.payment_id is not None
    pays = (
        (await session.execute(select(Payment).where(Payment.link_id == link.id))).scalars().all()
    )
    assert sorted(p.status for p in pays) == ["failed", "succeeded"]
    refused = next(p for p in pays if p.status == "failed")  # named in the staff's ledger
    assert (refused.card_brand, refused.card_last4) == ("Visa", "0002")
    ok = next(p for p in pays if p.status == "succeeded")
    settled = (
        (
            await session.execute(
                select(PaymentAllocation.invoice_id).where(PaymentAllocation.payment_id == ok.id)
            )
        )
        .scalars()
        .all()
    )
    assert len(settled) == 2  # the $90 past-due invoice and the new monitoring invoice
    open_left = (
        await session.execute(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.client_id == link.client_id, Invoice.status == "open")
        )
    ).scalar_one()
    assert open_left == 0
    f150 = await session.get(Vehicle, link.vehicle_id)
    assert str(f150.paid_through) == "2026-12-27"
    receipt_sms = (
        await session.execute(select(SmsMessage).where(SmsMessage.kind == "receipt"))
    ).scalar_one()
    assert "$182.01" in receipt_sms.body


async def test_paid_link_reopened_says_already_paid_without_details(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    token = await make_link(app)
    await submit(client, token)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as stranger:
        for url in (f"/pay/{token}", f"/pay/{token}/receipt"):
            r = await stranger.get(url)
            text = parse(r.text).text("main")
            assert "already been paid" in text
            assert "$" not in text and "James" not in text and "F-150" not in text
    r = await submit(client, token)
    assert "already been paid" in parse(r.text).text("main") and charges(app) == 1


async def test_five_declines_lock_the_link(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    for _ in range(5):
        r = await submit(client, token, card="insufficient")
    assert r.status_code == 410 and "locked" in parse(r.text).text("h1")
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 410
    assert (await session.execute(select(PaymentLink.status))).scalar_one() == "locked"
    assert charges(app) == 0


async def test_after_expiry_the_page_is_410_and_nothing_is_charged(
    client: AsyncTestClient[Any], app: Litestar, clock: Any
) -> None:
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    pm = await tokenize(client, CARDS["success"])
    clock.advance(seconds=600)
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 410
    text = parse(r.text).text("main")
    assert "expired" in text and "(800) 555-0199" in text
    r = await client.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "payment_method": pm, "terms": "accepted"},
    )
    assert r.status_code == 410 and charges(app) == 0


async def test_stale_snapshot_is_refused_without_charging(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    await session.execute(update(Invoice).where(Invoice.status == "open").values(status="void"))
    await session.commit()
    r = await submit(client, token)
    assert r.status_code == 409 and "out of date" in parse(r.text).text("h1")
    assert charges(app) == 0


async def test_submission_without_csrf_is_refused(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    token = await make_link(app)
    await client.get(f"/pay/{token}")
    r = await client.post(
        f"/pay/{token}", data={"payment_method": "pm_sandbox_visa_4242", "terms": "accepted"}
    )
    assert r.status_code == 403 and charges(app) == 0


async def test_no_card_number_is_stored_or_logged(
    client: AsyncTestClient[Any], app: Litestar, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    token = await make_link(app)
    await submit(client, token, card="decline")
    await submit(client, token, card="success")
    db_file = Path(settings.database_url.split("///", 1)[1])
    raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    # Everything the app and its libraries logged (the test client's own request log aside).
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "sandbox_tokenized" in logs  # the capture did see the app's logs
    for number in CARDS.values():
        assert number.encode() not in raw
        assert number not in logs
        assert number[-8:] not in logs  # not even a chunk of it
    assert token not in logs  # nor the link token


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_twenty_concurrent_submissions_charge_once(app: Litestar, db_url: str) -> None:
    token = await make_link(app)
    maker = app.state.sessionmaker
    clock = app.state.clock
    async with maker() as s:
        state = await pay_link.find(s, token, clock.now())

    async def one() -> str:
        try:
            outcome = await pay_link.pay(
                maker, app.state.gateway, clock, state, "pm_sandbox_visa_4242_1230_a1b2c3d4", "Demo"
            )
        except (payments.PaymentInProgress, payments.LinkNotPayable) as exc:
            return type(exc).__name__
        return outcome.status

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert results.count("succeeded") == 1, results
    assert charges(app) == 1
    async with maker() as s:
        ok = (
            await s.execute(
                select(func.count())
                .select_from(Payment)
                .where(Payment.status == "succeeded", Payment.channel == "link")
            )
        ).scalar_one()
        link = (
            await s.execute(select(PaymentLink).where(PaymentLink.token_hash == hash_token(token)))
        ).scalar_one()
    assert ok == 1 and link.status == "paid"


async def test_no_receipt_text_to_a_number_that_opted_out_after_the_link(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    await session.execute(
        update(Client).where(Client.account_number == "100002").values(sms_opt_out=True)
    )  # James texted STOP after the link was sent
    await session.commit()
    r = await submit(client, token)
    assert r.status_code == 303 and charges(app) == 1
    receipts = (
        await session.execute(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.kind == "receipt")
        )
    ).scalar_one()
    assert receipts == 0


async def test_a_superseded_link_points_to_the_newer_text(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    first = await make_link(app)
    await make_link(app)
    r = await client.get(f"/pay/{first}")
    assert r.status_code == 410
    assert "newer payment link" in parse(r.text).text("main")
    r = await submit(client, first)
    assert r.status_code == 410 and charges(app) == 0
