"""Many instances share the work: reconciliation on one at a time (a PostgreSQL advisory
lock), each queued text sent by exactly one SMS worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.pool import NullPool

from app.adapters.payments.sandbox import SandboxGateway
from app.adapters.sms.port import SendResult
from app.clock import FixedClock
from app.services import reconcile, sms
from app.services.sms_worker import deliver_due
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


class CountingProvider:
    """An SMS provider that remembers every send (a slow network: each send yields)."""

    name = "counting"

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        await asyncio.sleep(0)
        self.sent.append(message_id)
        return SendResult(provider_ref=f"SM{message_id}", status="sent")


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_two_sms_workers_send_each_queued_text_once(db_url: str, clock: FixedClock) -> None:
    a, b = make_engine(db_url, poolclass=NullPool), make_engine(db_url, poolclass=NullPool)
    try:
        async with make_sessionmaker(a)() as s:
            for i in range(40):
                sms.queue(s, to_e164="+15125550101", body=f"text {i}", kind="receipt",
                          now=clock.now())  # fmt: skip
            await s.commit()
        provider = CountingProvider()
        rounds = [
            deliver_due(make_sessionmaker(engine), provider, clock, batch=7)
            for _ in range(4)
            for engine in (a, b)
        ]
        await asyncio.gather(*rounds)
        await deliver_due(make_sessionmaker(a), provider, clock)  # whatever is left
        assert len(provider.sent) == 40 and len(set(provider.sent)) == 40
    finally:
        await a.dispose()
        await b.dispose()


async def test_the_dev_phone_is_shared_by_instances(tmp_path: Path) -> None:
    """/dev/sms on one process shows, link included, a text another process sent."""
    from app.adapters.sms.factory import make_sms_provider
    from app.adapters.sms.outbox import OutboxSms
    from tests.conftest import make_settings

    settings = make_settings("sqlite+aiosqlite:///unused.db", kv_path=str(tmp_path / "kv"))
    one, two = make_sms_provider(settings), make_sms_provider(settings)
    assert isinstance(one, OutboxSms) and isinstance(two, OutboxSms)
    await one.send(to_e164="+15125550102", body="pay at http://x/pay/abc", message_id=7)
    assert await two.text_of(7) == "pay at http://x/pay/abc"
    assert await two.text_of(8) is None
