"""The hot reads on a plain connection (store/hot_reads.py, reads.ledger_page) give the same
dataclasses as the ORM statements they replaced (reads.account, reads.open_invoices,
reads.ledger_page_orm, search.search_clients, the pay page's pay_link.find), on SQLite and
PostgreSQL: every seeded client, links in every state,
and one whose ledger holds every kind of entry (open, paid, void and given-back invoices, a
credit, settled, failed and disputed payments, refunds succeeded and pending), walked a page at
a time so each cursor and running balance is compared."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.domain import links
from app.domain.periods import local_today
from app.services import pay_link
from app.store import hot_reads, reads, search
from app.store.db import make_engine, make_sessionmaker
from app.store.models import (
    Client,
    Dispute,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentLink,
    Refund,
    Vehicle,
)
from tests.conftest import NOW

pytestmark = [
    pytest.mark.postgres,
    # The rich ledger is shaped for the reads (every kind of entry), not a history the payment
    # core could have written: its allocations are not what its payments kept.
    pytest.mark.books_unchecked,
    pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True),
]


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _every_kind(maker: async_sessionmaker[AsyncSession]) -> int:
    """A client of the seed given one entry of every kind, some at the same instant."""
    async with maker() as s:
        client = (await s.execute(select(Client).order_by(col(Client.id)).limit(1))).scalar_one()
        vehicle = (
            await s.execute(select(Vehicle).where(col(Vehicle.client_id) == client.id).limit(1))
        ).scalar_one()
        cid, vid, t = client.id or 0, vehicle.id, NOW - timedelta(days=3)

        def invoice(n: str, status: str, **kw: object) -> Invoice:
            return Invoice(number=f"HOT-{n}", client_id=cid, vehicle_id=vid,
                           description=f"Hot {n}", amount_cents=4_000, tax_cents=330,
                           due_date=(NOW - timedelta(days=10)).date(), status=status,
                           created_at=t, **kw)  # fmt: skip

        def payment(n: str, status: str, at: object) -> Payment:
            return Payment(client_id=cid, vehicle_id=vid, amount_cents=4_330,
                           channel="link", status=status, idempotency_key=f"hot-{n}",
                           card_brand="Visa", card_last4="4242", summary_json="{}",
                           created_at=at, completed_at=at if status != "failed" else None,
                           failure_message="Declined" if status == "failed" else None)  # fmt: skip

        opened, paid = invoice("open", "open"), invoice("paid", "paid", paid_at=t)
        given = invoice("given", "void", voided_at=t + timedelta(hours=2))
        plain_void = invoice("void", "void", voided_at=t)
        settled, failed = payment("ok", "succeeded", t), payment("no", "failed", t)
        disputed = payment("dis", "succeeded", t + timedelta(hours=1))
        s.add_all([opened, paid, given, plain_void, settled, failed, disputed])
        await s.flush()
        s.add_all([
            PaymentAllocation(payment_id=settled.id, invoice_id=paid.id, amount_cents=4_330),
            PaymentAllocation(payment_id=disputed.id, invoice_id=given.id, amount_cents=4_330),
            PaymentAllocation(payment_id=disputed.id, invoice_id=opened.id, amount_cents=1_000),
        ])  # fmt: skip
        refund = Refund(payment_id=disputed.id, client_id=cid, amount_cents=4_330, kind="staff",
                        reason="Given back", status="succeeded", idempotency_key="hot-r1",
                        created_at=t + timedelta(hours=2), completed_at=t + timedelta(hours=2))  # fmt: skip
        pending = Refund(payment_id=settled.id, client_id=cid, amount_cents=100, kind="staff",
                         reason="Pending", status="pending", idempotency_key="hot-r2",
                         created_at=t + timedelta(hours=3))  # fmt: skip
        s.add_all([refund, pending])
        s.add(Dispute(processor_ref="du_hot", payment_id=disputed.id or 0, client_id=cid,
                      amount_cents=4_330, reason="fraudulent", status="needs_response",
                      opened_at=t, event_at=t, updated_at=t))  # fmt: skip
        s.add(PaymentLink(token_hash="h" * 64, client_id=cid, vehicle_id=vid or 0, days=30,
                          total_cents=4_330, summary_json="{}", phone_e164=client.phone_e164,
                          created_at=t, expires_at=t + timedelta(days=1)))  # fmt: skip
        await s.commit()
        return cid


async def _client_ids(maker: async_sessionmaker[AsyncSession]) -> list[int]:
    async with maker() as s:
        return list((await s.execute(select(col(Client.id)).order_by(col(Client.id)))).scalars())


async def test_accounts_and_open_invoices_are_the_orm_answers(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    await _every_kind(maker)
    for cid in [*await _client_ids(maker), 999_999]:
        async with maker() as orm, maker() as hot:
            for latest in (False, True):
                want = await reads.account(orm, cid, latest_link=latest)
                got = await hot_reads.account(hot, cid, latest_link=latest)
                if want is None or got is None:
                    assert want is got is None
                    continue
                assert (got.client, got.vehicles) == (want.client, want.vehicles)
                assert got.location is want.location
                if want.latest_link is None:
                    assert got.latest_link is None
                else:
                    assert got.latest_link is not None
                    assert got.latest_link.model_dump() == want.latest_link.model_dump()
            assert await hot_reads.open_invoices(hot, cid) == await reads.open_invoices(orm, cid)


async def test_ledger_pages_are_the_window_answers(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    rich = await _every_kind(maker)
    today = local_today(NOW, "America/Chicago")
    for cid in [rich, *(await _client_ids(maker))[:12]]:
        for size in (3, 50):
            before: reads.LedgerKey | None = None
            while True:
                async with maker() as orm, maker() as hot:
                    want = await reads.ledger_page_orm(
                        orm, cid, today=today, before=before, size=size
                    )
                    got = await reads.ledger_page(hot, cid, today=today, before=before, size=size)
                assert got == want, (cid, size, before)
                if want.older is None:
                    break
                before = want.older
    async with maker() as hot:
        page = await reads.ledger_page(hot, rich, today=today, before=None, size=50)
    kinds = {e.kind for e in page.entries}
    assert kinds == {"invoice", "payment", "refund", "credit"}
    assert any(e.dispute for e in page.entries) and any(
        e.status == "given back" for e in page.entries
    )


@pytest.mark.parametrize("q", ["smi", "joh", "100", "1000", "512", "(512) 555", "zzzz", 'a"b_%c'])
async def test_search_is_the_orm_answer(maker: async_sessionmaker[AsyncSession], q: str) -> None:
    needle = search.needle(q)
    if needle is None:
        return
    async with maker() as orm, maker() as hot:
        for candidates in (2, search.CANDIDATES):
            want = await search.search_clients(orm, needle, candidates)
            got = await hot_reads.search_clients(hot, needle, candidates)
            assert got == want, q


async def _links_in_every_state(maker: async_sessionmaker[AsyncSession]) -> list[str]:
    """Tokens of links to a seeded client: live, opened, paid, cancelled, claimed, renewed,
    expired, declined (each with its times set), and to a client speaking Spanish."""
    tokens: list[str] = []
    async with maker() as s:
        clients = (await s.execute(select(Client).order_by(col(Client.id)).limit(2))).scalars()
        for n, client in enumerate(clients):
            client.language = "es" if n else client.language
            vid = (await s.execute(select(col(Vehicle.id)).where(
                col(Vehicle.client_id) == client.id).limit(1))).scalar_one()  # fmt: skip
            t = NOW - timedelta(minutes=5)
            states: list[dict[str, object]] = [
                {},
                {"status": "opened", "opened_at": t, "sent_at": t, "delivered_at": t},
                {"status": "paid", "paid_at": t, "payment_id": 7, "claim_payment_id": None},
                {"status": "cancelled", "cancelled_at": t, "origin": "renewal"},
                {"status": "sent", "claim_payment_id": 9, "decline_count": 3},
                {"status": "superseded", "renewed_by_link_id": 1, "origin": "reply"},
                {"status": "failed", "failed_at": t, "expires_at": NOW - timedelta(days=1)},
            ]
            for kw in states:
                token, hashed = links.new_token()
                fields: dict[str, object] = {
                    "created_at": t,
                    "expires_at": NOW + timedelta(minutes=5),
                }
                s.add(PaymentLink(token_hash=hashed, client_id=client.id or 0, vehicle_id=vid,
                                  days=30, total_cents=4_330, summary_json=_SUMMARY,
                                  phone_e164=client.phone_e164, **(fields | kw)))  # fmt: skip
                tokens.append(token)
        await s.commit()
    return tokens


_SUMMARY = json.dumps({
    "vehicle_id": 1, "vehicle_label": "2019 Ford F-150", "days": 30,
    "period": ["2026-01-01", "2026-01-30"], "monitoring_cents": 4_000, "tax_cents": 330,
    "past_due_cents": 0, "other_open_cents": 0, "tax_rate_bp": 825, "computed_on": "2026-01-01",
    "basis": {"invoice_ids": [], "paid_through": "2025-12-31"},
    "lines": [["monitoring", "Monitoring", 4_000], ["tax", "Tax", 330]],
})  # fmt: skip


async def test_pay_page_link_is_the_orm_answer(maker: async_sessionmaker[AsyncSession]) -> None:
    tokens = await _links_in_every_state(maker)
    for token in tokens:
        async with maker() as orm, maker() as hot:
            want = await pay_link.find(orm, token, NOW)
            got = await pay_link.find(hot, token, NOW, hot=True)
        assert got.link.model_dump() == want.link.model_dump(), token
        assert (got.status, got.summary, got.payer_name, got.seconds_left, got.language) == (
            want.status, want.summary, want.payer_name, want.seconds_left, want.language
        )  # fmt: skip
        assert got.location is want.location
    async with maker() as hot:
        for token in (links.new_token()[0], "not a token"):
            with pytest.raises(pay_link.LinkNotFound):
                await pay_link.find(hot, token, NOW, hot=True)
