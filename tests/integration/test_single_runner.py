"""Reconciliation runs on one instance at a time (a PostgreSQL advisory lock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.pool import NullPool

from app.adapters.payments.sandbox import SandboxGateway
from app.clock import FixedClock
from app.services import reconcile
from app.store.advisory import single_runner
from app.store.db import make_engine, make_sessionmaker


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_second_instance_skips_reconcile_while_the_first_runs_it(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    other, mine = make_engine(db_url, poolclass=NullPool), make_engine(db_url, poolclass=NullPool)
    gateway = SandboxGateway(clock, str(tmp_path / "ledger.db"))
    try:
        async with single_runner(other, "reconcile") as got:  # the other instance, mid-run
            assert got
            report = await reconcile.run(make_sessionmaker(mine), gateway, clock)
            assert report.skipped and "another instance" in report.lines()[0]
        report = await reconcile.run(make_sessionmaker(mine), gateway, clock)
        assert not report.skipped
    finally:
        await other.dispose()
        await mine.dispose()


async def test_on_sqlite_reconcile_always_runs(
    db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        async with single_runner(engine, "reconcile") as got:
            assert got
            report = await reconcile.run(
                make_sessionmaker(engine), SandboxGateway(clock, str(tmp_path / "l.db")), clock
            )
            assert not report.skipped
    finally:
        await engine.dispose()
