"""The same migrations, seed and conditional updates on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice, Location, PaymentLink, StaffUser, Vehicle
from app.store.seed import is_empty, seed
from tests.conftest import NOW

pytestmark = pytest.mark.parametrize("empty_db_url", ["sqlite", "postgres"], indirect=True)


async def test_seed_loads_the_demo_data_once(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as s:
            assert await is_empty(s)
            await seed(s, NOW, generated=25)
            assert not await is_empty(s)
            clients = (await s.execute(select(func.count()).select_from(Client))).scalar_one()
            assert clients == 4 + 25
            james = (
                await s.execute(select(Client).where(Client.account_number == "100002"))
            ).scalar_one()
            cars = (
                (await s.execute(select(Vehicle).where(Vehicle.client_id == james.id)))
                .scalars()
                .all()
            )
            assert sorted((v.label, v.billing_cycle_days) for v in cars) == [
                ("2015 Ford F-150", 30),
                ("2020 Toyota Camry", 14),
            ]
            open_inv = (
                (
                    await s.execute(
                        select(Invoice).where(
                            Invoice.client_id == james.id, Invoice.status == "open"
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert [(i.total_cents, i.number.startswith("INV-")) for i in open_inv] == [
                (9000, True)
            ]
            el_paso = (
                await s.execute(select(Location).where(Location.name == "El Paso"))
            ).scalar_one()
            assert not el_paso.accepts_payments
            staff = (await s.execute(select(StaffUser.email, StaffUser.role))).all()
            assert ("supervisor@demo.test", "supervisor") in staff
            assert all(v.tzinfo is not None for v in [james.created_at])
    finally:
        await engine.dispose()


@pytest.mark.books_unchecked("claims the link for made-up payment ids, to test the update alone")
async def test_conditional_update_lets_exactly_one_claim_win(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as s:
            await seed(s, NOW, generated=0)
            maria = (
                await s.execute(select(Client).where(Client.account_number == "100001"))
            ).scalar_one()
            car = (
                await s.execute(select(Vehicle).where(Vehicle.client_id == maria.id))
            ).scalar_one()
            link = PaymentLink(
                token_hash="a" * 64,
                client_id=maria.id,
                vehicle_id=car.id,
                days=30,
                total_cents=9201,
                summary_json="{}",
                phone_e164=maria.phone_e164,
                status="sent",
                created_at=NOW,
                sent_at=NOW,
                expires_at=NOW + timedelta(minutes=10),
            )
            s.add(link)
            await s.commit()
        wins = 0
        for attempt in (1, 2, 3):
            async with maker() as s:
                result = await s.execute(
                    update(PaymentLink)
                    .where(PaymentLink.id == link.id, PaymentLink.claim_payment_id.is_(None))  # type: ignore[union-attr]
                    .values(claim_payment_id=attempt)
                )
                await s.commit()
                wins += result.rowcount  # type: ignore[attr-defined]
        assert wins == 1
    finally:
        await engine.dispose()


async def test_postgresql_connections_run_without_jit(empty_db_url: str) -> None:
    """Small OLTP reads must never pay JIT compilation (bench/RESULTS.md: 155 ms vs 8 ms)."""
    from sqlalchemy import text

    from app.store.db import make_engine

    if not empty_db_url.startswith("postgresql"):
        return  # SQLite has no JIT; the parametrization runs it on both
    engine = make_engine(empty_db_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.scalar(text("SHOW jit"))) == "off"
    finally:
        await engine.dispose()
