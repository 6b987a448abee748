"""Account History through the handlers: ledger, Add New Invoice, void, Take Payment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.domain.errors import StaleSummary
from app.services import pay_link
from app.store.models import AuditEvent, Client, Invoice, Payment, PaymentLink, Vehicle
from tests.conftest import get_page, sign_in_staff
from tests.html import Page, parse
from tests.integration.test_pay import make_link

HX = {"HX-Request": "true"}


async def ids(session: Any, account: str = "100002") -> tuple[int, dict[str, int]]:
    client = (
        await session.execute(select(Client).where(Client.account_number == account))
    ).scalar_one()
    vehicles = (
        (await session.execute(select(Vehicle).where(Vehicle.client_id == client.id)))
        .scalars()
        .all()
    )
    return client.id, {v.model: v.id for v in vehicles}


def history(cid: int) -> str:
    return f"/plus/clients/{cid}/history"


async def test_ledger_lists_invoices_newest_first_with_running_balance(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid, _ = await ids(session)
    status, page = await get_page(client, history(cid))
    assert status == 200
    assert page.one(".tabs [aria-current=page]").get_text(strip=True) == "Account History"
    rows = page.all("#ledger tbody tr")
    assert rows, "the ledger lists James Carter's history"
    past_due = page.all("#ledger tr[data-status=past-due]")
    assert len(past_due) == 1 and "$90.00" in past_due[0].get_text()
    # Newest first, and the newest row's running balance is the account balance.
    assert page.text("#ledger-balance") == rows[0].select("td.num")[-1].get_text(strip=True)
    # At the bottom of the tab, below the ledger: Add New Invoice, then Take Payment below it.
    assert [el["id"] for el in page.all("#ledger, #history-action")] == ["ledger", "history-action"]
    buttons = [a.get_text(strip=True) for a in page.all("#history-action .stacked-actions a")]
    assert buttons == ["Add New Invoice", "Take Payment"]
    assert all(a["href"].endswith("#history-action") for a in page.all(".stacked-actions a"))


async def test_add_new_invoice_validates_then_adds_and_audits(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    r = await client.get(f"{history(cid)}/invoice-form", headers=HX)
    form = parse(r.text)
    assert form.has("#inv-description") and form.has("#inv-amount")
    token = form.csrf()
    for amount, words in (
        ("0", "over $0.00"),
        ("10000.01", "$10,000.00 or less"),
        ("abc", "like 45.00"),
    ):
        r = await client.post(
            f"{history(cid)}/invoices",
            data={"_csrf_token": token, "description": "Recalibration", "amount": amount,
                  "due_date": "2026-12-01", "vehicle_id": ""},
            headers=HX,
        )  # fmt: skip
        assert r.status_code == 422
        page = parse(r.text)
        assert words in page.text("#inv-amount-error")
        assert page.one("#inv-description")["value"] == "Recalibration"  # nothing typed is lost
    r = await client.post(
        f"{history(cid)}/invoices",
        data={"_csrf_token": token, "description": "", "amount": "25", "due_date": "nope"},
        headers=HX,
    )
    page = parse(r.text)
    # Neither a charge of the catalog nor words: the picker says so (test_charge_catalog.py).
    assert "Choose a charge" in page.text("#inv-charge-error")
    assert "due date" in page.text("#inv-due-error")

    r = await client.post(
        f"{history(cid)}/invoices",
        data={"_csrf_token": token, "description": "Device recalibration fee", "amount": "25.50",
              "due_date": "2026-12-01", "vehicle_id": str(vehicles["Camry"])},
        headers=HX,
    )  # fmt: skip
    assert r.status_code == 200
    page = parse(r.text)
    assert "added" in page.text("#history-notice") and "$25.50" in page.text("#history-notice")
    ledger = page.one("#ledger")
    assert ledger.get("hx-swap-oob") == "true"
    assert "Device recalibration fee" in ledger.select("tbody tr")[0].get_text()
    invoice = (
        await session.execute(
            select(Invoice).where(Invoice.description == "Device recalibration fee")
        )
    ).scalar_one()
    assert invoice.amount_cents == 2550 and invoice.status == "open"
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "invoice.added"))
    ).scalar_one()
    assert event.actor_type == "staff" and invoice.number in event.detail


async def test_plain_form_post_adds_an_invoice_and_redirects(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid, _ = await ids(session)
    status, page = await get_page(client, f"{history(cid)}?action=add_invoice")
    r = await client.post(
        f"{history(cid)}/invoices",
        data={"_csrf_token": page.csrf(), "description": "Lockout fee", "amount": "$40",
              "due_date": "2026-12-01"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    status, page = await get_page(client, r.headers["location"])
    assert "added" in page.text("#history-notice")
    assert "Lockout fee" in page.text("#ledger")


async def test_void_is_for_supervisors_only(client: AsyncTestClient[Any], session: Any) -> None:
    cid, _ = await ids(session)
    invoice = (
        await session.execute(
            select(Invoice).where(Invoice.client_id == cid, Invoice.status == "open")
        )
    ).scalar_one()
    await sign_in_staff(client)
    status, page = await get_page(client, history(cid))
    assert not page.has(f"form[action$='/invoices/{invoice.id}/void']")  # agents see no Void
    r = await client.post(
        f"{history(cid)}/invoices/{invoice.id}/void",
        data={"_csrf_token": page.csrf()},
        headers=HX,
    )
    assert r.status_code == 403 and "supervisor" in parse(r.text).text("#history-notice")
    await session.refresh(invoice)
    assert invoice.status == "open"

    await client.post("/plus/logout", data={"_csrf_token": page.csrf()})
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    status, page = await get_page(client, history(cid))
    assert page.has(f"form[action$='/invoices/{invoice.id}/void']")
    r = await client.post(
        f"{history(cid)}/invoices/{invoice.id}/void",
        data={"_csrf_token": page.csrf()},
        headers=HX,
    )
    assert r.status_code == 200 and "voided" in parse(r.text).text("#history-notice")
    await session.refresh(invoice)
    assert invoice.status == "void"
    r = await client.post(
        f"{history(cid)}/invoices/{invoice.id}/void", data={"_csrf_token": page.csrf()}, headers=HX
    )
    assert r.status_code == 409  # already void


async def take_form(c: AsyncTestClient[Any], cid: int, vid: int, days: str = "") -> Page:
    params = {"vehicle_id": str(vid)} | ({"days": days} if days else {})
    r = await c.get(f"{history(cid)}/take-payment", params=params, headers=HX)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def review(c: AsyncTestClient[Any], cid: int, page: Page, card_id: str) -> Any:
    data = {
        "_csrf_token": page.csrf(),
        "vehicle_id": page.one("form[hx-post$='/review'] input[name=vehicle_id]")["value"],
        "days": page.one("form[hx-post$='/review'] input[name=days]")["value"],
        "card_id": card_id,
    }
    return await c.post(f"{history(cid)}/take-payment/review", data=data, headers=HX)


def card_ids(page: Page) -> dict[str, tuple[str, bool]]:
    out = {}
    for radio in page.all("#cards-on-file input[name=card_id]"):
        label = radio.find_parent("label").get_text(" ", strip=True)
        out[label.split(" · ")[0]] = (radio["value"], radio.has_attr("disabled"))
    return out


async def test_take_payment_quotes_by_cycle_and_hides_expired_cards(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    page = await take_form(client, cid, vehicles["Camry"])
    assert page.one("form[hx-get] input[name=days][value='14']").has_attr(
        "checked"
    )  # Camry's 14-day cycle
    assert page.text("#total-due") == "$138.71"  # $90.00 past due + $45.00 + 8.25% tax
    assert page.has(".summary-line--past_due")
    cards = card_ids(page)
    assert cards["Visa ending 1881"][1] is True  # expired: not selectable
    assert cards["Mastercard ending 4444"][1] is False
    r = await review(client, cid, page, cards["Visa ending 1881"][0])
    assert r.status_code == 422 and "expired" in parse(r.text).text("#card_id-error")


async def charge(c: AsyncTestClient[Any], cid: int, confirm: Page) -> Any:
    form = confirm.one("#confirm-charge form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    return await c.post(f"{history(cid)}/payments", data=data, headers=HX), data


async def test_take_payment_charges_the_card_once_and_refreshes_the_ledger(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    page = await take_form(client, cid, vehicles["Camry"])
    mc = card_ids(page)["Mastercard ending 4444"][0]
    r = await review(client, cid, page, mc)
    confirm = parse(r.text)
    assert confirm.text("#confirm-total") == "$138.71"
    assert confirm.text("#confirm-card") == "Mastercard ending 4444"
    assert app.state.gateway.successful_charge_count == 0  # the review charges nothing

    # A double click: the same confirmation posted twice at once charges once.
    (r1, data), (r2, _) = await asyncio.gather(
        charge(client, cid, confirm), charge(client, cid, confirm)
    )
    assert app.state.gateway.successful_charge_count == 1
    ok = parse(r1.text if r1.status_code == 200 and "charged" in r1.text else r2.text)
    assert "Payment of $138.71 charged to Mastercard ending 4444" in ok.text("#history-notice")
    assert ok.one("#ledger").get("hx-swap-oob") == "true"
    top = ok.all("#ledger tbody tr")[0]
    assert top["data-status"] == "succeeded" and "−$138.71" in top.get_text()
    assert not ok.text("#past-due-slot")  # past due settled, header alert cleared out of band
    pays = (
        await session.execute(
            select(func.count()).select_from(Payment).where(Payment.idempotency_key.like("staff_%"),
                                                            Payment.status == "succeeded")
        )
    ).scalar_one()  # fmt: skip
    assert pays == 1

    # Resending the same form later reports the first payment; it charges nothing more.
    r3 = await client.post(f"{history(cid)}/payments", data=data, headers=HX)
    assert "charged" in parse(r3.text).text("#history-notice")
    assert app.state.gateway.successful_charge_count == 1

    # Now the Camry's next 14 days cost $48.71, with no past-due line.
    page = await take_form(client, cid, vehicles["Camry"])
    assert page.text("#total-due") == "$48.71" and not page.has(".summary-line--past_due")


async def test_a_moved_summary_is_refused_and_a_decline_charges_nothing(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    page = await take_form(client, cid, vehicles["Camry"])
    confirm = parse(
        (await review(client, cid, page, card_ids(page)["Mastercard ending 4444"][0])).text
    )
    form = confirm.one("#confirm-charge form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data["reviewed"] = "0123456789abcdef"  # not the summary the account has now
    r = await client.post(f"{history(cid)}/payments", data=data, headers=HX)
    assert r.status_code == 409 and "changed" in parse(r.text).text("#history-error")
    assert app.state.gateway.successful_charge_count == 0

    # Put a declining card on file for this test and charge it.
    from app.store.models import CardOnFile

    card = CardOnFile(client_id=cid, processor_ref="pm_sandbox_visa_0002", brand="Visa", last4="0002",
                      exp_month=12, exp_year=2030, created_at=app.state.clock.now())  # fmt: skip
    session.add(card)
    await session.commit()
    page = await take_form(client, cid, vehicles["Camry"])
    confirm = parse((await review(client, cid, page, str(card.id))).text)
    r, _ = await charge(client, cid, confirm)
    assert r.status_code == 402
    assert "declined" in parse(r.text).text("#card_id-error")
    assert "Nothing was charged" in parse(r.text).text("#card_id-error")
    cards = parse(r.text).one("#cards-on-file")  # where focus goes (app.js): said once, there
    assert cards["aria-describedby"] == "card_id-error" and cards.has_attr("data-focus")
    assert parse(r.text).text().count("Nothing was charged") == 1
    assert app.state.gateway.successful_charge_count == 0
    # The ledger names the card that was declined, not just "Card".
    ledger = parse((await client.get(history(cid))).text)
    declined = [row.get_text(" ", strip=True) for row in ledger.soup.select("#ledger tr")]
    assert any("Visa ending 0002" in row for row in declined), declined


async def test_a_link_sent_before_take_payment_can_no_longer_be_paid(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    token = await make_link(app, vehicle="F-150", days=30)
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    page = await take_form(client, cid, vehicles["F-150"], days="30")
    confirm = parse(
        (await review(client, cid, page, card_ids(page)["Mastercard ending 4444"][0])).text
    )
    r, _ = await charge(client, cid, confirm)
    assert "charged" in parse(r.text).text("#history-notice")
    async with app.state.sessionmaker() as s:
        state = await pay_link.find(s, token, app.state.clock.now())
    with pytest.raises(StaleSummary):
        await pay_link.pay(
            app.state.sessionmaker,
            app.state.gateway,
            app.state.clock,
            state,
            "pm_sandbox_visa_4242_1230_a1b2c3d4",
            "Demo",
        )
    assert app.state.gateway.successful_charge_count == 1
    link = (await session.execute(select(PaymentLink))).scalar_one()
    assert link.status != "paid"


async def test_other_clients_ids_csrf_and_signed_out(
    client: AsyncTestClient[Any], session: Any
) -> None:
    r = await client.get(history(1), follow_redirects=False)
    assert r.status_code in (302, 303) and "/plus/login" in r.headers["location"]
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    other, other_vehicles = await ids(session, "100001")
    r = await client.get(history(999999))
    assert r.status_code == 404
    # Another client's vehicle in this client's Take Payment: an inline error, no summary.
    r = await client.get(
        f"{history(cid)}/take-payment", params={"vehicle_id": str(other_vehicles["Civic"]), "days": "14"}, headers=HX
    )  # fmt: skip
    assert parse(r.text).one("#tp-vehicle option[selected]")["value"] != str(
        other_vehicles["Civic"]
    )
    # Another client's card: refused.
    page = await take_form(client, other, other_vehicles["Civic"])
    visa = card_ids(page)["Visa ending 4242"][0]
    page = await take_form(client, cid, vehicles["Camry"])
    r = await review(client, cid, page, visa)
    assert r.status_code == 422 and "not found" in parse(r.text).text("#card_id-error")
    # No CSRF token: refused.
    r = await client.post(f"{history(cid)}/invoices", data={"description": "x", "amount": "5"})
    assert r.status_code == 403


async def test_take_payment_works_as_plain_form_posts(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vehicles = await ids(session)
    status, page = await get_page(
        client, f"{history(cid)}/take-payment", params={"vehicle_id": str(vehicles["Camry"])}
    )
    assert status == 200 and page.has("html body header")  # the whole page, not a fragment
    mc = card_ids(page)["Mastercard ending 4444"][0]
    r = await client.post(
        f"{history(cid)}/take-payment/review",
        data={"_csrf_token": page.csrf(), "vehicle_id": str(vehicles["Camry"]), "days": "14",
              "card_id": mc},
    )  # fmt: skip
    confirm = parse(r.text)
    assert r.status_code == 200 and confirm.has("html body header")
    form = confirm.one("#confirm-charge form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    r = await client.post(f"{history(cid)}/payments", data=data, follow_redirects=False)
    assert r.status_code == 303 and "?paid=" in r.headers["location"]
    status, page = await get_page(client, r.headers["location"])
    assert "Payment of $138.71 charged to Mastercard ending 4444" in page.text("#history-notice")
    assert app.state.gateway.successful_charge_count == 1
