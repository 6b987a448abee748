"""AutoPay's date rules: when a vehicle is due, when it will be charged, when the schedule runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.services.autopay import LEAD_DAYS, is_due, next_charge_date, next_run_at

TODAY = date(2026, 11, 25)


def test_due_within_three_days_of_paid_through() -> None:
    assert is_due(TODAY + timedelta(days=3), TODAY)
    assert not is_due(TODAY + timedelta(days=4), TODAY)
    assert is_due(TODAY - timedelta(days=10), TODAY)  # lapsed: due now


@given(st.integers(min_value=-60, max_value=60))
def test_next_charge_date_is_when_it_becomes_due_and_never_in_the_past(offset: int) -> None:
    paid_through = TODAY + timedelta(days=offset)
    charge_on = next_charge_date(paid_through, TODAY)
    assert charge_on >= TODAY
    assert is_due(paid_through, charge_on)
    if charge_on > TODAY:
        assert not is_due(paid_through, charge_on - timedelta(days=1))
        assert charge_on == paid_through - timedelta(days=LEAD_DAYS)


def test_daily_schedule_picks_the_next_run_time() -> None:
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert next_run_at(now, time(17, 30)) == datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    assert next_run_at(now, time(6, 0)) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert next_run_at(now, time(16, 0)) == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
