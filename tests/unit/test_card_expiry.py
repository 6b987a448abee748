"""Card expiry (domain.cards.expired): a card works through the last day of its expiry month."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.cards import expired
from app.services.cards import is_expired
from app.store.models import CardOnFile

months = st.tuples(st.integers(2000, 2098), st.integers(1, 12))


def last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@given(months)
def test_card_works_on_the_last_day_of_its_month_and_not_the_day_after(ym: tuple[int, int]) -> None:
    year, month = ym
    final = last_day(year, month)
    assert not expired(year, month, final)
    assert not expired(year, month, date(year, month, 1))
    assert expired(year, month, final + timedelta(days=1))


@given(months, st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_expired_exactly_when_today_is_after_the_expiry_month(
    ym: tuple[int, int], today: date
) -> None:
    year, month = ym
    assert expired(year, month, today) == (today > last_day(year, month))


@given(months, st.integers(0, 40))
def test_once_expired_a_card_stays_expired(ym: tuple[int, int], later_days: int) -> None:
    year, month = ym
    first_dead_day = last_day(year, month) + timedelta(days=1)
    assert expired(year, month, first_dead_day + timedelta(days=later_days))


@given(months, st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_a_card_on_file_uses_the_domain_rule(ym: tuple[int, int], today: date) -> None:
    year, month = ym
    card = CardOnFile(
        client_id=1,
        processor_ref="pm_x",
        brand="visa",
        last4="4242",
        exp_month=month,
        exp_year=year,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert is_expired(card, today) == expired(year, month, today)
