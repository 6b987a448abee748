"""The past-due-only summary (issue 14 item 3): what it charges, what it settles, what it
stands on, and that it never asks more than is owed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidDays, StaleSummary
from app.domain.summary import (
    PAST_DUE_ONLY,
    InvoiceSummary,
    NothingPastDue,
    OpenInvoice,
    VehicleRef,
    basis_of,
    build_past_due_summary,
    build_summary,
    choice_value,
    ensure_current,
    parse_choice,
    plan_application,
)

TODAY = date(2026, 11, 25)
F150 = VehicleRef(id=2, label="2015 Ford F-150", paid_through=TODAY + timedelta(days=2))
FEE = OpenInvoice(7, "INV-0000007", "Missed appointment fee", 9000, TODAY - timedelta(20))
LATER = OpenInvoice(8, "INV-0000008", "Service visit", 3000, TODAY + timedelta(5))
DUE_TODAY = OpenInvoice(9, "INV-0000009", "Calibration", 2500, TODAY)


def past_due(invoices: list[OpenInvoice]) -> InvoiceSummary:
    return build_past_due_summary(
        today=TODAY, vehicle=F150, tax_rate_bp=825, open_invoices=invoices
    )


def test_james_pays_his_90_dollars_past_due_and_nothing_else() -> None:
    s = past_due([FEE, LATER, DUE_TODAY])
    assert [(ln.kind, ln.amount_cents) for ln in s.lines] == [("past_due", 9000)]
    assert s.total_cents == 9000 and s.past_due_only and s.period is None
    assert (s.monitoring_cents, s.tax_cents, s.other_open_cents) == (0, 0, 0)
    assert s.basis.invoice_ids == (7,)  # not the invoice due today, not the later one
    assert s.basis.paid_through == F150.paid_through


def test_nothing_past_due_is_refused() -> None:
    with pytest.raises(NothingPastDue):
        past_due([LATER, DUE_TODAY])
    with pytest.raises(NothingPastDue):
        past_due([])


def test_it_survives_its_json_snapshot_and_differs_from_the_full_summary() -> None:
    s = past_due([FEE])
    again = InvoiceSummary.from_json(s.to_json())
    assert again == s and again.fingerprint == s.fingerprint
    full = build_summary(
        today=TODAY, vehicle=F150, days=30, price_cents=8500, tax_rate_bp=825, open_invoices=[FEE]
    )
    assert full.fingerprint != s.fingerprint


def test_applying_it_settles_the_past_due_invoices_and_buys_no_period() -> None:
    s = past_due([FEE, LATER])
    plan = plan_application(s, basis_of(30, [FEE, LATER], F150.paid_through, TODAY))
    assert plan.settle_invoice_ids == (7,)
    assert plan.period is None and plan.new_paid_through is None
    assert plan.total_cents == 9000 and plan.monitoring_amount_cents == 0


def test_the_claim_is_stale_when_the_past_due_set_changed() -> None:
    s = past_due([FEE])
    ensure_current(s.basis, basis_of(PAST_DUE_ONLY, [FEE, LATER], F150.paid_through, TODAY))
    overdue_now = OpenInvoice(10, "INV-0000010", "Fee", 1000, TODAY - timedelta(1))
    with pytest.raises(StaleSummary):  # another invoice fell past due: review again
        ensure_current(
            s.basis, basis_of(PAST_DUE_ONLY, [FEE, overdue_now], F150.paid_through, TODAY)
        )
    with pytest.raises(StaleSummary):  # the fee was paid or voided meanwhile
        ensure_current(s.basis, basis_of(PAST_DUE_ONLY, [], F150.paid_through, TODAY))


@pytest.mark.parametrize(
    ("text", "days"), [("14", 14), ("30", 30), ("past_due", PAST_DUE_ONLY), (" past_due ", 0)]
)
def test_parse_choice(text: str, days: int) -> None:
    assert parse_choice(text) == days
    assert parse_choice(choice_value(days)) == days


@pytest.mark.parametrize("text", ["0", "7", "", None, "past-due", "١٤", "30.0"])
def test_parse_choice_refuses_anything_else(text: str | None) -> None:
    with pytest.raises(InvalidDays):
        parse_choice(text)


invoices = st.lists(
    st.builds(
        OpenInvoice,
        id=st.integers(1, 10_000),
        number=st.just("INV"),
        description=st.just("x"),
        total_cents=st.integers(1, 500_000),
        due_date=st.dates(TODAY - timedelta(400), TODAY + timedelta(60)),
    ),
    max_size=8,
    unique_by=lambda i: i.id,
)


@given(invoices, st.sampled_from([14, 30]))
def test_past_due_only_never_exceeds_what_is_owed_and_is_part_of_the_full_summary(
    open_invoices: list[OpenInvoice], days: int
) -> None:
    full = build_summary(
        today=TODAY,
        vehicle=F150,
        days=days,
        price_cents=8500,
        tax_rate_bp=825,
        open_invoices=open_invoices,
    )
    owed = sum(i.total_cents for i in open_invoices)
    try:
        s = past_due(open_invoices)
    except NothingPastDue:
        assert full.past_due_cents == 0
        return
    assert 0 < s.total_cents == full.past_due_cents <= owed
    assert set(s.basis.invoice_ids) <= set(full.basis.invoice_ids)
    settled = sum(i.total_cents for i in open_invoices if i.id in s.basis.invoice_ids)
    assert settled == s.total_cents  # what it charges is exactly what it settles
