"""What a person reviewed is the whole summary (domain.review.ensure_reviewed compares
InvoiceSummary.fingerprint): another period or other invoices with the same total is another
summary, refused as StaleSummary; the same summary computed again passes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import StaleSummary
from app.domain.review import ensure_reviewed
from app.domain.summary import InvoiceSummary, OpenInvoice, VehicleRef, build_summary

TODAY = date(2026, 11, 25)

amounts = st.lists(st.integers(1, 50_000), min_size=1, max_size=4)
due_offsets = st.integers(-60, 30)  # days from today: past due or not
paid_through_offsets = st.integers(-40, 40)
days = st.sampled_from([14, 30])


def summary(
    invoices: list[OpenInvoice], paid_through: date, days: int = 30, vehicle_id: int = 2
) -> InvoiceSummary:
    return build_summary(
        today=TODAY,
        vehicle=VehicleRef(id=vehicle_id, label="2015 Ford F-150", paid_through=paid_through),
        days=days,
        price_cents=8_500 if days == 30 else 4_500,
        tax_rate_bp=825,
        open_invoices=invoices,
    )


def invoices(cents: list[int], due: date, first_id: int = 1) -> list[OpenInvoice]:
    return [
        OpenInvoice(first_id + n, f"INV-{first_id + n:07d}", "Fee", c, due)
        for n, c in enumerate(cents)
    ]


@given(amounts, due_offsets, paid_through_offsets, days)
def test_the_same_summary_computed_again_is_the_one_reviewed(
    cents: list[int], due: int, through: int, d: int
) -> None:
    due_date, paid_through = TODAY + timedelta(due), TODAY + timedelta(through)
    shown = summary(invoices(cents, due_date), paid_through, d)
    ensure_reviewed(summary(invoices(cents, due_date), paid_through, d), shown.fingerprint)


@given(amounts, due_offsets, paid_through_offsets, days, st.integers(1, 1_000))
def test_other_invoices_of_the_same_amounts_are_another_summary(
    cents: list[int], due: int, through: int, d: int, shift: int
) -> None:
    """An open invoice voided and another of the same amount added: same lines and total."""
    due_date, paid_through = TODAY + timedelta(due), TODAY + timedelta(through)
    shown = summary(invoices(cents, due_date), paid_through, d)
    now = summary(invoices(cents, due_date, first_id=1 + len(cents) + shift), paid_through, d)
    assert now.total_cents == shown.total_cents and now.lines == shown.lines
    assert now.fingerprint != shown.fingerprint
    with pytest.raises(StaleSummary):
        ensure_reviewed(now, shown.fingerprint)


@given(amounts, due_offsets, paid_through_offsets, days, st.integers(1, 60))
def test_another_period_of_the_same_total_is_another_summary(
    cents: list[int], due: int, through: int, d: int, moved: int
) -> None:
    """The vehicle's paid-through date moved: the same days cost the same, for other dates."""
    due_date, paid_through = TODAY + timedelta(due), TODAY + timedelta(through)
    shown = summary(invoices(cents, due_date), paid_through, d)
    now = summary(invoices(cents, due_date), paid_through + timedelta(moved), d)
    assert now.total_cents == shown.total_cents and now.period != shown.period
    assert now.fingerprint != shown.fingerprint
    with pytest.raises(StaleSummary):
        ensure_reviewed(now, shown.fingerprint)


def test_nothing_reviewed_is_never_the_summary() -> None:
    shown = summary(invoices([9_000], TODAY - timedelta(20)), TODAY + timedelta(2))
    for reviewed in ("", "0" * 16, shown.fingerprint.upper(), str(shown.total_cents)):
        with pytest.raises(StaleSummary):
            ensure_reviewed(shown, reviewed)
