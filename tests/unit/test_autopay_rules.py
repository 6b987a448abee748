"""AutoPay's rules: when a vehicle is due, when it will be charged, when the schedule runs; what
the run reports and how its progress is shown."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.clock import FixedClock
from app.domain.autopay import LEAD_DAYS, due_through, is_due, next_charge_date
from app.domain.cards import expired
from app.services.autopay import Progress, RunReport, next_run_at
from app.services.autopay.report import LISTED_FAILURES, ProgressReporter, RunItem

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


@given(st.integers(min_value=-60, max_value=60))
def test_the_sql_cutoff_agrees_with_is_due(offset: int) -> None:
    paid_through = TODAY + timedelta(days=offset)
    assert is_due(paid_through, TODAY) == (paid_through <= due_through(TODAY))


def test_a_card_works_through_the_last_day_of_its_expiry_month() -> None:
    assert not expired(2026, 11, date(2026, 11, 30))
    assert expired(2026, 11, date(2026, 12, 1))
    assert expired(2025, 12, TODAY) and not expired(2027, 1, TODAY)


def test_the_report_keeps_counts_and_lists_only_the_first_failures() -> None:
    report = RunReport()
    for n in range(LISTED_FAILURES + 7):
        report.fail(RunItem(f"{n:06d}", "2019 Honda Fit", 9201, "Your card was declined."))
    report.skip("already charged for this period", 3)
    lines = report.lines()
    assert lines[0] == "autopay: 0 charged ($0.00), 57 failed, 3 skipped, 0 not due yet"
    assert len(report.failures) == LISTED_FAILURES
    assert "  failed: 7 more (see the log)" in lines
    assert lines[-1] == "  skipped: 3 — already charged for this period"


def test_progress_shows_rate_and_eta_every_few_seconds_by_the_clock() -> None:
    clock = FixedClock(datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    report = RunReport(due=1000)
    seen: list[Progress] = []
    progress = ProgressReporter(clock, report, timedelta(seconds=5), seen.append)
    report.done = 10
    progress.tick()
    assert seen == []  # not yet 5 seconds
    clock.advance(seconds=5)
    report.done, report.failed = 100, 2
    progress.tick()
    assert seen == [Progress(100, 1000, 2, 20.0, timedelta(seconds=45))]
    assert seen[0].line() == "autopay: 100/1000 done, 2 failed, 20.0/s, ETA 45s"
    progress.tick(final=True)
    assert len(seen) == 2
