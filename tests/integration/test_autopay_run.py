"""The AutoPay run on both databases: it reads only what is due, in chunks, charges several
vehicles at once, and still charges each vehicle-period once; failures are counted and texted
once; progress says done / due."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlmodel import col

from app.domain.periods import local_today
from app.services import autopay
from app.store.models import (
    AutopayEnrollment,
    CardOnFile,
    Client,
    Invoice,
    Location,
    Payment,
    PaymentAllocation,
    SmsMessage,
    Vehicle,
)
from tests.integration.test_account import who

BOTH = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
_accounts = itertools.count(700001)


async def austin_today(session: Any, clock: Any) -> tuple[Location, date]:
    location = (
        await session.execute(select(Location).where(col(Location.payments_enabled).is_(True)))
    ).scalar_one()
    return location, local_today(clock.now(), location.timezone)


async def enrolled(
    session: Any,
    clock: Any,
    *,
    paid_through: date,
    card: str = "pm_sandbox_visa_4242",
    exp_year: int = 2035,
    vehicles: int = 1,
    active: bool = True,
) -> list[int]:
    """A new Austin client with `vehicles` vehicles on AutoPay (30 days) with one card; their ids."""
    location, _ = await austin_today(session, clock)
    number = str(next(_accounts))
    client = Client(account_number=number, first_name="Auto", last_name=f"Payer {number}",
                    search_name=f"auto payer {number}", phone_e164=f"+1512555{number[-4:]}",
                    phone_digits=f"512555{number[-4:]}", email=f"{number}@example.test",
                    location_id=location.id, created_at=clock.now())  # fmt: skip
    session.add(client)
    await session.flush()
    on_file = CardOnFile(client_id=client.id, processor_ref=card, brand="Visa", last4=card[-4:],
                         exp_month=12, exp_year=exp_year, created_at=clock.now())  # fmt: skip
    session.add(on_file)
    ids = []
    for n in range(vehicles):
        vehicle = Vehicle(client_id=client.id, year=2019, make="Honda", model=f"Fit {n}",
                          plate=f"P{number}{n}", device_serial=f"D{number}{n}",
                          paid_through=paid_through)  # fmt: skip
        session.add(vehicle)
        await session.flush()
        session.add(AutopayEnrollment(client_id=client.id, vehicle_id=vehicle.id,
                                      card_id=on_file.id, days=30, active=active,
                                      created_at=clock.now()))  # fmt: skip
        ids.append(vehicle.id)
    await session.commit()
    return ids


async def autopaid(session: Any, status: str = "succeeded") -> dict[int, int]:
    """Vehicle id → how many AutoPay payments with `status` it has."""
    rows = (
        await session.execute(
            select(col(Payment.vehicle_id), func.count())
            .where(col(Payment.channel) == "autopay", col(Payment.status) == status)
            .group_by(col(Payment.vehicle_id))
        )
    ).all()
    return {int(v): int(n) for v, n in rows}


async def texts_to(session: Any, phone: str) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(SmsMessage)
                .where(col(SmsMessage.to_e164) == phone, col(SmsMessage.kind) == "autopay_failed")
            )
        ).scalar_one()
    )


def run(app: Litestar, clock: Any, **kw: Any) -> Any:
    return autopay.run(app.state.sessionmaker, app.state.gateway, clock, "Demo", **kw)


@pytest.mark.postgres
@BOTH
async def test_only_due_active_enrollments_are_read_and_charged(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    due = await enrolled(session, clock, paid_through=today + timedelta(days=3), vehicles=2)
    lapsed = await enrolled(session, clock, paid_through=today - timedelta(days=10))
    later = await enrolled(session, clock, paid_through=today + timedelta(days=4))
    cancelled = await enrolled(session, clock, paid_through=today, active=False)
    report = await run(app, clock)
    assert (report.due, report.charged, report.not_due, report.skipped) == (3, 3, 1, 0)
    assert await autopaid(session) == {v: 1 for v in due + lapsed}
    assert not set(later + cancelled) & set(await autopaid(session))
    assert app.state.gateway.successful_charge_count == 3
    assert report.lines()[0] == "autopay: 3 charged ($276.03), 0 failed, 0 skipped, 1 not due yet"


@pytest.mark.postgres
@BOTH
async def test_runs_over_many_chunks_at_once_charge_each_vehicle_period_once(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    ids: list[int] = []
    for _ in range(7):
        ids += await enrolled(session, clock, paid_through=today + timedelta(days=1))
    first, second = await asyncio.gather(
        run(app, clock, chunk_size=3, concurrency=4), run(app, clock, chunk_size=2, concurrency=3)
    )
    assert first.charged + second.charged == 7
    assert await autopaid(session) == {v: 1 for v in ids}
    assert app.state.gateway.successful_charge_count == 7
    again = await run(app, clock, chunk_size=3, concurrency=4)
    assert (again.due, again.charged, again.not_due) == (0, 0, 7)
    assert app.state.gateway.successful_charge_count == 7


@pytest.mark.postgres
@BOTH
@pytest.mark.books_unchecked(
    "moves seeded vehicles' paid-through back under the period the seed paid"
)
async def test_a_clients_two_due_vehicles_are_both_charged_and_the_open_invoice_once(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    """James owes $90.00 and has two vehicles due: the first charge settles the invoice, the
    second finds its summary stale and is charged on what is true now, in the same run."""
    james, vehicles, cards = await who(session, "100002")
    _, today = await austin_today(session, clock)
    card = next(c for c in cards if c.last4 == "4444")
    for v in vehicles.values():
        await autopay.enroll(session, client_id=james.id, vehicle_id=v.id, card_id=card.id,
                             days=30, now=clock.now())  # fmt: skip
        v.paid_through = today + timedelta(days=1)
        session.add(v)
    await session.commit()
    report = await run(app, clock, concurrency=4)
    assert report.charged == 2 and report.skipped == 0
    assert await autopaid(session) == {v.id: 1 for v in vehicles.values()}
    invoice = (
        await session.execute(select(Invoice).where(col(Invoice.kind) == "charge",
                                                    col(Invoice.client_id) == james.id))
    ).scalar_one()  # fmt: skip
    await session.refresh(invoice)
    allocated = (
        await session.execute(
            select(func.count())
            .select_from(PaymentAllocation)
            .where(col(PaymentAllocation.invoice_id) == invoice.id)
        )
    ).scalar_one()
    assert invoice.status == "paid" and allocated == 1
    assert report.charged_cents == 2 * 9201 + invoice.total_cents


@pytest.mark.postgres
@BOTH
async def test_a_declined_charge_is_counted_and_texted_once(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    [declined] = await enrolled(session, clock, paid_through=today, card="pm_sandbox_visa_0002")
    [paid] = await enrolled(session, clock, paid_through=today)
    phone = (await session.get(Client, (await session.get(Vehicle, declined)).client_id)).phone_e164
    report = await run(app, clock, concurrency=2)
    assert (report.charged, report.failed) == (1, 1)
    assert "declined" in report.failures[0].note.lower()
    assert any("declined" in line.lower() for line in report.lines())
    again = await run(app, clock, concurrency=2)  # still due, but this period was tried
    assert (again.charged, again.failed, again.skipped) == (0, 0, 1)
    assert again.skipped_why == {"already tried for this period and it failed": 1}
    assert await autopaid(session, "failed") == {declined: 1}
    assert await autopaid(session) == {paid: 1}
    assert await texts_to(session, phone) == 1


@pytest.mark.postgres
@BOTH
async def test_an_expired_card_is_never_sent_to_the_processor_and_texted_once(
    app: Litestar, session: Any, clock: Any, db_url: str
) -> None:
    _, today = await austin_today(session, clock)
    [vehicle] = await enrolled(session, clock, paid_through=today, exp_year=today.year - 1)
    first = await run(app, clock)
    second = await run(app, clock)
    assert first.failed == 1 and "expired" in first.failures[0].note.lower()
    assert second.failed == 0 and second.skipped == 1
    assert app.state.gateway.successful_charge_count == 0
    assert await autopaid(session, "failed") == {vehicle: 1}
    client = (await session.get(Vehicle, vehicle)).client_id
    assert await texts_to(session, (await session.get(Client, client)).phone_e164) == 1


async def test_a_client_who_opted_out_is_not_texted_about_a_failure(
    app: Litestar, session: Any, clock: Any
) -> None:
    derek, vehicles, _ = await who(session, "100004")  # opted out of text messages
    card = CardOnFile(client_id=derek.id, processor_ref="pm_sandbox_visa_9995", brand="Visa",
                      last4="9995", exp_month=12, exp_year=2035, created_at=clock.now())  # fmt: skip
    session.add(card)
    await session.commit()
    await autopay.enroll(session, client_id=derek.id, vehicle_id=vehicles["Malibu"].id,
                         card_id=card.id, days=30, now=clock.now())  # fmt: skip
    clock.advance(days=40)
    report = await run(app, clock)
    assert report.failed == 1 and report.failures[0].account_number == "100004"
    assert await texts_to(session, derek.phone_e164) == 0


async def test_progress_reports_done_of_due(app: Litestar, session: Any, clock: Any) -> None:
    _, today = await austin_today(session, clock)
    for _ in range(3):
        await enrolled(session, clock, paid_through=today)
    seen: list[autopay.Progress] = []
    await run(app, clock, progress_every=timedelta(0), on_progress=seen.append, concurrency=2)
    assert [p.done for p in seen] == [1, 2, 3, 3]  # after each charge, then the end
    assert {p.due for p in seen} == {3} and seen[-1].line().startswith("autopay: 3/3 done")
    for _ in range(2):
        await enrolled(session, clock, paid_through=today)
    quiet: list[autopay.Progress] = []
    await run(app, clock, on_progress=quiet.append)  # the clock stood still: only the end
    assert [(p.done, p.due) for p in quiet] == [(2, 2)]
