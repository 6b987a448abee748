"""Send Secure Payment Link through the handlers: every fragment's success and error states."""

import re
from datetime import date
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.adapters.sms.outbox import OutboxSms
from app.domain.links import hash_token
from app.domain.sms_length import measure
from app.services.sms_worker import MAX_ATTEMPTS, deliver_due
from app.store.models import AuditEvent, Client, Invoice, PaymentLink, SmsMessage
from tests.conftest import NOW, get_page, sign_in_staff
from tests.html import parse
from tests.integration.test_pay import make_link, submit

HX = {"HX-Request": "true"}


async def client_id(session: Any, account: str) -> int:
    return (
        await session.execute(select(Client.id).where(Client.account_number == account))
    ).scalar_one()


async def summary_form(c: AsyncTestClient[Any], cid: int, vehicle: str, days: int = 30) -> Any:
    status, page = await get_page(c, f"/plus/clients/{cid}")
    vid = next(
        o["value"]
        for o in (await get_page(c, f"/plus/clients/{cid}/send-link"))[1].all("#vehicle_id option")
        if vehicle in o.get_text()
    )
    r = await c.get(
        f"/plus/clients/{cid}/send-link", params={"vehicle_id": vid, "days": days}, headers=HX
    )
    return r, vid


async def reviewed_now(c: AsyncTestClient[Any], cid: int, vid: str, days: int | str = 30) -> str:
    """Get Summary as staff do and read the fingerprint the send form carries ("" if none)."""
    r = await c.get(
        f"/plus/clients/{cid}/send-link", params={"vehicle_id": vid, "days": days}, headers=HX
    )
    field = parse(r.text).all('form.send-bar input[name="reviewed"]')
    return str(field[0]["value"]) if field else ""


async def send(
    c: AsyncTestClient[Any], cid: int, vid: str, phone: str, days: int = 30, **extra: str
) -> Any:
    """Send Message for the summary just reviewed (`reviewed=` in `extra` to say another)."""
    reviewed = (
        extra.pop("reviewed") if "reviewed" in extra else await reviewed_now(c, cid, vid, days)
    )
    token = (await get_page(c, f"/plus/clients/{cid}"))[1].csrf()
    data = {"vehicle_id": vid, "days": str(days), "phone": phone, "_csrf_token": token, **extra}
    data["reviewed"] = reviewed
    return await c.post(f"/plus/clients/{cid}/links", data=data, headers=HX)


async def test_search_by_account_name_and_phone_as_fragment_and_page(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_staff(client)
    for q in ("100002", "carter", "James Car", "(512) 555-0102", "512.555.0102", "5550102"):
        r = await client.get("/plus", params={"q": q}, headers=HX)
        page = parse(r.text)
        assert r.headers["vary"] == "HX-Request"
        assert page.has("#search-results") and not page.has("html body header"), q
        assert "Carter, James" in page.text("#search-results"), q
    status, page = await get_page(client, "/plus?q=lopez")
    assert status == 200 and page.has("h1") and "Lopez, Maria" in page.text("#search-results")
    r = await client.get("/plus", params={"q": "zzzz-nobody"}, headers=HX)
    assert "No client matches" in parse(r.text).text()


async def test_client_page_header_and_unknown_client(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    status, page = await get_page(client, f"/plus/clients/{cid}")
    assert status == 200
    assert page.text("h1") == "James Carter"
    assert "100002" in page.text(".client-header") and "(512) 555-0102" in page.text(
        ".client-header"
    )
    assert "Austin North" in page.text(".client-header")
    assert "$90.00" in page.text(".past-due-alert")
    assert [a.get_text() for a in page.all(".tabs a")] == [
        "Account Information",
        "Account History",
        "Payment Links",
    ]
    status, _ = await get_page(client, "/plus/clients/999999")
    assert status == 404


async def test_get_summary_shows_every_line_and_prefills_the_phone(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    r, _ = await summary_form(client, cid, "F-150")
    page = parse(r.text)
    assert r.status_code == 200
    lines = {
        el["class"][1].removeprefix("summary-line--"): el.select_one("dd").get_text()
        for el in page.all("#invoice-summary .summary-line:not(.summary-total)")
    }
    assert lines == {"past_due": "$90.00", "monitoring": "$85.00", "tax": "$7.01"}
    assert page.text("#total-due") == "$182.01"
    assert page.one("#phone")["value"] == "(512) 555-0102"
    # The send form carries what staff reviewed: the summary's fingerprint, not only its total.
    reviewed = page.one('form.send-bar input[name="reviewed"]')["value"]
    assert re.fullmatch(r"[0-9a-f]{16}", reviewed)


async def test_get_summary_validation_errors(client: AsyncTestClient[Any], session: Any) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    maria_car = "1"  # vehicle of another client
    r = await client.get(
        f"/plus/clients/{cid}/send-link", params={"vehicle_id": maria_car, "days": "7"}, headers=HX
    )
    assert r.status_code == 422
    page = parse(r.text)
    assert "Choose one of this client's vehicles" in page.text("#vehicle_id-error")
    assert "14 or 30" in page.text("#days-error")
    assert not page.has("#invoice-summary")


async def test_send_message_creates_a_hashed_link_and_queues_one_text(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    r = await send(client, cid, vid, "737-555-0188")
    assert r.status_code == 200, r.text
    page = parse(r.text)
    assert page.text("#sent-to") == "(737) 555-0188"
    assert page.one("#link-status .status")["data-status"] == "queued"
    assert page.one("#link-status").get("hx-trigger") == "every 2s"
    link = (await session.execute(select(PaymentLink))).scalar_one()
    sms = (await session.execute(select(SmsMessage))).scalar_one()
    # The outbox row holds no token in the clear: a mark in the body, the token sealed beside it.
    assert "/pay/{token}" in sms.body and sms.sealed_secret
    assert not re.search(r"/pay/[A-Za-z0-9_-]{43}", sms.body)
    assert link.total_cents == 18201 and link.phone_e164 == "+17375550188"
    assert (link.expires_at - link.sent_at).total_seconds() == 600  # type: ignore[operator]
    assert sms.to_e164 == "+17375550188"
    james = await session.get(Client, cid)
    assert james.phone_e164 == "+15125550102"  # phone on file unchanged
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "link.sent"))
    ).scalar_one()
    assert '"to": "+17375550188"' in event.detail and event.client_id == cid

    # The worker delivers it with the token; the row's sealed token is then erased.
    maker = app.state.sessionmaker
    delivered = await deliver_due(maker, app.state.sms, app.state.clock, app.state.box)
    assert delivered == 1
    text = app.state.sms.delivered[sms.id]
    token = re.search(r"/pay/([A-Za-z0-9_-]{43})", text).group(1)  # type: ignore[union-attr]
    assert link.token_hash == hash_token(token) and token not in link.token_hash
    # Whose bill, what for, how much, until when (the location's clock), help, STOP: 2 segments.
    assert text.startswith("Demo Interlock: James C., your interlock monitoring for the 2015 Ford")
    assert "is $182.01. Pay securely by 10:10 AM CST:" in text
    assert text.endswith("Help: (800) 555-0199. Reply STOP to opt out")
    length = measure(text)
    assert length.encoding == "GSM-7" and length.segments == 2, length
    async with maker() as s:
        stored = await s.get(SmsMessage, sms.id)
    assert stored.sealed_secret is None and token not in stored.body
    r = await client.get(f"/plus/clients/{cid}/links/{link.id}/status", headers=HX)
    assert parse(r.text).one(".status")["data-status"] == "delivered"


async def test_a_plain_form_post_redirects_to_the_client_page(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic")
    reviewed = await reviewed_now(client, cid, vid)
    token = (await get_page(client, f"/plus/clients/{cid}"))[1].csrf()
    fields = {"vehicle_id": vid, "days": "30", "phone": "(512) 555-0101", "reviewed": reviewed}
    r = await client.post(
        f"/plus/clients/{cid}/links", data={**fields, "_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/plus/clients/{cid}?sent=")
    status, page = await get_page(client, r.headers["location"])
    assert page.has("#link-status")


async def test_bad_phone_is_an_inline_422_and_sends_nothing(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    r = await send(client, cid, vid, "555-12")
    assert r.status_code == 422
    page = parse(r.text)
    assert page.one("#phone")["aria-invalid"] == "true"
    assert "valid US mobile number" in page.text("#phone-error")
    assert page.one("#phone")["value"] == "555-12"
    assert page.has("#invoice-summary")
    assert (await session.execute(select(func.count()).select_from(SmsMessage))).scalar_one() == 0
    assert (await session.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0


async def test_opted_out_number_is_refused(client: AsyncTestClient[Any], session: Any) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100004")
    _, vid = await summary_form(client, cid, "Malibu")
    r = await send(client, cid, vid, "(512) 555-0104")
    assert r.status_code == 422 and "opted out" in parse(r.text).text("#phone-error")
    # The opted-out number is refused even when typed for another client.
    other = await client_id(session, "100001")
    _, ovid = await summary_form(client, other, "Civic")
    r = await send(client, other, ovid, "512-555-0104")
    assert r.status_code == 422
    assert (await session.execute(select(func.count()).select_from(SmsMessage))).scalar_one() == 0


async def test_location_not_accepting_payments_is_refused_by_the_server(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100003")
    status, page = await get_page(client, f"/plus/clients/{cid}")
    assert page.one("#send-link button").has_attr("disabled")
    assert "not configured to accept payments" in page.text("#payments-off")
    r = await client.get(f"/plus/clients/{cid}/send-link", headers=HX)
    assert r.status_code == 409
    token = page.csrf()
    r = await client.post(
        f"/plus/clients/{cid}/links",
        data={"vehicle_id": "4", "days": "30", "phone": "(915) 555-0103", "_csrf_token": token},
        headers=HX,
    )
    assert r.status_code == 409
    assert (await session.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0


async def test_changed_amount_since_review_is_refused(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    reviewed = await reviewed_now(client, cid, vid)
    async with app.state.sessionmaker() as s:  # staff add a charge in another tab
        s.add(
            Invoice(
                number="T-NEW-1", client_id=cid, description="Device recalibration fee",
                amount_cents=1_000, due_date=date(2026, 12, 20), created_at=NOW,
            )
        )  # fmt: skip
        await s.commit()
    r = await send(client, cid, vid, "(512) 555-0102", reviewed=reviewed)
    assert r.status_code == 409 and "amount changed" in parse(r.text).text(".notice--error")
    assert parse(r.text).text("#total-due") == "$192.01"  # the fresh summary, to review
    assert (await session.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0
    # Without a reviewed summary at all (a hand-made post), nothing is sent either.
    r = await send(client, cid, vid, "(512) 555-0102", reviewed="")
    assert r.status_code == 409
    assert (await session.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0


async def test_new_link_supersedes_the_old_and_limits_apply(
    client: AsyncTestClient[Any], session: Any, clock: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic")
    for _ in range(5):
        r = await send(client, cid, vid, "(512) 555-0101")
        assert r.status_code == 200
    statuses = (
        (await session.execute(select(PaymentLink.status).order_by(PaymentLink.id))).scalars().all()
    )
    assert statuses == ["superseded"] * 4 + ["queued"]
    r = await send(client, cid, vid, "(512) 555-0101")
    assert r.status_code == 429 and "5 payment links in the last hour" in parse(r.text).text()
    clock.advance(minutes=61)
    await sign_in_staff(client)  # an hour idle ends a staff session
    for _ in range(5):
        assert (await send(client, cid, vid, "(512) 555-0101")).status_code == 200
    clock.advance(minutes=61)
    await sign_in_staff(client)  # an hour idle ends a staff session
    r = await send(client, cid, vid, "(512) 555-0101")
    assert r.status_code == 429 and "10 texts today" in parse(r.text).text()


async def test_cancel_a_live_link_and_the_card_stops_polling(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic")
    await send(client, cid, vid, "(512) 555-0101")
    link = (await session.execute(select(PaymentLink))).scalar_one()
    token = (await get_page(client, f"/plus/clients/{cid}"))[1].csrf()
    r = await client.post(
        f"/plus/clients/{cid}/links/{link.id}/cancel", data={"_csrf_token": token}, headers=HX
    )
    page = parse(r.text)
    assert r.status_code == 200 and page.one(".status")["data-status"] == "cancelled"
    assert not page.one("#link-status").has_attr("hx-trigger")
    r = await client.post(
        f"/plus/clients/{cid}/links/{link.id}/cancel", data={"_csrf_token": token}, headers=HX
    )
    assert r.status_code == 409
    # A link of one client cannot be reached through another client's URL.
    other = await client_id(session, "100002")
    r = await client.post(
        f"/plus/clients/{other}/links/{link.id}/cancel", data={"_csrf_token": token}, headers=HX
    )
    assert r.status_code == 404


async def test_link_expires_on_the_status_card(
    client: AsyncTestClient[Any], session: Any, clock: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic")
    await send(client, cid, vid, "(512) 555-0101")
    link = (await session.execute(select(PaymentLink))).scalar_one()
    clock.advance(seconds=600)
    r = await client.get(f"/plus/clients/{cid}/links/{link.id}/status", headers=HX)
    assert parse(r.text).one(".status")["data-status"] == "expired"
    status, page = await get_page(client, f"/plus/clients/{cid}/links")
    assert "Expired" in page.text(f"#link-{link.id}")


async def test_signed_out_and_csrf_less_requests_are_refused(
    client: AsyncTestClient[Any], session: Any
) -> None:
    cid = await client_id(session, "100001")
    r = await client.get(f"/plus/clients/{cid}/send-link", headers=HX, follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/plus/login"
    await sign_in_staff(client)
    r = await client.post(
        f"/plus/clients/{cid}/links",
        data={"vehicle_id": "1", "days": "30", "phone": "(512) 555-0101"},
        headers=HX,
    )
    assert r.status_code == 403
    # Another staff member's CSRF token (from another session) is not accepted either.
    async with AsyncTestClient(app=client.app, base_url="http://127.0.0.1:8000") as other:
        await sign_in_staff(other, "supervisor@demo.test", "demo-supervisor-pass")
        their_token = (await get_page(other, f"/plus/clients/{cid}"))[1].csrf()
    r = await client.post(
        f"/plus/clients/{cid}/links",
        data={
            "vehicle_id": "1",
            "days": "30",
            "phone": "(512) 555-0101",
            "_csrf_token": their_token,
        },
        headers=HX,
    )
    assert r.status_code == 403
    assert (await session.execute(select(func.count()).select_from(PaymentLink))).scalar_one() == 0


async def test_failed_sends_retry_with_backoff_then_mark_the_link_failed(
    client: AsyncTestClient[Any], session: Any, app: Litestar, clock: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100001")
    _, vid = await summary_form(client, cid, "Civic")
    await send(client, cid, vid, "(512) 555-0101")
    provider: OutboxSms = app.state.sms
    provider.fail_next = MAX_ATTEMPTS
    maker = app.state.sessionmaker
    box = app.state.box
    assert await deliver_due(maker, provider, clock, box) == 1
    assert await deliver_due(maker, provider, clock, box) == 0  # not due until the backoff passes
    for attempt in range(1, MAX_ATTEMPTS):
        clock.advance(seconds=2**attempt)
        assert await deliver_due(maker, provider, clock, box) == 1
    async with maker() as s:
        sms = (await s.execute(select(SmsMessage))).scalar_one()
        link = (await s.execute(select(PaymentLink))).scalar_one()
    assert sms.status == "failed" and sms.attempts == MAX_ATTEMPTS
    assert sms.sealed_secret is None  # a token that will never be sent is not kept
    assert link.status == "failed"
    status, page = await get_page(client, f"/plus/clients/{cid}/links")
    assert "Text failed after 5 tries" in page.text(f"#link-{link.id}")


async def test_dev_sms_inbox_only_in_dev(client: AsyncTestClient[Any]) -> None:
    status, page = await get_page(client, "/dev/sms")
    assert status == 200 and page.text("h1") == "Text messages"


async def test_dev_inbox_never_shows_a_stored_token_or_a_broken_link(
    client: AsyncTestClient[Any], session: Any, app: Litestar, clock: Any
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    await send(client, cid, vid, "512-555-0102")
    await deliver_due(app.state.sessionmaker, app.state.sms, clock, app.state.box)
    await app.state.sms.inbox.delete_all()  # as once the phone's inbox has let the text go
    status, page = await get_page(client, "/dev/sms")
    sms = page.one(".sms")
    assert "payment link: not kept after a restart" in sms.get_text()
    assert sms.select("a") == [] and "{token}" not in sms.get_text()


async def link_token(app: Litestar) -> str:
    """The token in the last delivered text (the outbox keeps what the phone would get)."""
    body = list(app.state.sms.delivered.values())[-1]
    match = re.search(r"/pay/([A-Za-z0-9_-]{43})", body)
    assert match
    return match.group(1)


async def test_an_expired_link_still_shows_how_far_it_got_with_times_in_the_zone(
    client: AsyncTestClient[Any], session: Any, clock: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    await send(client, cid, vid, "(512) 555-0102")
    await deliver_due(app.state.sessionmaker, app.state.sms, app.state.clock, app.state.box)
    assert (await client.get(f"/pay/{await link_token(app)}")).status_code == 200  # opened
    link = (await session.execute(select(PaymentLink))).scalar_one()
    clock.advance(seconds=601)

    r = await client.get(f"/plus/clients/{cid}/links/{link.id}/status", headers=HX)
    card = parse(r.text)
    steps = {li["data-step"]: li for li in card.all(".timeline li")}
    reached = [s for s in ("queued", "sent", "delivered", "opened") if "done" in steps[s]["class"]]
    assert reached == ["queued", "sent", "delivered", "opened"]  # not greyed out by expiry
    assert "not-reached" in steps["paid"]["class"]
    assert "ended" in steps["expired"]["class"] and "CST" in steps["expired"].get_text()
    assert "CST" in steps["opened"].get_text()
    assert card.text("#expires-at").endswith("CST") and "Expired at" in card.text(".facts")
    assert "expired before it was paid" in card.text()
    assert not card.one("#link-status").has_attr("hx-get")  # final: no more polling


async def test_a_paid_link_redraws_the_vehicles_with_the_new_paid_through_date(
    client: AsyncTestClient[Any], session: Any, app: Litestar
) -> None:
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    token = await make_link(app)
    link = (await session.execute(select(PaymentLink))).scalar_one()
    status, page = await get_page(client, f"/plus/clients/{cid}")
    vehicles = page.one("#vehicles")
    # drawn again once loaded (each vehicle's AutoPay status), then when a link is paid
    assert vehicles["hx-trigger"] == "load, link-paid from:body"
    row = f"#vehicle-{link.vehicle_id} .paid-through"
    assert page.text(row) == "Nov 27, 2026"
    poll = f"/plus/clients/{cid}/links/{link.id}/status"
    assert "hx-trigger" not in (await client.get(poll, headers=HX)).headers

    assert (await submit(client, token)).status_code == 303  # the client pays
    r = await client.get(poll, headers=HX)
    assert r.headers["hx-trigger"] == "link-paid"
    assert parse(r.text).one(".status")["data-status"] == "paid"
    r = await client.get(f"/plus/clients/{cid}/vehicles", headers=HX)
    fragment = parse(r.text)
    assert r.status_code == 200 and not fragment.has("html body header")
    assert fragment.one("#vehicles")["hx-trigger"] == "link-paid from:body"  # no second load
    assert fragment.text(row) == "Dec 27, 2026"
    assert "F-150 paid through Dec 27, 2026" in fragment.one("#vehicles")["data-announce"]
    assert fragment.one("#past-due-slot")["hx-swap-oob"] == "true"  # nothing past due now
    assert not fragment.has(".past-due-alert")
    r = await client.get(f"/plus/clients/{cid}/vehicles", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/plus/clients/{cid}"


async def test_the_vehicles_table_scrolls_by_keyboard_and_says_the_zone(
    client: AsyncTestClient[Any], session: Any
) -> None:
    await sign_in_staff(client)
    status, page = await get_page(client, f"/plus/clients/{await client_id(session, '100002')}")
    wrap = page.one("#vehicles .table-wrap")
    assert wrap["tabindex"] == "0" and wrap["role"] == "region" and wrap["aria-label"]
    appointment = page.all("#vehicles tbody tr")[0].select("td")[-1]
    date_part, time_part = (s.get_text() for s in appointment.select("span.nowrap"))
    assert date_part == "Dec 1, 2026" and time_part.endswith("CST")


async def test_errors_are_written_once_and_the_summary_links_to_the_fields(
    client: AsyncTestClient[Any], session: Any
) -> None:
    token = (await get_page(client, "/plus/login"))[1].csrf()
    r = await client.post("/plus/login", data={"email": "", "password": "", "_csrf_token": token})
    page = parse(r.text)
    links = [(a["href"], a.get_text()) for a in page.all(".error-summary a")]
    assert links == [("#email", "Work email"), ("#password", "Password")]
    for field in ("email", "password"):
        message = page.text(f"#{field}-error").removeprefix("Error: ")
        assert message and page.text().count(message) == 1, message

    # htmx: a bad phone is said by its field only, the field that gets focus (app.js).
    await sign_in_staff(client)
    cid = await client_id(session, "100002")
    _, vid = await summary_form(client, cid, "F-150")
    page = parse((await send(client, cid, vid, "555-12")).text)
    assert page.text().count("valid US mobile number") == 1
    assert page.one("[aria-invalid=true]")["id"] == "phone"
    assert page.one("#invoice-summary-title")["tabindex"] == "-1"
