"""'Text me a new link' on the expired-link page (issue 14, item 4): one tap, the same number,
the staff's limits, once per expired link, and never for a link that ended any other way."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from app.domain.links import hash_token
from app.services import send_link
from app.services.sms_worker import deliver_due
from app.store.models import AuditEvent, Client, Location, PaymentLink, SmsMessage
from tests.conftest import sign_in_staff
from tests.html import parse
from tests.integration.test_pay import charges, make_link, submit

JAMES = "+15125550102"  # account 100002's mobile


async def link_row(session: Any, token: str) -> PaymentLink:
    return (
        await session.execute(
            select(PaymentLink)
            .where(PaymentLink.token_hash == hash_token(token))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def texts(session: Any) -> list[SmsMessage]:
    return list(
        (
            await session.execute(
                select(SmsMessage).order_by(SmsMessage.id).execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )


async def tap(client: AsyncTestClient[Any], token: str, **extra: str) -> Any:
    page = parse((await client.get(f"/pay/{token}")).text)
    return await client.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "action": "renew", **extra},
        follow_redirects=False,
    )


async def test_expired_link_texts_a_new_link_to_the_same_number_once_and_it_pays(
    client: AsyncTestClient[Any], app: Litestar, clock: Any, session: Any
) -> None:
    token = await make_link(app, phone="(512) 555-0177")  # staff typed another number
    clock.advance(seconds=600)
    r = await client.get(f"/pay/{token}")
    page = parse(r.text)
    assert r.status_code == 410 and page.has("form[data-renew-form] button#renew-link")
    assert "Text me a new link" in page.text("#renew-link")

    # The number in the form is ignored: the new link goes where the expired one went.
    r = await tap(client, token, phone="(512) 555-0199", to="+15125550199")
    assert r.status_code == 303 and r.headers["location"] == f"/pay/{token}"
    r = await client.get(f"/pay/{token}")
    assert r.status_code == 410
    assert "phone ending in 0177" in parse(r.text).text("#renewed-to")
    assert "0177" in r.text and "555-0177" not in r.text  # masked

    old = await link_row(session, token)
    new = await session.get(PaymentLink, old.renewed_by_link_id, populate_existing=True)
    assert old.status == "superseded" and new is not None
    assert new.phone_e164 == "+15125550177" and new.sent_by_staff_id is None
    assert (new.vehicle_id, new.days, new.status) == (old.vehicle_id, old.days, "queued")
    assert new.expires_at > clock.now()
    sent = await texts(session)
    assert [m.to_e164 for m in sent] == ["+15125550177", "+15125550177"]
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "link.renewed"))
    ).scalar_one()
    assert event.actor_type == "payer" and event.actor_id is None
    assert f'"renewed_from_link_id": {old.id}' in event.detail

    # A second tap (another tab, a reload) says so and sends nothing.
    r = await client.post(
        f"/pay/{token}",
        data={
            "_csrf_token": parse((await client.get("/pay/" + token)).text).csrf(),
            "action": "renew",
        },
    )
    assert r.status_code == 409
    assert "already texted to the phone ending in 0177" in parse(r.text).text("#renewed-to")
    assert len(await texts(session)) == 2

    # The new text carries a link that pays.
    await deliver_due(app.state.sessionmaker, app.state.sms, clock, app.state.box)
    body = list(app.state.sms.delivered.values())[-1]
    match = re.search(r"/pay/([A-Za-z0-9_-]{43})", body)
    assert match and match.group(1) != token
    r = await submit(client, match.group(1))
    assert r.status_code == 303 and charges(app) == 1

    # Staff see who asked for it on the Payment Links tab.
    await sign_in_staff(client)
    r = await client.get(f"/plus/clients/{new.client_id}/links")
    assert r.status_code == 200
    row = parse(r.text).text(f"#link-{new.id}")
    assert "Requested by the payer" in row
    assert "Requested by the payer" not in parse(r.text).text(f"#link-{old.id}")


async def test_the_tap_needs_the_csrf_token(
    client: AsyncTestClient[Any], app: Litestar, clock: Any, session: Any
) -> None:
    token = await make_link(app)
    clock.advance(seconds=600)
    await client.get(f"/pay/{token}")
    r = await client.post(f"/pay/{token}", data={"action": "renew"})
    assert r.status_code == 403 and len(await texts(session)) == 1


async def test_a_live_link_cannot_be_renewed(
    client: AsyncTestClient[Any], app: Litestar, session: Any
) -> None:
    token = await make_link(app)
    assert not parse((await client.get(f"/pay/{token}")).text).has("#renew-link")
    r = await tap(client, token)
    assert r.status_code == 409 and "no text was sent" in parse(r.text).text("#renew-refused")
    assert (
        len(await texts(session)) == 1 and (await link_row(session, token)).status != "superseded"
    )


async def _cancelled(app: Litestar, session: Any, token: str, client: Any) -> None:
    await session.execute(
        update(PaymentLink)
        .where(PaymentLink.token_hash == hash_token(token))
        .values(status="cancelled", cancelled_at=app.state.clock.now())
    )
    await session.commit()


async def _superseded(app: Litestar, session: Any, token: str, client: Any) -> None:
    await make_link(app)  # staff sent a newer link


async def _paid(app: Litestar, session: Any, token: str, client: Any) -> None:
    assert (await submit(client, token)).status_code == 303


async def _opted_out(app: Litestar, session: Any, token: str, client: Any) -> None:
    await session.execute(
        update(Client).where(Client.account_number == "100002").values(sms_opt_out=True)
    )
    await session.commit()


async def _no_payments(app: Litestar, session: Any, token: str, client: Any) -> None:
    location_id = (
        await session.execute(select(Client.location_id).where(Client.account_number == "100002"))
    ).scalar_one()
    await session.execute(
        update(Location).where(Location.id == location_id).values(payments_enabled=False)
    )
    await session.commit()


@pytest.mark.parametrize(
    ("end", "status_code"),
    [
        (_cancelled, 409),
        (_superseded, 409),
        (_paid, 409),
        (_opted_out, 403),
        (_no_payments, 403),
    ],
)
async def test_not_offered_and_refused(
    client: AsyncTestClient[Any],
    app: Litestar,
    clock: Any,
    session: Any,
    end: Any,
    status_code: int,
) -> None:
    token = await make_link(app)
    await end(app, session, token, client)
    clock.advance(seconds=600)
    before = len(await texts(session))
    page = parse((await client.get(f"/pay/{token}")).text)
    assert not page.has("#renew-link")
    r = await tap(client, token)
    assert r.status_code == status_code
    assert "no text was sent" in parse(r.text).text("#renew-refused")
    assert len(await texts(session)) == before
    assert (await link_row(session, token)).renewed_by_link_id is None


async def test_the_staff_limits_apply(
    client: AsyncTestClient[Any],
    app: Litestar,
    clock: Any,
    session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await make_link(app)
    clock.advance(seconds=600)
    monkeypatch.setattr(send_link, "TEXTS_PER_NUMBER_PER_DAY", 1)
    assert parse((await client.get(f"/pay/{token}")).text).has("#renew-link")
    r = await tap(client, token)
    assert r.status_code == 429 and "Try again later" in parse(r.text).text("#renew-refused")
    assert len(await texts(session)) == 1
    old = await link_row(session, token)
    assert old.status != "superseded" and old.renewed_by_link_id is None  # all rolled back
    monkeypatch.setattr(send_link, "TEXTS_PER_NUMBER_PER_DAY", 10)
    monkeypatch.setattr(send_link, "LINKS_PER_CLIENT_PER_HOUR", 1)
    r = await tap(client, token)
    assert r.status_code == 429 and len(await texts(session)) == 1


async def test_spanish_speaker_reads_the_page_in_spanish(
    client: AsyncTestClient[Any], app: Litestar, clock: Any, session: Any
) -> None:
    await session.execute(
        update(Client).where(Client.account_number == "100002").values(language="es")
    )
    await session.commit()
    token = await make_link(app)
    clock.advance(seconds=600)
    page = parse((await client.get(f"/pay/{token}")).text)
    assert "Envíenme un enlace nuevo" in page.text("#renew-link")
    await tap(client, token)
    r = await client.get(f"/pay/{token}")
    assert "teléfono terminado en 0102" in parse(r.text).text("#renewed-to")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_taps_at_once_send_one_text(app: Litestar, db_url: str) -> None:
    token = await make_link(app)
    clock = app.state.clock
    clock.advance(seconds=600)
    maker = app.state.sessionmaker
    async with maker() as s:
        link_id = (await link_row(s, token)).id or 0

    async def one() -> str:
        async with maker() as s:
            try:
                await send_link.renew(
                    s,
                    link_id=link_id,
                    now=clock.now(),
                    ttl_seconds=600,
                    base_url="http://127.0.0.1:8000",
                    company="Demo Interlock",
                    box=app.state.box,
                )
            except send_link.RenewalRefused as exc:
                return exc.reason
            return "sent"

    results = await asyncio.gather(*(one() for _ in range(8)))
    assert results.count("sent") == 1, results
    assert set(results) == {"sent", "renewed"}, results
    async with maker() as s:
        count = (await s.execute(select(func.count()).select_from(SmsMessage))).scalar_one()
        new_links = (
            await s.execute(
                select(func.count())
                .select_from(PaymentLink)
                .where(PaymentLink.sent_by_staff_id.is_(None))  # type: ignore[union-attr]
            )
        ).scalar_one()
    assert count == 2 and new_links == 1


async def test_offered_when_expiry_is_met_by_a_late_submission_or_the_receipt_address(
    client: AsyncTestClient[Any], app: Litestar, clock: Any
) -> None:
    """The page was opened in time, the card typed too late: the answer offers the new link,
    and the tap posts to the link's own address."""
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    clock.advance(seconds=601)
    r = await client.post(
        f"/pay/{token}",
        data={"_csrf_token": page.csrf(), "payment_method": "pm_x", "terms": "accepted"},
    )
    late = parse(r.text)
    assert r.status_code == 410 and late.has("form[data-renew-form] button#renew-link")
    assert late.one("form[data-renew-form]")["action"] == f"/pay/{token}"
    r = await client.get(f"/pay/{token}/receipt")
    receipt = parse(r.text)
    assert (
        r.status_code == 410 and receipt.one("form[data-renew-form]")["action"] == f"/pay/{token}"
    )
    r = await tap(client, token)
    assert r.status_code == 303


async def test_the_staff_status_cards_say_the_payer_asked_for_the_new_link(
    client: AsyncTestClient[Any], app: Litestar, clock: Any, session: Any
) -> None:
    token = await make_link(app)
    clock.advance(seconds=601)
    assert (await tap(client, token)).status_code == 303
    old = await link_row(session, token)
    assert old.renewed_by_link_id is not None
    await sign_in_staff(client)
    base = f"/plus/clients/{old.client_id}/links"
    hx = {"HX-Request": "true"}
    card = parse((await client.get(f"{base}/{old.id}/status", headers=hx)).text)
    assert card.one("[data-status]")["data-status"] == "superseded"
    assert "Text me a new link" in card.text(".link-status .muted")
    card = parse((await client.get(f"{base}/{old.renewed_by_link_id}/status", headers=hx)).text)
    assert card.text("#requested-by") == "The payer, from an expired link"
    assert card.text("#sent-to") == "(512) 555-0102"
