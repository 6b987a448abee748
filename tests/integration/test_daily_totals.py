"""The Reports page's daily totals equal a fresh sum of the ledger, whatever happened: random
histories of payments (every channel, both locations, staff or none, any hour around the end of
daylight saving; settled, declined, pending, unknown, taken back, declined then charged after
all), partial and full refunds (given or refused) and disputes (lost, won, still open), written
through the payment core and the dispute service. On SQLite and PostgreSQL. Also: two payments
of the same day and place at once both count; the rebuild gives back what the writes kept."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.adapters.payments.port import RefundResult
from app.clock import FixedClock
from app.domain import disputes as dispute_rules
from app.domain.errors import GatewayError
from app.domain.reports import COUNTS
from app.services import disputes
from app.services.payments import refunds, status
from app.services.staff_request import StaffRequest, new_key
from app.store import daily_totals
from app.store.db import make_engine, make_sessionmaker
from app.store.migrate import alembic_config, upgrade
from app.store.models import (
    Client,
    DailyTotal,
    Location,
    Payment,
    PaymentAllocation,
    StaffUser,
)
from app.store.repo import add_invoice
from app.store.report_queries import ledger_totals

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True),
    pytest.mark.books_unchecked("payments written without invoices to test what reports count"),
]
# Around the end of daylight saving (Sunday 2026-11-01): local midnights move by an hour.
BASE = datetime(2026, 10, 30, 0, 0, tzinfo=UTC)
CHANNELS = ("link", "staff_card_on_file", "portal", "autopay")
OUTCOMES = ("succeeded", "failed", "pending", "unknown", "taken_back", "late", "late_update")
minutes = st.integers(0, 5 * 24 * 60)
pay = st.tuples(
    st.just("pay"),
    st.integers(0, 3),  # which client (two per location)
    st.sampled_from(CHANNELS),
    st.sampled_from([None, 0, 1, 2]),  # which staff member
    minutes,
    st.integers(1, 90_000),
    st.sampled_from(OUTCOMES),
)
refund = st.tuples(
    st.just("refund"), st.integers(0, 99), st.booleans(), st.booleans(), st.integers(0, 600)
)
dispute = st.tuples(
    st.just("dispute"),
    st.integers(0, 99),
    st.integers(1, 100),  # percent of the payment disputed
    st.sampled_from(["lost", "won", "needs_response"]),
    st.integers(0, 600),
)
histories = st.lists(st.one_of(pay, pay, refund, dispute), min_size=1, max_size=12)


class Bank:
    """The processor's refund answer: given, or refused (nothing refunded)."""

    def __init__(self) -> None:
        self.refuse = False

    async def refund(self, **kw: Any) -> RefundResult:
        if self.refuse:
            raise GatewayError()
        return RefundResult(f"re_{secrets.token_hex(6)}", kw["amount_cents"], "succeeded")


class History:
    def __init__(self, maker: async_sessionmaker[AsyncSession], people: dict[str, list[Any]]):
        self.maker, self.clients, self.staff = maker, people["clients"], people["staff"]
        self.supervisor = people["supervisor"][0]
        self.clock, self.bank = FixedClock(BASE), Bank()
        self.settled: list[int] = []

    async def pay(self, who: int, channel: str, staff: int | None, at: int, cents: int, how: str) -> None:  # fmt: skip
        when = BASE + timedelta(minutes=at)
        async with self.maker() as s:
            p = status.new_payment(
                client_id=self.clients[who], amount_cents=cents, channel=channel,
                idempotency_key=secrets.token_hex(16), summary_json="{}", created_at=when,
                staff_id=None if staff is None else self.staff[staff],
                processor_ref=None if how == "taken_back" else f"pi_{secrets.token_hex(8)}",
            )  # fmt: skip
            s.add(p)
            await s.flush()
            if how in ("succeeded", "failed", "late", "late_update"):
                status.set_payment(p, "succeeded" if how == "succeeded" else "failed")
                p.completed_at = when
            if how in ("succeeded", "late", "late_update"):  # what a refund reopens
                bill = await add_invoice(
                    s, client_id=p.client_id, kind="charge", description="Calibration fee",
                    amount_cents=cents, due_date=when.date(), status="paid", created_at=when,
                    paid_at=when,
                )  # fmt: skip
                s.add(PaymentAllocation(payment_id=p.id or 0, invoice_id=bill.id or 0, amount_cents=cents))  # fmt: skip
            await s.commit()
            pid = p.id or 0
        await self._after(pid, how, when)
        if how in ("succeeded", "late", "late_update"):
            self.settled.append(pid)

    async def _after(self, pid: int, how: str, when: datetime) -> None:
        """The second write some outcomes take: a later answer, in a new transaction."""
        async with self.maker() as s:
            if how == "unknown":
                assert await status.move_payment(s, pid, "unknown", failure_code="timeout")
            elif how == "taken_back":
                assert await status.discard_payment(s, pid)
            elif how == "late":  # the processor's word after a refusal: it charged
                p = await s.get(Payment, pid)
                assert p is not None
                status.set_payment(p, "succeeded")
                p.completed_at = when + timedelta(hours=7)
            elif how == "late_update":  # the same, as a conditional UPDATE
                later = when + timedelta(hours=9)
                assert await status.move_payment(s, pid, "succeeded", completed_at=later)
            await s.commit()

    def _settled(self, pick: int) -> int | None:
        return self.settled[pick % len(self.settled)] if self.settled else None

    async def refund(self, pick: int, full: bool, refused: bool, after: int) -> None:
        pid = self._settled(pick)
        async with self.maker() as s:
            p = await s.get(Payment, pid) if pid else None
            left = (p.amount_cents - p.refunded_cents) if p else 0
        if p is None or left <= 0:
            return
        self.clock.set((p.completed_at or BASE) + timedelta(minutes=after))
        self.bank.refuse = refused
        try:
            refund_id = await refunds.request(
                self.maker, self.clock, StaffRequest(self.supervisor, p.client_id, new_key()),
                payment_id=p.id or 0, amount_cents=left if full else max(1, left // 3),
                reason="Goodwill",
            )  # fmt: skip
        except refunds.RefundInvalid:  # everything left is held by a pending refund
            return
        await refunds.execute(self.maker, self.bank, self.clock, refund_id)  # type: ignore[arg-type]

    async def dispute(self, pick: int, percent: int, end: str, after: int) -> None:
        pid = self._settled(pick)
        async with self.maker() as s:
            p = await s.get(Payment, pid) if pid else None
        if p is None:
            return
        opened = (p.completed_at or BASE) + timedelta(minutes=after)
        facts = dispute_rules.DisputeFacts(
            ref=f"du_{secrets.token_hex(8)}", charge_ref=None, payment_ref=p.processor_ref,
            amount_cents=max(1, p.amount_cents * percent // 100), reason="fraudulent",
            status="needs_response", evidence_due_by=None, opened_at=opened, livemode=False,
        )  # fmt: skip
        self.clock.set(opened)
        await disputes.record(self.maker, self.clock, p, facts, opened)
        if end != "needs_response":
            closed = opened + timedelta(days=1)
            self.clock.set(closed)
            done = dispute_rules.DisputeFacts(**{**facts.__dict__, "status": end})
            await disputes.record(self.maker, self.clock, p, done, closed)

    async def run(self, steps: list[tuple[Any, ...]]) -> None:
        for name, *args in steps:
            await getattr(self, name)(*args)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rows(rows: Any) -> set[tuple[Any, ...]]:
    out = set()
    for r in rows:
        m = r._mapping
        out.add((_day(m["day"]), m["location_id"], m["staff_id"], m["channel"])
                + tuple(int(m[n]) for n in COUNTS))  # fmt: skip
    return out


def kept_and_fresh(conn: Connection) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    t = DailyTotal.__table__.c  # type: ignore[attr-defined]
    counted = or_(*(t[n] != 0 for n in ("payments", "refunds", "declines", "disputes", "lost")))
    kept = _rows(conn.execute(select(DailyTotal.__table__).where(counted)))  # type: ignore[attr-defined]
    fresh = ledger_totals(conn, None)
    return kept, _rows(conn.execute(fresh)) if fresh is not None else set()


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _people(maker: async_sessionmaker[AsyncSession]) -> dict[str, list[Any]]:
    async with maker() as s:
        clients = (await s.execute(select(Client).order_by(Client.id))).scalars().all()
        staff = (await s.execute(select(StaffUser).order_by(StaffUser.id))).scalars().all()
    by_place: dict[int, list[int]] = {}
    for c in clients:
        by_place.setdefault(c.location_id, []).append(c.id or 0)
    assert len(by_place) == 2
    return {
        "clients": [cid for ids in by_place.values() for cid in ids[:2]],
        "staff": [u.id for u in staff],
        "supervisor": [next(u for u in staff if u.role == "supervisor")],
    }


async def _compare(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as s:
        conn = await s.connection()
        kept, fresh = await conn.run_sync(kept_and_fresh)
    assert kept == fresh


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=histories)
def test_the_totals_equal_a_fresh_sum_after_any_history(db_url: str, steps: list[Any]) -> None:
    async def example() -> None:
        await daily_totals.rebuild(db_url)  # each example from a clean start (one database)
        engine = make_engine(db_url, poolclass=NullPool)
        try:
            maker = make_sessionmaker(engine)
            await History(maker, await _people(maker)).run(steps)
            await _compare(maker)
        finally:
            await engine.dispose()

    asyncio.run(example())


async def test_two_payments_of_the_same_day_and_place_at_once_both_count(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    people = await _people(maker)
    when = BASE + timedelta(days=3, hours=15)

    async def paid(s: AsyncSession, cents: int) -> None:
        p = status.new_payment(
            client_id=people["clients"][0], amount_cents=cents, channel="portal",
            idempotency_key=secrets.token_hex(16), summary_json="{}", created_at=when,
        )  # fmt: skip
        s.add(p)
        await s.flush()
        status.set_payment(p, "succeeded")
        p.completed_at = when
        await s.flush()  # the totals row is written (and, on PostgreSQL, locked) here

    async def portal_total() -> tuple[int, int]:
        t = DailyTotal
        async with maker() as s:
            row = (
                await s.execute(
                    select(t.payments, t.collected_cents).where(
                        t.day == date(2026, 11, 2), t.staff_id == 0, t.channel == "portal"
                    )
                )
            ).one_or_none()
        return (row[0], row[1]) if row else (0, 0)

    was = await portal_total()
    async with maker() as first, maker() as second:
        await paid(first, 1_000)
        # the second adds to the same row while the first is not committed yet
        other = asyncio.ensure_future(_commit_after(second, paid(second, 2_500)))
        await first.commit()
        await other
    now = await portal_total()
    assert (now[0] - was[0], now[1] - was[1]) == (2, 3_500)
    await _compare(maker)


async def _commit_after(s: AsyncSession, work: Any) -> None:
    await work
    await s.commit()


async def test_the_rebuild_gives_back_what_the_writes_kept(
    maker: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    people = await _people(maker)
    steps: list[tuple[Any, ...]] = [
        ("pay", 0, "link", None, 30, 4_000, "succeeded"),
        ("pay", 2, "autopay", 1, 3_000, 7_000, "late"),
        ("refund", 0, False, False, 5),
        ("dispute", 1, 50, "lost", 60),
    ]
    await History(maker, people).run(steps)
    async with maker() as s:
        before = (await s.execute(select(DailyTotal))).scalars().all()
        await s.execute(delete(DailyTotal))
        await s.commit()
    assert await daily_totals.rebuild(db_url) > 0
    async with maker() as s:
        after = (await s.execute(select(DailyTotal))).scalars().all()
    kept = {tuple(r.model_dump().values()) for r in before if r.payments + r.declines + r.refunds + r.disputes + r.lost}  # fmt: skip
    assert {tuple(r.model_dump().values()) for r in after} == kept
    await _compare(maker)


async def test_a_rolled_back_payment_adds_nothing_and_the_next_commit_only_its_own(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    people = await _people(maker)
    when = BASE + timedelta(days=4, hours=16)

    def settled(cents: int) -> Payment:
        p = status.new_payment(
            client_id=people["clients"][1], amount_cents=cents, channel="link",
            idempotency_key=secrets.token_hex(16), summary_json="{}", created_at=when,
        )  # fmt: skip
        status.set_payment(p, "succeeded")
        p.completed_at = when
        return p

    async with maker() as s:
        s.add(settled(7_000))
        await s.flush()
        await s.rollback()
        s.add(settled(300))
        await s.commit()
    async with maker() as s:
        t = DailyTotal
        rows = (
            await s.execute(
                select(t.payments, t.collected_cents).where(
                    t.day == date(2026, 11, 3), t.staff_id == 0, t.channel == "link"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1, 300)]
    await _compare(maker)


def test_the_migration_fills_the_totals_from_the_ledger(db_url: str) -> None:
    async def kept() -> set[tuple[Any, ...]]:
        engine = make_engine(db_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                table, fresh = await conn.run_sync(kept_and_fresh)
        finally:
            await engine.dispose()
        assert table == fresh
        return table

    before = asyncio.run(kept())
    assert before  # the seeded ledger has money in it
    command.downgrade(alembic_config(db_url), "0017")
    upgrade(db_url)
    assert asyncio.run(kept()) == before


async def test_two_writers_adding_to_a_new_row_at_once_lose_nothing(db_url: str) -> None:
    """The second writer's INSERT … ON CONFLICT waits for the first's row and adds to it."""
    engine = make_engine(db_url, poolclass=NullPool)
    async with engine.connect() as conn:
        (location_id,) = (await conn.execute(select(Location.id).limit(1))).one()
    key = (date(2031, 1, 2), location_id, 0, "portal")
    dialect = engine.dialect.name

    def adding(payments: int, cents: int) -> Any:
        sums = {key: [payments, cents, *([0] * (len(COUNTS) - 2))]}
        return daily_totals.upsert(dialect, sums)

    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(adding(1, 1_000))  # the row is new, not committed yet

            async def other() -> None:
                await second.execute(adding(2, 2_500))
                await second.commit()

            waiting = asyncio.ensure_future(other())
            await asyncio.sleep(0)  # let it start (a scheduling point, not a wait for time)
            await first.commit()
            await waiting
        async with engine.connect() as conn:
            t = DailyTotal
            row = (
                await conn.execute(
                    select(t.payments, t.collected_cents).where(
                        t.day == key[0], t.location_id == location_id
                    )
                )
            ).one()
        assert tuple(row) == (3, 3_500)
    finally:
        await engine.dispose()
