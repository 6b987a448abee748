import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import DomainError
from app.domain.outcomes import after_refund
from app.domain.refunds import check_refund, refundable_cents, split_refund


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
