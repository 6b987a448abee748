"""The SQL restatements of the past-due rule agree with the domain's (summary.is_past_due /
past_due_total) around the boundary, on SQLite and PostgreSQL: invoices due yesterday, today
and tomorrow in their location's timezone, open, paid, void and partly held by a payment.

Pinned here: the ledger's CASE (store/reads.ledger_page) and both conditions of the report
(store/report_queries.past_due: each location's own today, and the latest today in scope).
Two locations whose dates differ at NOW (Chicago on Nov 25, Kiritimati already on Nov 26)
make a due date that is "today" in one and "yesterday" in the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.domain.periods import local_today
from app.domain.summary import OpenInvoice, is_past_due, past_due_total
from app.services import ledger
from app.store import reads
from app.store import report_queries as q
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice, Location, Payment, PaymentAllocation
from tests.conftest import NOW

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True),
]
ZONES = ("America/Chicago", "Pacific/Kiritimati")  # Nov 25 and Nov 26 at NOW (16:00 UTC)
CENTS = 4_000
HELD = 1_500  # what a payment still holds of a partly held invoice


@dataclass(frozen=True)
class Case:
    """One invoice on its own client, so each client's sum is that invoice's answer."""

    client_id: int
    location_id: int
    tz: str
    invoice: Invoice
    held: int

    @property
    def today(self) -> date:
        return local_today(NOW, self.tz)

    def domain_open(self) -> list[OpenInvoice]:
        """What the domain is given: the open invoice with what is still owed on it."""
        if self.invoice.status != "open":
            return []
        inv = self.invoice
        return [
            OpenInvoice(inv.id or 0, inv.number, inv.description, CENTS - self.held, inv.due_date)
        ]

    def domain_past_due(self) -> bool:
        return any(is_past_due(i, self.today) for i in self.domain_open())


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _location(s: AsyncSession, tz: str) -> Location:
    loc = Location(
        name=f"Pin {tz}", timezone=tz, tax_rate_bp=0, price_14_cents=3_500,
        price_30_cents=6_000, support_phone="+15125550100",
    )  # fmt: skip
    s.add(loc)
    await s.flush()
    return loc


async def _client(s: AsyncSession, n: int, location_id: int) -> int:
    client = Client(
        account_number=f"91{n:04d}", first_name="Pat", last_name=f"Pin{n}",
        search_name=f"pat pin{n}", phone_e164="+15125550166", phone_digits="5125550166",
        email=f"pin{n}@example.test", location_id=location_id, created_at=NOW,
    )  # fmt: skip
    s.add(client)
    await s.flush()
    return client.id or 0


async def _hold(s: AsyncSession, client_id: int, invoice_id: int, n: int) -> None:
    """A payment that paid the invoice and was partly refunded: it still holds part of it (the
    invoice reopened owes the rest). What it kept is what its allocation holds."""
    pay = Payment(
        client_id=client_id, amount_cents=CENTS, channel="link", status="partially_refunded",
        idempotency_key=f"pin-{n}", summary_json="{}", created_at=NOW - timedelta(days=3),
        completed_at=NOW - timedelta(days=3), refunded_cents=CENTS - HELD,
    )  # fmt: skip
    s.add(pay)
    await s.flush()
    s.add(PaymentAllocation(payment_id=pay.id or 0, invoice_id=invoice_id, amount_cents=HELD))


KINDS = (("open", 0), ("paid", 0), ("void", 0), ("open", HELD))  # (status, held)


async def boundary_cases(maker: async_sessionmaker[AsyncSession]) -> list[Case]:
    """Per zone: due yesterday, today and tomorrow (the location's dates) × open, paid, void,
    open and partly held; plus the UTC date, which is yesterday in Kiritimati."""
    cases: list[Case] = []
    async with maker() as s:
        n = 0
        for tz in ZONES:
            loc = await _location(s, tz)
            today = local_today(NOW, tz)
            dues = {today - timedelta(days=1), today, today + timedelta(days=1), NOW.date()}
            for due in sorted(dues):
                for status, held in KINDS:
                    n += 1
                    cid = await _client(s, n, loc.id or 0)
                    inv = Invoice(
                        number=f"PIN-{n:05d}", client_id=cid, description=f"Pin charge {n}",
                        amount_cents=CENTS, due_date=due, status=status,
                        created_at=NOW - timedelta(days=20),
                        paid_at=NOW if status == "paid" else None,
                        voided_at=NOW if status == "void" else None,
                    )  # fmt: skip
                    s.add(inv)
                    await s.flush()
                    if held:
                        await _hold(s, cid, inv.id or 0, n)
                    cases.append(Case(cid, loc.id or 0, tz, inv, held))
        await s.commit()
    return cases


async def test_the_ledger_sql_says_past_due_exactly_when_the_domain_does(
    own_maker: async_sessionmaker[AsyncSession],
) -> None:
    cases = await boundary_cases(own_maker)
    assert {c.domain_past_due() for c in cases} == {True, False}  # both sides of the line
    async with own_maker() as s:
        for c in cases:
            page = await reads.ledger_page(s, c.client_id, today=c.today, before=None, size=5)
            want = past_due_total(c.domain_open(), c.today)
            label = (c.tz, c.invoice.due_date, c.invoice.status, c.held)
            assert page.past_due_cents == want, label
            # ...and the ledger's rows (services.ledger, which asks the domain) say the same
            shown = await ledger.ledger(s, c.client_id, now=NOW, tz=c.tz, vehicles={})
            assert shown.past_due_cents == want, label
            (row,) = [r for r in shown.rows if r.kind == "invoice"]
            assert (row.status == "past-due") == c.domain_past_due(), label


def _expected_report(cases: list[Case]) -> dict[int, tuple[int, int, int]]:
    """The report's row per location by the domain: past-due invoices, clients, owed."""
    rows: dict[int, tuple[int, int, int]] = {}
    for c in cases:
        owed = past_due_total(c.domain_open(), c.today)
        if c.domain_past_due():
            invoices, clients, cents = rows.get(c.location_id, (0, 0, 0))
            rows[c.location_id] = (invoices + 1, clients + 1, cents + owed)
    return rows


def _zone(c: Case) -> q.Zone:
    start = datetime(2026, 11, 1, tzinfo=UTC)  # the range does not matter to past due
    return q.Zone(c.location_id, start, start + timedelta(days=30), (), c.today)


async def test_both_report_conditions_say_past_due_exactly_when_the_domain_does(
    own_maker: async_sessionmaker[AsyncSession],
) -> None:
    cases = await boundary_cases(own_maker)
    zones = {c.location_id: _zone(c) for c in cases}
    assert len({z.today for z in zones.values()}) == 2  # the two locations' dates differ
    expected = _expected_report(cases)
    assert set(expected) == set(zones)
    async with own_maker() as s:
        # Both locations at once: Chicago's invoices due on its today (Nov 25) are before the
        # latest today in scope (Nov 26), so only the per-location condition keeps them out.
        together = await q.past_due(s, list(zones.values()))
        got = {r.location_id: (r.invoices, r.clients, r.owed_cents) for r in together}
        assert got == expected
        for location_id, zone in zones.items():
            alone = await q.past_due(s, [zone])
            got = {r.location_id: (r.invoices, r.clients, r.owed_cents) for r in alone}
            assert got == {location_id: expected[location_id]}
