"""Two `monitorpay autopay` processes side by side on PostgreSQL, round after round: each
vehicle-period is charged once (the due list read early must never charge a period twice)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.adapters.payments.sandbox import SandboxGateway
from app.clock import SystemClock
from app.domain.periods import local_today
from app.services import autopay
from app.store.db import make_engine, make_sessionmaker
from app.store.models import AutopayEnrollment, CardOnFile, Client, Location, Payment, Vehicle

ROUNDS = 20
VEHICLES = 6
MONITORPAY = str(Path(sys.executable).with_name("monitorpay"))


async def _enroll_vehicles(url: str) -> list[int]:
    """Put VEHICLES Austin vehicles on AutoPay with a working card; return their ids."""
    engine = make_engine(url, poolclass=NullPool)
    now = SystemClock().now()
    async with make_sessionmaker(engine)() as s:
        rows = (
            await s.execute(
                select(Vehicle, Client)
                .join(Client, col(Client.id) == col(Vehicle.client_id))
                .join(Location, col(Location.id) == col(Client.location_id))
                .where(col(Location.payments_enabled).is_(True))
                .order_by(col(Vehicle.id))
                .limit(VEHICLES)
            )
        ).all()
        ids = []
        for vehicle, client in rows:
            card = CardOnFile(client_id=client.id or 0, processor_ref="pm_sandbox_visa_4242",
                              brand="Visa", last4="4242", exp_month=12, exp_year=now.year + 3,
                              created_at=now)  # fmt: skip
            s.add(card)
            await s.flush()
            await autopay.enroll(s, client_id=client.id or 0, vehicle_id=vehicle.id or 0,
                                 card_id=card.id or 0, days=30, now=now)  # fmt: skip
            ids.append(vehicle.id or 0)
        await s.commit()
    await engine.dispose()
    return ids


async def _make_due(url: str, ids: list[int], round_no: int) -> date:
    """Every enrolled vehicle's paid-through date: due now, not due once one period is paid
    (so a second charge would be a double charge), and new each round (a new period)."""
    engine = make_engine(url, poolclass=NullPool)
    paid_through = local_today(SystemClock().now(), "America/Chicago") - timedelta(
        days=25 - round_no
    )
    async with make_sessionmaker(engine)() as s:
        await s.execute(
            update(Vehicle).where(col(Vehicle.id).in_(ids)).values(paid_through=paid_through)
        )
        await s.commit()
    await engine.dispose()
    return paid_through


async def _charged(url: str, ids: list[int], period_start: date) -> dict[int, int]:
    engine = make_engine(url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        rows = (
            await s.execute(
                select(col(Payment.vehicle_id), func.count())
                .where(
                    col(Payment.channel) == "autopay",
                    col(Payment.status) == "succeeded",
                    col(Payment.idempotency_key).in_(
                        [autopay.idempotency_key(v, period_start) for v in ids]
                    ),
                )
                .group_by(col(Payment.vehicle_id))
            )
        ).all()
    await engine.dispose()
    return {int(v): int(n) for v, n in rows}


async def _run_two(env: dict[str, str]) -> list[int]:
    procs = [
        await asyncio.create_subprocess_exec(
            MONITORPAY,
            "autopay",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, (out + err).decode()
    return [p.returncode or 0 for p in procs]


@pytest.mark.books_unchecked(
    "rewinds paid-through each round, under the periods paid in earlier rounds"
)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_autopay_processes_charge_each_vehicle_period_once(
    db_url: str, tmp_path: Path
) -> None:
    ids = await _enroll_vehicles(db_url)
    assert len(ids) == VEHICLES
    ledger = tmp_path / "sandbox-ledger.db"
    env = os.environ | {
        "DATABASE_URL": db_url,
        "APP_ENV": "dev",
        "SANDBOX_LEDGER": str(ledger),
        "SECRET_KEY": "autopay-test-secret-that-is-long-enough-0123",
    }
    gateway = SandboxGateway(SystemClock(), str(ledger))
    for round_no in range(ROUNDS):
        paid_through = await _make_due(db_url, ids, round_no)
        await _run_two(env)
        charged = await _charged(db_url, ids, paid_through + timedelta(days=1))
        assert charged == {v: 1 for v in ids}, f"round {round_no}: {charged}"
        assert gateway.successful_charge_count == VEHICLES * (round_no + 1), f"round {round_no}"
    engine = make_engine(db_url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        enrolled = (
            await s.execute(
                select(func.count())
                .select_from(AutopayEnrollment)
                .where(col(AutopayEnrollment.active).is_(True))
            )
        ).scalar_one()
        autopaid = (
            await s.execute(
                select(func.count())
                .select_from(Payment)
                .where(col(Payment.channel) == "autopay", col(Payment.status) == "succeeded")
            )
        ).scalar_one()
    await engine.dispose()
    assert enrolled == VEHICLES and autopaid == VEHICLES * ROUNDS
