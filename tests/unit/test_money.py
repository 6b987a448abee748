from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidAmount
from app.domain.money import cents_to_plain, parse_amount, tax_cents


def test_tax_on_demo_prices_matches_the_spec() -> None:
    assert tax_cents(8500, 825) == 701  # $7.0125 -> $7.01
    assert tax_cents(4500, 825) == 371  # $3.7125 -> $3.71


def test_tax_rounds_half_up_not_to_even() -> None:
    assert tax_cents(50, 1000) == 5
    assert tax_cents(5, 1000) == 1  # 0.5 cent rounds up
    assert tax_cents(15, 1000) == 2  # 1.5 cents rounds up (banker's rounding would give 2 too)
    assert tax_cents(25, 1000) == 3  # 2.5 cents: half-up gives 3, half-even would give 2


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10_000))
def test_tax_is_exact_half_up(amount: int, rate: int) -> None:
    expected = (Decimal(amount) * rate / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert tax_cents(amount, rate) == int(expected)
    assert abs(tax_cents(amount, rate) * 10_000 - amount * rate) <= 5_000


@pytest.mark.parametrize(
    ("text", "cents"),
    [("85", 8500), ("85.5", 8550), ("85.00", 8500), ("$1,085.25", 108525), (" 0.01 ", 1)],
)
def test_parse_amount_accepts_what_people_type(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "1.234", "-5", "1e3", "12,34", "$", "١٢"])
def test_parse_amount_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=10**12))
def test_plain_round_trips(cents: int) -> None:
    assert parse_amount(cents_to_plain(cents)) == cents
