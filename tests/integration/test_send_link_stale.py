"""Send Secure Payment Link refuses a summary that moved since staff reviewed it even when its
total did not: the form carries the reviewed summary's fingerprint (htmx and plain posts), and
a send for another period or other invoices of the same total is refused with staff's message
beside the form, the fresh summary to review, and no link or text made. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.domain.summary import InvoiceSummary
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice, PaymentLink, SmsMessage, Vehicle
from tests.conftest import NOW, get_page, sign_in_staff
from tests.html import Page, parse

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True),
]
HX = {"HX-Request": "true"}
STAFF_MESSAGE = (
    "The amount changed since you reviewed it (the account was updated). Review the new Total "
    "Due Amount, then send."
)
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[Maker]:
    """The test's own sessions, apart from the app's pool (the test client's event loop)."""
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def james(maker: Maker) -> tuple[int, int]:
    """James Carter (seeded): a $90.00 past due fee and his F-150 ($85.00 + $7.01 for 30 days)."""
    async with maker() as s:
        cid = (
            await s.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
        vid = (
            await s.execute(
                select(Vehicle.id).where(Vehicle.client_id == cid, Vehicle.model == "F-150")
            )
        ).scalar_one()
    return int(cid), int(vid or 0)


async def swap_the_open_invoice(maker: Maker, cid: int, vid: int) -> None:
    """Void the open fee and add another of the same amount, due the same day: the same total
    and lines, other invoices."""
    async with maker() as s:
        (fee,) = (
            await s.execute(
                select(Invoice).where(Invoice.client_id == cid, Invoice.status == "open")
            )
        ).scalars()
        fee.status, fee.voided_at = "void", NOW
        s.add(
            Invoice(
                number="T-SWAP-1", client_id=cid, vehicle_id=fee.vehicle_id,
                description=fee.description, amount_cents=fee.amount_cents,
                tax_cents=fee.tax_cents, due_date=fee.due_date, created_at=NOW,
            )
        )  # fmt: skip
        await s.commit()


async def move_the_period(maker: Maker, cid: int, vid: int) -> None:
    """The vehicle's paid-through date moves a day (a correction): 30 days cost the same, but
    they are another period."""
    async with maker() as s:
        vehicle = await s.get(Vehicle, vid)
        assert vehicle is not None
        await s.execute(
            update(Vehicle)
            .where(Vehicle.id == vid)
            .values(paid_through=vehicle.paid_through + timedelta(days=1))
        )
        await s.commit()


async def get_summary(c: AsyncTestClient[Any], cid: int, vid: int) -> Page:
    r = await c.get(f"/plus/clients/{cid}/send-link", params={"vehicle_id": vid, "days": 30}, headers=HX)  # fmt: skip
    assert r.status_code == 200, r.text
    return parse(r.text)


def reviewed(page: Page) -> str:
    return str(page.one('form.send-bar input[name="reviewed"]')["value"])


async def post_send(
    c: AsyncTestClient[Any], cid: int, vid: int, fingerprint: str, *, htmx: bool
) -> Any:
    token = (await get_page(c, f"/plus/clients/{cid}"))[1].csrf()
    data = {
        "vehicle_id": str(vid), "days": "30", "phone": "(512) 555-0102", "reviewed": fingerprint,
        "_csrf_token": token,
    }  # fmt: skip
    return await c.post(
        f"/plus/clients/{cid}/links", data=data, headers=HX if htmx else {}, follow_redirects=False
    )


async def made(maker: Maker, cid: int) -> tuple[int, int]:
    """The client's links, and the texts queued to anyone."""
    async with maker() as s:
        links = (
            await s.execute(
                select(func.count()).select_from(PaymentLink).where(PaymentLink.client_id == cid)
            )
        ).scalar_one()
        texts = (await s.execute(select(func.count()).select_from(SmsMessage))).scalar_one()
    return int(links), int(texts)


Move = Callable[[Maker, int, int], Awaitable[None]]


@pytest.mark.parametrize("move", [swap_the_open_invoice, move_the_period])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_a_send_is_refused_when_the_summary_moved_though_its_total_did_not(
    client: AsyncTestClient[Any], own_maker: Maker, move: Move, htmx: bool
) -> None:
    await sign_in_staff(client)
    cid, vid = await james(own_maker)
    before = await get_summary(client, cid, vid)
    assert before.text("#total-due") == "$182.01"
    fingerprint = reviewed(before)
    nothing = await made(own_maker, cid)

    await move(own_maker, cid, vid)
    r = await post_send(client, cid, vid, fingerprint, htmx=htmx)

    assert r.status_code == 409, r.text
    page = parse(r.text)
    assert page.text("#send-link #send-link-error") == STAFF_MESSAGE
    assert page.text("#send-link #total-due") == "$182.01"  # the same total...
    assert reviewed(page) != fingerprint  # ...of another summary, shown to review
    assert await made(own_maker, cid) == nothing  # no link, no text

    # Sending the summary now shown goes out, for exactly that summary.
    fresh = reviewed(page)
    r = await post_send(client, cid, vid, fresh, htmx=htmx)
    assert r.status_code == (200 if htmx else 303), r.text
    async with own_maker() as s:
        (link,) = (
            await s.execute(select(PaymentLink).where(PaymentLink.client_id == cid))
        ).scalars()
    assert InvoiceSummary.from_json(link.summary_json).fingerprint == fresh
    assert link.total_cents == 18_201
