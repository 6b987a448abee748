from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import StaleSummary
from app.domain.summary import (
    Basis,
    InvoiceSummary,
    OpenInvoice,
    SnapshotNoLongerFits,
    VehicleRef,
    basis_of,
    build_summary,
    ensure_current,
    plan_application,
    still_fits,
)

TODAY = date(2026, 11, 25)
F150 = VehicleRef(id=2, label="2015 Ford F-150", paid_through=TODAY + timedelta(days=2))


def past_due_90() -> OpenInvoice:
    return OpenInvoice(7, "INV-0000007", "Missed appointment fee", 9000, TODAY - timedelta(20))


def test_james_carter_30_days_on_the_f150() -> None:
    s = build_summary(
        today=TODAY,
        vehicle=F150,
        days=30,
        price_cents=8500,
        tax_rate_bp=825,
        open_invoices=[past_due_90()],
    )
    assert [(ln.kind, ln.amount_cents) for ln in s.lines] == [
        ("past_due", 9000),
        ("monitoring", 8500),
        ("tax", 701),
    ]
    assert s.total_cents == 18201
    assert s.period.start == TODAY + timedelta(days=3)
    assert "Monitoring — 30 days, 2015 Ford F-150" in s.lines[1].label


def test_no_past_due_line_when_nothing_is_past_due() -> None:
    camry = VehicleRef(id=3, label="2020 Toyota Camry", paid_through=TODAY + timedelta(days=9))
    s = build_summary(
        today=TODAY, vehicle=camry, days=14, price_cents=4500, tax_rate_bp=825, open_invoices=[]
    )
    assert [ln.kind for ln in s.lines] == ["monitoring", "tax"]
    assert s.total_cents == 4871


def test_invoice_due_today_is_other_open_not_past_due() -> None:
    due_today = OpenInvoice(9, "INV-0000009", "Service", 3000, TODAY)
    s = build_summary(
        today=TODAY,
        vehicle=F150,
        days=14,
        price_cents=4500,
        tax_rate_bp=825,
        open_invoices=[due_today],
    )
    assert s.past_due_cents == 0 and s.other_open_cents == 3000


invoices = st.lists(
    st.builds(
        OpenInvoice,
        id=st.integers(1, 10**6),
        number=st.just("INV"),
        description=st.just("x"),
        total_cents=st.integers(1, 10**7),
        due_date=st.dates(TODAY - timedelta(400), TODAY + timedelta(400)),
    ),
    max_size=8,
    unique_by=lambda i: i.id,
)


@given(
    invoices,
    st.sampled_from([14, 30]),
    st.integers(1, 10**6),
    st.integers(0, 2000),
    st.dates(TODAY - timedelta(100), TODAY + timedelta(100)),
)
def test_total_is_always_the_sum_of_its_lines(
    open_invoices: list[OpenInvoice], days: int, price: int, rate: int, paid_through: date
) -> None:
    v = VehicleRef(1, "car", paid_through)
    s = build_summary(
        today=TODAY,
        vehicle=v,
        days=days,
        price_cents=price,
        tax_rate_bp=rate,
        open_invoices=open_invoices,
    )
    assert s.total_cents == sum(ln.amount_cents for ln in s.lines)
    assert s.total_cents == (sum(i.total_cents for i in open_invoices) + price + s.tax_cents)
    assert all(ln.amount_cents > 0 for ln in s.lines)
    assert InvoiceSummary.from_json(s.to_json()) == s


def _summary_of(ids: list[int], pt: date) -> InvoiceSummary:
    return build_summary(
        today=TODAY,
        vehicle=VehicleRef(1, "car", pt),
        days=14,
        price_cents=4500,
        tax_rate_bp=825,
        open_invoices=[OpenInvoice(i, "n", "d", 100, TODAY) for i in ids],
    )


@given(
    st.lists(st.integers(1, 50), unique=True, max_size=6),
    st.dates(TODAY - timedelta(50), TODAY + timedelta(50)),
    st.data(),
)
def test_before_charging_any_change_to_the_basis_is_stale(
    ids: list[int], pt: date, data: st.DataObject
) -> None:
    snapshot = Basis(tuple(sorted(ids)), pt)
    change = data.draw(st.sampled_from(["drop", "add", "move"]))
    if change == "drop" and ids:
        current = Basis(tuple(sorted(ids[1:])), pt)
    elif change == "add":
        current = Basis(tuple(sorted({*ids, 51})), pt)
    else:
        current = Basis(
            snapshot.invoice_ids, pt + timedelta(days=data.draw(st.sampled_from([-1, 1, 14, 30])))
        )
    if current == snapshot:
        return
    with pytest.raises(StaleSummary):
        ensure_current(snapshot, current)


@given(
    st.lists(st.integers(1, 50), unique=True, max_size=6),
    st.lists(st.integers(51, 60), unique=True, max_size=3),
    st.dates(TODAY - timedelta(50), TODAY + timedelta(50)),
    st.integers(0, 6),
    st.sampled_from([0, -1, 1, 14, 30]),
)
def test_a_success_fits_only_while_its_invoices_are_open_and_its_period_unmoved(
    ids: list[int], added: list[int], pt: date, settled_elsewhere: int, moved: int
) -> None:
    """Invoices added since do not matter; one of its own settled elsewhere, or the
    paid-through date moved, means it would pay twice: SnapshotNoLongerFits."""
    still_open = ids[settled_elsewhere:]
    current = Basis(tuple(sorted({*still_open, *added})), pt + timedelta(days=moved))
    summary = _summary_of(ids, pt)
    should_fit = len(still_open) == len(ids) and moved == 0
    assert still_fits(summary.basis, current) is should_fit
    if should_fit:
        assert plan_application(summary, current).settle_invoice_ids == tuple(sorted(ids))
    else:
        with pytest.raises(SnapshotNoLongerFits):
            plan_application(summary, current)


@given(
    st.lists(st.integers(1, 50), unique=True, min_size=1, max_size=6),
    st.data(),
)
def test_an_invoice_reopened_for_more_since_the_snapshot_no_longer_fits(
    ids: list[int], data: st.DataObject
) -> None:
    """A partial refund reopens an invoice for what it gave back: a second one, while a
    payment of the first snapshot is in flight, makes the same invoice owe more. Applying the
    snapshot then would allocate more than the payment took, so it is stale before the charge
    and no longer fits after it (found by the stateful money test)."""
    pt = TODAY
    summary = _summary_of(ids, pt)
    grown = data.draw(st.sampled_from(ids))
    more = data.draw(st.integers(1, 10_000))
    current = basis_of(
        14,
        [OpenInvoice(i, "n", "d", 100 + (more if i == grown else 0), TODAY) for i in ids],
        pt,
        TODAY,
    )
    assert summary.basis.owed() == dict.fromkeys(ids, 100)
    with pytest.raises(StaleSummary):
        ensure_current(summary.basis, current)
    assert not still_fits(summary.basis, current)
    with pytest.raises(SnapshotNoLongerFits):
        plan_application(summary, current)
    # Unchanged amounts fit, and an old snapshot (ids only) is compared by id.
    same = basis_of(14, [OpenInvoice(i, "n", "d", 100, TODAY) for i in ids], pt, TODAY)
    assert still_fits(summary.basis, same) and ensure_current(summary.basis, same) is None
    old = Basis.from_dict({"invoice_ids": ids, "paid_through": pt.isoformat()})
    assert old.owed_cents is None and still_fits(old, current)
    assert Basis.from_dict(summary.basis.to_dict()) == summary.basis


def test_fingerprint_changes_with_what_was_reviewed_but_not_with_the_day() -> None:
    a = _summary_of([1, 2], TODAY)
    assert a.fingerprint == replace(a, computed_on=TODAY + timedelta(days=1)).fingerprint
    assert a.fingerprint != _summary_of([1], TODAY).fingerprint
    assert a.fingerprint != _summary_of([1, 2], TODAY + timedelta(days=1)).fingerprint


def test_plan_settles_included_invoices_and_moves_paid_through() -> None:
    s = build_summary(
        today=TODAY,
        vehicle=F150,
        days=30,
        price_cents=8500,
        tax_rate_bp=825,
        open_invoices=[past_due_90()],
    )
    plan = plan_application(s, Basis((7,), F150.paid_through))
    assert plan.settle_invoice_ids == (7,)
    assert plan.new_paid_through == F150.paid_through + timedelta(days=30)
    assert plan.total_cents == 18201
    assert plan.monitoring_amount_cents + plan.monitoring_tax_cents == 9201
