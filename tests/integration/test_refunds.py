"""Supervisor refunds from Account History, through the handlers: partial, full, once per
request key, validation, roles, the text to the client and the audit trail."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.adapters.payments.sandbox import REFUND_LOST_ANSWER_CARD
from app.clock import FixedClock
from app.domain.errors import OutcomeUnknown
from app.services import reconcile
from app.store.models import (
    AuditEvent,
    CardOnFile,
    Client,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
    SmsMessage,
    Vehicle,
)
from tests.conftest import get_page, sign_in_staff
from tests.html import Page, parse, squash
from tests.integration.test_history import card_ids, charge, history, ids, review, take_form
from tests.integration.test_money_failures import link_payments
from tests.integration.test_money_failures import pay as pay_with
from tests.integration.test_pay import make_link

HX = {"HX-Request": "true"}
SUPERVISOR = ("supervisor@demo.test", "demo-supervisor-pass")


async def fresh(app: Litestar, model: Any, id_: int) -> Any:
    """Read a row as it is now (the test's own session would hand back its old copy)."""
    async with app.state.sessionmaker() as s:
        return await s.get(model, id_)


async def rows(app: Litestar, stmt: Any) -> list[Any]:
    async with app.state.sessionmaker() as s:
        return list((await s.execute(stmt)).scalars().all())


async def total_due(c: AsyncTestClient[Any], cid: int, vid: int) -> str:
    return (await take_form(c, cid, vid, days="30")).text("#total-due")


async def balance(c: AsyncTestClient[Any], cid: int) -> str:
    status, page = await get_page(c, history(cid))
    assert status == 200
    return page.text("#ledger-balance")


async def pay(c: AsyncTestClient[Any], cid: int, vid: int, card: str) -> Payment:
    """Take Payment for 30 days with `card` (its label), as whoever is signed in."""
    page = await take_form(c, cid, vid, days="30")
    confirm = parse((await review(c, cid, page, card_ids(page)[card][0])).text)
    r, _ = await charge(c, cid, confirm)
    assert r.status_code == 200 and "charged" in parse(r.text).text("#history-notice"), r.text
    top = parse(r.text).all("#ledger tbody tr")[0]
    assert top["id"].startswith("payment-")
    return await fresh(c.app, Payment, int(top["id"].removeprefix("payment-")))


async def open_refund(c: AsyncTestClient[Any], cid: int, payment_id: int) -> Page:
    r = await c.get(f"{history(cid)}/payments/{payment_id}/refund", headers=HX)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def review_refund(
    c: AsyncTestClient[Any], cid: int, payment_id: int, amount: str, reason: str, token: str
) -> Any:
    return await c.post(
        f"{history(cid)}/payments/{payment_id}/refund/review",
        data={"_csrf_token": token, "amount": amount, "reason": reason},
        headers=HX,
    )


def confirm_data(confirm: Page) -> dict[str, str]:
    form = confirm.one("#confirm-refund form")
    return {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}


async def refund(
    c: AsyncTestClient[Any], cid: int, payment_id: int, amount: str, reason: str
) -> tuple[Any, dict[str, str]]:
    """Open the form, review, confirm: the whole refund as a supervisor clicks through it."""
    form = await open_refund(c, cid, payment_id)
    r = await review_refund(c, cid, payment_id, amount, reason, form.csrf())
    assert r.status_code == 200, r.text
    data = confirm_data(parse(r.text))
    r = await c.post(f"{history(cid)}/payments/{payment_id}/refund", data=data, headers=HX)
    return r, data


async def test_supervisor_refunds_part_then_the_rest_and_the_ledger_balances(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    f150 = vehicles["F-150"]
    paid_through_before = (await fresh(app, Vehicle, f150)).paid_through
    balance_before = await balance(client, cid)
    assert await total_due(client, cid, f150) == "$182.01"  # $90.00 past due + $85.00 + tax
    payment = await pay(client, cid, f150, "Mastercard ending 4444")
    assert payment.amount_cents == 18201 and payment.processor_ref
    due_after_payment = await total_due(client, cid, f150)
    assert due_after_payment == "$92.01"  # only the next period now

    # The payment row offers Refund; the form opens in place, pre-filled with all of it.
    status, page = await get_page(client, history(cid))
    row = page.one(f"#payment-{payment.id}")
    assert row.select_one("a.refund-link")["hx-target"] == "#history-action"
    form = await open_refund(client, cid, payment.id)
    assert form.one("#history-action #refund-amount")["value"] == "182.01"
    assert "$182.01" in form.text("#refund-amount-hint")
    assert form.text("#refund-payment").startswith("Payment of $182.01 to Mastercard ending 4444")

    # Review: the confirmation says what will happen, and nothing is refunded yet.
    r = await review_refund(
        client, cid, payment.id, "50", "Charged for the wrong days", form.csrf()
    )
    assert r.status_code == 200
    confirm = parse(r.text)
    assert squash(confirm.one("#confirm-refund .confirm-amount").get_text()) == (
        "Refund $50.00 to Mastercard ending 4444? The client gets a text."
    )
    assert confirm.text("#refund-button") == "Confirm refund"
    assert len(confirm_data(confirm)["request_key"]) == 32
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 0

    # Confirm: refunded at the processor, the ledger redrawn out of band with the refund row.
    r = await client.post(
        f"{history(cid)}/payments/{payment.id}/refund", data=confirm_data(confirm), headers=HX
    )
    assert r.status_code == 200, r.text
    done = parse(r.text)
    assert done.text("#history-notice") == "Refunded $50.00 to Mastercard ending 4444."
    assert done.one("#ledger").get("hx-swap-oob") == "true"
    top = done.all("#ledger tbody tr")[0]
    assert top["id"].startswith("refund-") and top["data-status"] == "refunded"
    assert "Refund — Charged for the wrong days" in top.get_text()
    assert "$50.00" in top.select("td.num")[0].get_text()
    pay_row = done.one(f"#payment-{payment.id}")
    assert pay_row["data-status"] == "partially_refunded"
    assert "Partly refunded" in pay_row.get_text() and "−$182.01" in pay_row.get_text()
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 5000
    payment = await fresh(app, Payment, payment.id)
    assert payment.status == "partially_refunded" and payment.refunded_cents == 5000

    # The invoices it settled are open again for their shares: exactly $50.00 more is due.
    assert await total_due(client, cid, f150) == "$142.01"
    allocs = await rows(
        app, select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
    )
    assert sum(a.amount_cents for a in allocs) == 18201 - 5000
    settled = await rows(app, select(Invoice).where(Invoice.id.in_({a.invoice_id for a in allocs})))
    assert {i.status for i in settled} == {"open"}
    assert {i.kind for i in settled} == {"charge", "monitoring"}
    # Past due is what is still owed of the reopened $90.00 invoice (its share of the $50.00),
    # and an invoice that still holds part of a payment cannot be voided.
    status, page = await get_page(client, history(cid))
    past_due = next(d for d in page.all("#ledger .facts div") if "Past due" in d.get_text())
    assert past_due.select_one("dd").get_text(strip=True) == "$24.72"
    assert not any(page.has(f"#invoice-{i.id} form[action$='/void']") for i in settled)

    # Refund the rest: the form now offers what is left.
    form = await open_refund(client, cid, payment.id)
    assert form.one("#refund-amount")["value"] == "132.01"
    assert "Already refunded: $50.00" in form.text("#refund-payment")
    r, _ = await refund(client, cid, payment.id, "132.01", "Client cancelled the service")
    assert r.status_code == 200
    done = parse(r.text)
    assert done.text("#history-notice") == "Refunded $132.01 to Mastercard ending 4444."
    assert done.one(f"#payment-{payment.id}")["data-status"] == "refunded"
    assert not done.has(f"#payment-{payment.id} a.refund-link")  # nothing left to refund
    assert len(done.all("#ledger tr[data-status=refunded].ledger-row--refund")) == 2
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 18201
    payment = await fresh(app, Payment, payment.id)
    assert payment.status == "refunded" and payment.refunded_cents == 18201

    # The $90.00 invoice is open in full, the monitoring invoice void, the F-150 paid through
    # where it was, and the account is back where it started.
    by_kind = {i.kind: await fresh(app, Invoice, i.id) for i in settled}
    assert by_kind["charge"].status == "open" and by_kind["charge"].total_cents == 9000
    assert by_kind["monitoring"].status == "void"
    allocs = await rows(
        app, select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
    )
    assert sum(a.amount_cents for a in allocs) == 0
    assert (await fresh(app, Vehicle, f150)).paid_through == paid_through_before
    assert await total_due(client, cid, f150) == "$182.01"
    assert await balance(client, cid) == balance_before
    status, page = await get_page(client, history(cid))
    assert page.text("#ledger-balance") == page.all("#ledger tbody tr")[0].select("td.num")[-1].get_text(strip=True)  # fmt: skip
    # The running balance never goes below zero: the voided period is credited when voided.
    balances = [r.select("td.num")[-1].get_text(strip=True) for r in page.all("#ledger tbody tr")]
    assert not any(b.startswith(("-", "−")) for b in balances), balances
    assert page.has(f"#credit-{by_kind['monitoring'].id}")

    # Audit: who asked (staff) and what the processor confirmed, for each refund.
    events = await rows(
        app,
        select(AuditEvent)
        .where(AuditEvent.client_id == cid, AuditEvent.action.like("payment.refund%"))
        .order_by(AuditEvent.id),
    )
    assert [e.action for e in events] == ["payment.refund_requested", "payment.refunded"] * 2
    asked = json.loads(events[0].detail)
    assert events[0].actor_type == "staff" and asked["amount_cents"] == 5000
    assert asked["reason"] == "Charged for the wrong days" and asked["payment_id"] == payment.id
    assert json.loads(events[3].detail)["amount_cents"] == 13201

    # Texts to James's phone on file, one per refund.
    texts = await rows(app, select(SmsMessage).where(SmsMessage.kind == "refund"))
    assert [t.to_e164 for t in texts] == ["+15125550102", "+15125550102"]
    assert "$50.00" in texts[0].body and "Mastercard ending 4444" in texts[0].body


async def test_a_double_submitted_refund_refunds_once(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")
    form = await open_refund(client, cid, payment.id)
    r = await review_refund(client, cid, payment.id, "182.01", "Charged twice", form.csrf())
    data = confirm_data(parse(r.text))
    url = f"{history(cid)}/payments/{payment.id}/refund"

    # Two clicks at once, then the same form sent again later: one refund.
    r1, r2 = await asyncio.gather(
        client.post(url, data=data, headers=HX), client.post(url, data=data, headers=HX)
    )
    r3 = await client.post(url, data=data, headers=HX)
    for r in (r1, r2, r3):
        assert r.status_code == 200, r.text
        assert (
            parse(r.text).text("#history-notice") == "Refunded $182.01 to Mastercard ending 4444."
        )
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 18201
    made = await rows(app, select(Refund).where(Refund.payment_id == payment.id))
    assert len(made) == 1 and made[0].status == "succeeded"
    assert (await fresh(app, Payment, payment.id)).refunded_cents == 18201
    texts = await rows(app, select(SmsMessage).where(SmsMessage.kind == "refund"))
    assert len(texts) == 1


async def test_more_than_is_left_or_no_reason_is_refused_next_to_the_field(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")
    token = (await open_refund(client, cid, payment.id)).csrf()
    for amount, reason, field, words in (
        ("182.02", "Charged twice", "amount", "up to $182.01"),
        ("0", "Charged twice", "amount", "over $0.00"),
        ("fifty", "Charged twice", "amount", "like 50.00"),
        ("50", "   ", "reason", "Say why"),
    ):
        r = await review_refund(client, cid, payment.id, amount, reason, token)
        assert r.status_code == 422
        page = parse(r.text)
        assert words in page.text(f"#refund-{field}-error")
        field_input = page.one(f"#refund-{field}")
        assert field_input["aria-invalid"] == "true"
        assert f"refund-{field}-error" in field_input["aria-describedby"]
        assert page.one("#refund-amount")["value"] == amount  # what was typed is kept
        assert not page.has("#refund-errors")  # htmx: no summary, the field says it
        assert not page.has("#ledger")  # the ledger did not change

    # A confirmation posted with more than is left (another refund went first): refused.
    r = await review_refund(client, cid, payment.id, "100", "Charged twice", token)
    first = confirm_data(parse(r.text))
    r = await review_refund(client, cid, payment.id, "100", "Charged twice", token)
    second = confirm_data(parse(r.text))
    url = f"{history(cid)}/payments/{payment.id}/refund"
    assert (await client.post(url, data=first, headers=HX)).status_code == 200
    r = await client.post(url, data=second, headers=HX)
    assert r.status_code == 422
    assert "what is left" in parse(r.text).text("#refund-amount-error")
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 10000
    # A confirmation without its request key is refused too: it could not refund once.
    r = await client.post(url, data=first | {"request_key": ""}, headers=HX)
    assert r.status_code == 422 and "out of date" in parse(r.text).text("#history-error")
    assert len(await rows(app, select(Refund))) == 1


async def test_agents_cannot_refund_and_nothing_changes(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)  # an agent
    cid, vehicles = await ids(session)
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")
    status, page = await get_page(client, history(cid))
    assert not page.has("a.refund-link")
    base = f"{history(cid)}/payments/{payment.id}/refund"
    r = await client.get(base, headers=HX)
    assert r.status_code == 403 and "supervisor" in parse(r.text).text("#history-notice")
    assert not parse(r.text).has("#refund-amount")
    data = {"_csrf_token": page.csrf(), "amount": "50", "reason": "Charged twice"}
    r = await client.post(f"{base}/review", data=data, headers=HX)
    assert r.status_code == 403
    key = "0123456789abcdef0123456789abcdef"
    r = await client.post(base, data=data | {"request_key": key}, headers=HX)
    assert r.status_code == 403 and "supervisor" in parse(r.text).text("#history-notice")
    assert await rows(app, select(Refund)) == []
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 0
    assert (await fresh(app, Payment, payment.id)).status == "succeeded"


async def test_no_text_to_an_opted_out_number(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    derek = (
        await session.execute(select(Client).where(Client.account_number == "100004"))
    ).scalar_one()
    assert derek.sms_opt_out
    session.add(
        CardOnFile(client_id=derek.id, processor_ref="pm_sandbox_visa_4242", brand="Visa",
                   last4="4242", exp_month=12, exp_year=2030, created_at=app.state.clock.now())
    )  # fmt: skip
    await session.commit()
    await sign_in_staff(client, *SUPERVISOR)
    _, vehicles = await ids(session, "100004")
    payment = await pay(client, derek.id, vehicles["Malibu"], "Visa ending 4242")
    form = await open_refund(client, derek.id, payment.id)
    r = await review_refund(client, derek.id, payment.id, "10", "Goodwill credit", form.csrf())
    assert "opted out of texts" in parse(r.text).text("#confirm-refund")
    r = await client.post(
        f"{history(derek.id)}/payments/{payment.id}/refund",
        data=confirm_data(parse(r.text)),
        headers=HX,
    )
    assert "Refunded $10.00 to Visa ending 4242." in parse(r.text).text("#history-notice")
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 1000
    count = (
        await session.execute(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.kind == "refund")
        )
    ).scalar_one()
    assert count == 0


async def test_a_lost_answer_leaves_the_refund_pending_and_says_so(
    client: AsyncTestClient[Any], session: Any, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")

    async def lost(**kw: Any) -> Any:
        raise OutcomeUnknown()

    monkeypatch.setattr(app.state.gateway, "refund", lost)
    r, _ = await refund(client, cid, payment.id, "50", "Charged twice")
    assert r.status_code == 202
    page = parse(r.text)
    assert "we're waiting for the processor to confirm it" in page.text("#history-notice")
    top = page.all("#ledger tbody tr")[0]
    assert top["data-status"] == "refund-pending" and "Refund pending" in top.get_text()
    # The balance does not move until the processor confirms.
    assert page.text("#ledger-balance") == page.one(f"#payment-{payment.id}").select("td.num")[-1].get_text(strip=True)  # fmt: skip
    # While it is pending, it is not left to refund.
    form = await open_refund(client, cid, payment.id)
    assert form.one("#refund-amount")["value"] == "132.01"


async def test_a_refund_the_processor_refuses_changes_nothing(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    # The seeded history payments were never made at the sandbox: it refuses their refunds.
    await sign_in_staff(client, *SUPERVISOR)
    cid, _ = await ids(session)
    seeded = (
        await rows(app, select(Payment).where(Payment.client_id == cid, Payment.status == "succeeded"))
    )[0]  # fmt: skip
    r, _ = await refund(client, cid, seeded.id, "1.00", "Test")
    assert r.status_code == 409
    page = parse(r.text)
    assert "did not go through" in page.text("#history-error")
    assert "Nothing was refunded" in page.text("#history-error")
    assert page.one("#refund-amount")["value"] == "1.00"  # try again from the form
    assert (await fresh(app, Payment, seeded.id)).status == "succeeded"
    assert (await rows(app, select(Refund)))[0].status == "failed"


async def test_refund_works_as_plain_form_posts(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")
    base = f"{history(cid)}/payments/{payment.id}/refund"
    status, page = await get_page(client, base)
    assert status == 200 and page.has("html body header") and page.has("#ledger")
    r = await client.post(f"{base}/review", data={"_csrf_token": page.csrf(), "amount": "500", "reason": ""})  # fmt: skip
    assert r.status_code == 422
    page = parse(r.text)
    summary = [a["href"] for a in page.all("#refund-errors a")]
    assert summary == ["#refund-amount", "#refund-reason"]
    r = await client.post(
        f"{base}/review", data={"_csrf_token": page.csrf(), "amount": "25", "reason": "Goodwill"}
    )
    confirm = parse(r.text)
    assert confirm.has("html body header")
    back = confirm.one("#confirm-refund a")["href"]
    status, again = await get_page(client, back)
    assert again.one("#refund-amount")["value"] == "25"
    assert again.one("#refund-reason")["value"] == "Goodwill"
    r = await client.post(base, data=confirm_data(confirm), follow_redirects=False)
    assert r.status_code == 303 and "?refunded=" in r.headers["location"]
    status, page = await get_page(client, r.headers["location"])
    assert page.text("#history-notice") == "Refunded $25.00 to Mastercard ending 4444."
    assert page.one(f"#payment-{payment.id}")["data-status"] == "partially_refunded"


async def test_other_clients_payments_and_missing_csrf_are_refused(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client, *SUPERVISOR)
    cid, vehicles = await ids(session)
    other, _ = await ids(session, "100001")
    payment = await pay(client, cid, vehicles["F-150"], "Mastercard ending 4444")
    r = await client.get(f"{history(other)}/payments/{payment.id}/refund", headers=HX)
    assert r.status_code == 404
    token = (await open_refund(client, cid, payment.id)).csrf()
    data = {"_csrf_token": token, "amount": "5", "reason": "Test"}
    r = await client.post(f"{history(other)}/payments/{payment.id}/refund/review", data=data, headers=HX)  # fmt: skip
    assert r.status_code == 404
    key = {"request_key": "0123456789abcdef0123456789abcdef"}
    r = await client.post(f"{history(other)}/payments/{payment.id}/refund", data=data | key, headers=HX)  # fmt: skip
    assert r.status_code == 404
    for missing in ("999999", str(2**40)):
        url = f"{history(cid)}/payments/{missing}/refund"
        assert (await client.get(url, headers=HX)).status_code == 404
        assert (await client.post(url, data=data | key, headers=HX)).status_code == 404
    no_csrf = {"amount": "5", "reason": "Test"} | key
    r = await client.post(f"{history(cid)}/payments/{payment.id}/refund", data=no_csrf)
    assert r.status_code == 403
    assert await rows(app, select(Refund)) == []
    assert app.state.gateway.refunded_cents(payment.processor_ref) == 0


async def test_a_refund_made_whose_answer_was_lost_is_applied_once_by_reconcile(
    client: AsyncTestClient[Any], session: Any, app: Litestar, clock: FixedClock
) -> None:
    """The sandbox's …5126 card: the refund is made, its answer lost. The refund waits as
    pending; reconcile asks again with the same key and applies it once."""
    token = await make_link(app)
    assert (await pay_with(client, token, REFUND_LOST_ANSWER_CARD)).status_code == 303
    _, [payment] = await link_payments(app.state.sessionmaker, token)
    assert payment.status == "succeeded"
    await sign_in_staff(client, *SUPERVISOR)
    cid, _ = await ids(session)
    r, _ = await refund(client, cid, payment.id, "50", "Charged twice")
    assert r.status_code == 202
    assert "we're waiting for the processor to confirm it" in parse(r.text).text("#history-notice")
    gateway = app.state.gateway
    assert gateway.refunded_cents(payment.processor_ref) == 5000  # made at the processor
    [pending] = await rows(app, select(Refund).where(Refund.payment_id == payment.id))
    assert pending.status == "pending"
    assert (await fresh(app, Payment, payment.id)).refunded_cents == 0

    for _ in range(2):  # once, then again: applied once
        await reconcile.run(app.state.sessionmaker, gateway, clock, "Demo")
    [done] = await rows(app, select(Refund).where(Refund.payment_id == payment.id))
    assert done.status == "succeeded" and done.processor_ref
    paid = await fresh(app, Payment, payment.id)
    assert paid.status == "partially_refunded" and paid.refunded_cents == 5000
    assert gateway.refunded_cents(payment.processor_ref) == 5000
    allocs = await rows(
        app, select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
    )
    assert sum(a.amount_cents for a in allocs) == 18201 - 5000
    refunded = await rows(app, select(AuditEvent).where(AuditEvent.action == "payment.refunded"))
    assert len(refunded) == 1
