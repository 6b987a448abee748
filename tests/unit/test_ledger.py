"""The ledger's running balance, whatever mix of invoices and payment attempts an account has."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.services.ledger import build_ledger
from app.store.models import Invoice, Payment

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
TZ = "America/Chicago"
TODAY = date(2026, 11, 25)

invoices = st.builds(
    lambda i, cents, tax, status, days_ago, due_offset: Invoice(
        id=i,
        number=f"INV-{i:07d}",
        client_id=1,
        description="x",
        amount_cents=cents,
        tax_cents=tax,
        status=status,
        created_at=NOW - timedelta(days=days_ago),
        due_date=TODAY + timedelta(days=due_offset),
    ),  # fmt: skip
    st.integers(1, 10_000),
    st.integers(1, 1_000_000),
    st.integers(0, 90_000),
    st.sampled_from(["open", "paid", "void"]),
    st.integers(0, 400),
    st.integers(-60, 60),
)
payments = st.builds(
    lambda i, cents, status, days_ago: Payment(
        id=i,
        client_id=1,
        amount_cents=cents,
        channel="link",
        status=status,
        idempotency_key=f"k{i}",
        summary_json="{}",
        created_at=NOW - timedelta(days=days_ago),
        completed_at=None if status == "pending" else NOW - timedelta(days=days_ago),
    ),  # fmt: skip
    st.integers(1, 10_000),
    st.integers(1, 1_000_000),
    st.sampled_from(["succeeded", "failed", "pending"]),
    st.integers(0, 400),
)


@given(
    st.lists(invoices, max_size=25, unique_by=lambda i: i.id),
    st.lists(payments, max_size=25, unique_by=lambda p: p.id),
)
def test_running_balance_adds_up_and_rows_run_newest_first(
    invs: list[Invoice], pays: list[Payment]
) -> None:
    led = build_ledger(invs, pays, {}, NOW, TZ)
    assert len(led.rows) == len(invs) + len(pays)
    owed = sum(i.total_cents for i in invs if i.status != "void")
    paid = sum(p.amount_cents for p in pays if p.status == "succeeded")
    assert led.balance_cents == owed - paid
    assert led.past_due_cents == sum(
        i.total_cents for i in invs if i.status == "open" and i.due_date < TODAY
    )
    oldest_first = list(reversed(led.rows))
    running = 0
    for row in oldest_first:
        if row.kind == "invoice" and row.status != "void":
            running += row.charge_cents or 0
        if row.kind == "payment" and row.status == "succeeded":
            running -= row.payment_cents or 0
        assert row.balance_cents == running
    assert [r.at for r in led.rows] == sorted((r.at for r in led.rows), reverse=True)
    if led.rows:
        assert led.rows[0].balance_cents == led.balance_cents
