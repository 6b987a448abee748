from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import DomainError
from app.domain.payment_states import after_refund
from app.domain.periods import Period
from app.domain.refunds import Settled, check_refund, plan_reopen, refundable_cents, split_refund


def test_james_carter_refund_of_50_dollars_is_shared_by_what_each_invoice_holds() -> None:
    # $90.00 past-due invoice and the $92.01 monitoring invoice, paid together ($182.01)
    assert split_refund({1: 9000, 2: 9201}, 5000) == {1: 2472, 2: 2528}
    assert split_refund({1: 9000, 2: 9201}, 18201) == {1: 9000, 2: 9201}


@given(
    st.dictionaries(st.integers(1, 20), st.integers(0, 200_000), min_size=1, max_size=6),
    st.data(),
)
def test_shares_add_up_to_the_cent_and_never_exceed_an_invoice(
    allocated: dict[int, int], data: st.DataObject
) -> None:
    total = sum(a for a in allocated.values() if a > 0)
    if total == 0:
        with pytest.raises(ValueError):
            split_refund(allocated, 1)
        return
    amount = data.draw(st.integers(1, total))
    shares = split_refund(allocated, amount)
    assert sum(shares.values()) == amount
    assert all(0 < s <= allocated[i] for i, s in shares.items())
    if amount == total:
        assert shares == {i: a for i, a in allocated.items() if a > 0}


@given(st.integers(1, 10**7), st.integers(0, 10**7), st.integers(0, 10**7), st.integers(-5, 10**7))
def test_refund_amount_is_positive_and_within_what_is_left(
    amount: int, refunded: int, pending: int, asked: int
) -> None:
    left = refundable_cents(amount, refunded, pending)
    if 0 < asked <= left:
        check_refund(asked, left)
    else:
        with pytest.raises(DomainError):
            check_refund(asked, left)


def test_status_after_refunds() -> None:
    assert after_refund(18201, 0) == "succeeded"
    assert after_refund(18201, 1) == "partially_refunded"
    assert after_refund(18201, 18201) == "refunded"


# -- what a supervisor's refund reopens (plan_reopen) --------------------------------------------

TODAY = date(2026, 11, 25)
F150 = 1
PERIOD = Period(date(2026, 11, 26), date(2026, 12, 25))


def _monitoring(invoice_id: int, held: int, period: Period = PERIOD) -> Settled:
    return Settled(invoice_id, held, "monitoring", F150, period)


def _fee(invoice_id: int, held: int) -> Settled:
    return Settled(invoice_id, held, "fee", None, None)


def test_a_full_refund_gives_the_period_back_and_reopens_the_past_due_invoice() -> None:
    plan = plan_reopen([_fee(7, 9000), _monitoring(9, 9201)], {F150: PERIOD.end}, 18201)
    assert plan.shares == {7: 9000, 9: 9201}
    assert plan.reopened == (7,) and plan.voided == (9,)
    assert plan.paid_through == {F150: PERIOD.start - timedelta(days=1)}


def test_a_partial_refund_reopens_in_proportion_and_keeps_the_period() -> None:
    plan = plan_reopen([_fee(7, 9000), _monitoring(9, 9201)], {F150: PERIOD.end}, 5000)
    assert plan.shares == {7: 2472, 9: 2528}
    assert plan.reopened == (7, 9) and plan.voided == () and plan.paid_through == {}


def test_a_period_with_a_later_one_paid_is_reopened_not_voided() -> None:
    later = PERIOD.end + timedelta(days=30)
    plan = plan_reopen([_monitoring(9, 9201)], {F150: later}, 9201)
    assert plan.reopened == (9,) and plan.voided == () and plan.paid_through == {}


_periods = st.builds(
    lambda start, days: Period(start, start + timedelta(days=days - 1)),
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    st.sampled_from([14, 30]),
)
_settled = st.lists(
    st.one_of(
        st.builds(_fee, st.integers(1, 50), st.integers(0, 50_000)),
        st.builds(
            lambda i, held, vehicle, period: Settled(i, held, "monitoring", vehicle, period),
            st.integers(1, 50),
            st.integers(0, 50_000),
            st.integers(1, 3),
            _periods,
        ),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda s: s.invoice_id,
)


@given(
    _settled,
    st.dictionaries(st.integers(1, 3), st.dates(date(2026, 1, 1), date(2028, 1, 1))),
    st.data(),
)
def test_every_share_goes_back_once_and_only_a_whole_latest_period_is_voided(
    settled: list[Settled], paid_through: dict[int, date], data: st.DataObject
) -> None:
    total = sum(i.held_cents for i in settled if i.held_cents > 0)
    if total == 0:
        return
    amount = data.draw(st.integers(1, total))
    # a vehicle's latest period often is the one refunded: make that case common
    for i in settled:
        if i.period is not None and i.vehicle_id is not None and data.draw(st.booleans()):
            paid_through[i.vehicle_id] = i.period.end
    plan = plan_reopen(settled, paid_through, amount)
    by_id = {i.invoice_id: i for i in settled}
    assert plan.shares == split_refund({i.invoice_id: i.held_cents for i in settled}, amount)
    assert sorted((*plan.reopened, *plan.voided)) == sorted(plan.shares)
    for invoice_id in plan.voided:
        invoice = by_id[invoice_id]
        assert invoice.kind == "monitoring" and invoice.period is not None
        assert plan.shares[invoice_id] == invoice.held_cents  # given back whole
    for vehicle, moved_to in plan.paid_through.items():
        assert moved_to < paid_through[vehicle]  # paid-through only ever moves back
        voided_here = [by_id[i] for i in plan.voided if by_id[i].vehicle_id == vehicle]
        assert voided_here and moved_to == min(
            i.period.start for i in voided_here if i.period
        ) - timedelta(days=1)
    if amount == total:  # a full refund gives back each vehicle's latest period it paid
        for vehicle, through in paid_through.items():
            latest = [
                i
                for i in settled
                if i.kind == "monitoring" and i.vehicle_id == vehicle and i.held_cents > 0
                if i.period is not None and i.period.end == through
            ]
            assert bool(latest) == (vehicle in plan.paid_through)
