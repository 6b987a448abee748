from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidDays
from app.domain.periods import local_today, next_period, parse_days


def test_period_starts_the_day_after_paid_through() -> None:
    p = next_period(date(2026, 11, 30), 30)
    assert p.start == date(2026, 12, 1)
    assert p.end == date(2026, 12, 30)
    assert p.days == 30


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.lists(st.sampled_from([14, 30]), min_size=1, max_size=20),
)
def test_consecutive_periods_never_overlap_or_leave_gaps(start: date, cycles: list[int]) -> None:
    paid_through = start
    previous = None
    for days in cycles:
        period = next_period(paid_through, days)
        assert period.days == days
        if previous is not None:
            assert period.start == previous.end + timedelta(days=1)
        previous = period
        paid_through = period.end


@pytest.mark.parametrize("bad", ["", "7", "31", "abc", None, "14.5"])
def test_only_14_or_30_days(bad: object) -> None:
    with pytest.raises(InvalidDays):
        parse_days(bad)  # type: ignore[arg-type]


def test_today_is_the_locations_date() -> None:
    late_evening_in_austin = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)  # 22:30 on the 25th
    assert local_today(late_evening_in_austin, "America/Chicago") == date(2026, 11, 25)
    assert local_today(late_evening_in_austin, "UTC") == date(2026, 11, 26)
