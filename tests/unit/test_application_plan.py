"""The receipt's invoice is decided with the rest of the application plan: the period bought,
else the oldest invoice the payment settles."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.summary import (
    PAST_DUE_ONLY,
    OpenInvoice,
    VehicleRef,
    basis_of,
    build_past_due_summary,
    build_summary,
    plan_application,
)

TODAY = date(2026, 11, 25)
F150 = VehicleRef(id=2, label="2015 Ford F-150", paid_through=TODAY + timedelta(days=2))

_invoices = st.lists(
    st.builds(
        lambda i, cents, offset: OpenInvoice(
            i, f"INV-{i:07d}", "Fee", cents, TODAY + timedelta(days=offset)
        ),
        st.integers(1, 500),
        st.integers(1, 50_000),
        st.integers(-60, 30),
    ),
    max_size=6,
    unique_by=lambda i: i.id,
)


@given(_invoices, st.sampled_from([14, 30]))
def test_a_period_bought_is_the_receipt(invoices: list[OpenInvoice], days: int) -> None:
    s = build_summary(
        today=TODAY, vehicle=F150, days=days, price_cents=8500, tax_rate_bp=825,
        open_invoices=invoices,
    )  # fmt: skip
    plan = plan_application(s, basis_of(days, invoices, F150.paid_through, TODAY))
    assert plan.period is not None and plan.receipt_invoice_id is None


@given(_invoices)
def test_paying_the_past_due_only_names_the_oldest_invoice_settled(
    invoices: list[OpenInvoice],
) -> None:
    past_due = [i for i in invoices if i.due_date < TODAY]
    if not past_due:
        return
    s = build_past_due_summary(today=TODAY, vehicle=F150, tax_rate_bp=825, open_invoices=invoices)
    plan = plan_application(s, basis_of(PAST_DUE_ONLY, invoices, F150.paid_through, TODAY))
    assert plan.receipt_invoice_id == min(i.id for i in past_due)
    assert plan.receipt_invoice_id in plan.settle_invoice_ids
