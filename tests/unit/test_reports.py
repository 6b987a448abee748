"""The Reports page's rules: the date range asked for, local days in UTC (daylight saving
included), the median and the conversion of payment links, and CSV cells a spreadsheet will
not run."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.reports import (
    MAX_DAYS,
    BadRange,
    DateRange,
    conversion_tenths,
    csv_text,
    default_range,
    duration_text,
    local_date,
    median,
    median_of_middle,
    median_window,
    offset_segments,
    parse_range,
    percent_text,
    utc_bounds,
)
from app.services.reports import MoneyRow
from app.web.report_charts import LABEL_W, VALUE_W, WIDTH, Series, _nice_top, bars, columns

TODAY = date(2026, 11, 25)
# Zones with the awkward cases: US daylight saving, none at all, half-hour and 45-minute
# offsets, a 30-minute daylight-saving shift, the southern hemisphere.
ZONES = (
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
)


# -- the range ------------------------------------------------------------------------------


def test_empty_fields_mean_the_last_thirty_days() -> None:
    assert parse_range("", "", TODAY) == default_range(TODAY)
    assert default_range(TODAY) == DateRange(date(2026, 10, 27), TODAY)
    assert default_range(TODAY).days == 30


def test_an_empty_start_is_thirty_days_before_the_end() -> None:
    assert parse_range("", "2026-02-10", TODAY) == DateRange(date(2026, 1, 12), date(2026, 2, 10))


def test_a_single_day_is_a_range() -> None:
    assert parse_range("2026-11-01", "2026-11-01", TODAY).days == 1


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        ("yesterday", "", "from", "as a date"),
        ("", "2026-02-30", "to", "real date"),
        ("2026-1-5", "", "from", "as a date"),
        ("1999-12-31", "", "from", "between 2000 and 2100"),
        ("", "9999-12-31", "to", "between 2000 and 2100"),
        ("２０２６-11-01", "", "from", "as a date"),  # full-width digits
        ("2026-11-10", "2026-11-09", "to", "after the start date"),
        ("2025-11-24", "2026-11-25", "to", f"at most {MAX_DAYS} days"),
    ],
)
def test_bad_dates_are_named_by_field(start: str, end: str, field: str, words: str) -> None:
    with pytest.raises(BadRange) as caught:
        parse_range(start, end, TODAY)
    assert words in caught.value.errors[field]


def test_both_fields_wrong_are_both_named() -> None:
    with pytest.raises(BadRange) as caught:
        parse_range("x", "y", TODAY)
    assert set(caught.value.errors) == {"from", "to"}


def test_a_year_and_a_leap_day_fit_one_more_does_not() -> None:
    assert parse_range("2027-11-25", "2028-11-24", TODAY).days == MAX_DAYS
    with pytest.raises(BadRange):
        parse_range("2027-11-24", "2028-11-24", TODAY)


@given(st.text(max_size=30), st.text(max_size=30))
def test_whatever_is_typed_gives_a_range_or_messages(start: str, end: str) -> None:
    try:
        span = parse_range(start, end, TODAY)
    except BadRange as exc:
        assert exc.errors and set(exc.errors) <= {"from", "to"}
    else:
        assert 1 <= span.days <= MAX_DAYS


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.integers(0, 400))
def test_ranges_up_to_the_cap_are_accepted(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    if end > date(2100, 12, 31):
        return
    if length + 1 <= MAX_DAYS:
        span = parse_range(start.isoformat(), end.isoformat(), TODAY)
        assert (span.start, span.end, len(span.dates())) == (start, end, length + 1)
    else:
        with pytest.raises(BadRange):
            parse_range(start.isoformat(), end.isoformat(), TODAY)


# -- local days -----------------------------------------------------------------------------


def test_a_year_in_austin_has_three_segments() -> None:
    segs = offset_segments(DateRange(date(2026, 1, 1), date(2026, 12, 31)), "America/Chicago")
    assert [s.offset_seconds for s in segs] == [-6 * 3600, -5 * 3600, -6 * 3600]
    assert segs[1].start == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 2 a.m. CST
    assert segs[2].start == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 2 a.m. CDT


def test_a_payment_at_11_pm_in_austin_counts_that_day_not_the_next() -> None:
    span = DateRange(date(2026, 11, 24), date(2026, 11, 24))
    segs = offset_segments(span, "America/Chicago")
    late = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 11 p.m. on the 24th in Austin
    assert local_date(late, segs) == date(2026, 11, 24)
    start, end = utc_bounds(span, "America/Chicago")
    assert start == datetime(2026, 11, 24, 6, 0, tzinfo=UTC) and end == late + timedelta(hours=1)


@given(
    st.sampled_from(ZONES),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    st.integers(0, MAX_DAYS - 1),
    st.floats(0, 1, allow_nan=False),
)
def test_the_segments_give_every_instant_its_local_date(
    zone: str, start: date, length: int, where: float
) -> None:
    span = DateRange(start, start + timedelta(days=length))
    segs = offset_segments(span, zone)
    first, last = utc_bounds(span, zone)
    assert segs[0].start == first and segs[-1].end == last
    assert all(a.end == b.start for a, b in zip(segs, segs[1:], strict=False))
    at = first + (last - first) * where
    if at >= last:
        at = last - timedelta(microseconds=1)
    assert local_date(at, segs) == at.astimezone(ZoneInfo(zone)).date()
    assert span.start <= local_date(at, segs) <= span.end


@given(st.sampled_from(ZONES), st.dates(date(2020, 1, 1), date(2030, 12, 31)))
def test_each_segment_change_is_a_real_change_of_offset(zone: str, start: date) -> None:
    segs = offset_segments(DateRange(start, start + timedelta(days=365)), zone)
    tz = ZoneInfo(zone)
    for seg in segs:
        for at in (seg.start, seg.end - timedelta(seconds=1)):
            offset = at.astimezone(tz).utcoffset()
            assert offset is not None and offset.total_seconds() == seg.offset_seconds


# -- links ----------------------------------------------------------------------------------


def _half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


@given(st.lists(st.integers(0, 10**7), max_size=60))
def test_median_is_the_middle_rounded_half_up(values: list[int]) -> None:
    if not values:
        assert median(values) is None
        return
    exact = Fraction(statistics.median_low(values) + statistics.median_high(values), 2)
    assert median(values) == _half_up(exact)


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=60))
def test_the_median_window_is_what_a_database_returns(values: list[int]) -> None:
    ordered = sorted(values)
    offset, count = median_window(len(ordered))
    assert median_of_middle(ordered[offset : offset + count]) == median(values)
    assert count == (1 if len(values) % 2 else 2)


def test_median_of_nothing() -> None:
    assert median_window(0) == (0, 0) and median_of_middle([]) is None


@given(st.integers(1, 10**6), st.data())
def test_conversion_is_paid_over_sent_in_tenths_of_a_percent(
    sent: int, data: st.DataObject
) -> None:
    paid = data.draw(st.integers(0, sent))
    assert conversion_tenths(paid, sent) == _half_up(Fraction(paid * 1000, sent))


def test_conversion_examples() -> None:
    assert conversion_tenths(0, 0) is None and percent_text(None) == "—"
    assert percent_text(conversion_tenths(1, 2)) == "50.0%"
    assert percent_text(conversion_tenths(2, 3)) == "66.7%"
    assert percent_text(conversion_tenths(1, 3)) == "33.3%"
    assert percent_text(conversion_tenths(7, 7)) == "100.0%"
    with pytest.raises(ValueError, match="paid"):
        conversion_tenths(3, 2)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (59, "59 s"), (60, "1 min"), (5400, "1 h 30 min"),
     (3600 * 24 + 3600 * 4 + 59, "1 d 4 h")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: int | None, text: str) -> None:
    assert duration_text(seconds) == text


# -- CSV ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cell"),
    [("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"),
     ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tTab", "'\tTab"), ("\rCR", "'\rCR"),
     ("Sandra Supervisor", "Sandra Supervisor"), ("", ""), ("O'Neil", "O'Neil"),
     (" =1+1", "' =1+1"), (";=1+1", "';=1+1"), (" \t ;@A1", "' \t ;@A1"), ("\n-1", "'\n-1"),
     ("; note", "; note"), ("  Ana", "  Ana"), ("a=1", "a=1")],
)  # fmt: skip
def test_csv_text_never_starts_like_a_formula(name: str, cell: str) -> None:
    assert csv_text(name) == cell


@given(st.text(max_size=20))
def test_csv_text_keeps_the_words(name: str) -> None:
    cell = csv_text(name)
    assert cell.endswith(name) and not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    # What a spreadsheet reads after skipping blanks and `;` never starts a formula either.
    assert (
        cell.lstrip(" \t\r\n;") == ""
        or cell.startswith("'")
        or not (cell.lstrip(" \t\r\n;").startswith(("=", "+", "-", "@")))
    )


# -- charts ---------------------------------------------------------------------------------


@given(st.integers(0, 10**12))
def test_the_day_axis_top_is_round_and_above_every_value(value: int) -> None:
    top = _nice_top(value)
    assert top >= value and top >= 100
    assert str(top).rstrip("0") in ("1", "2", "5")


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=8))
def test_bar_lengths_are_proportional_and_fit(values: list[int]) -> None:
    items = [(f"row {i}", [v], [str(v)]) for i, v in enumerate(values)]
    chart = bars("c", "t", "s", [Series("A", "solid")], items)
    plot = WIDTH - LABEL_W - VALUE_W
    widths = [row.bars[0].width for row in chart.rows]
    assert max(widths) <= plot
    top = max(values)
    for v, w in zip(values, widths, strict=True):
        assert (w == 0) == (v == 0)
        if v == top > 0:
            assert w == plot
    assert chart.empty == (top == 0)


def test_day_columns_have_a_title_per_series_and_day() -> None:
    days = [MoneyRow(date(2026, 11, d), "", 1, 1000 * d, 0, 0, 0, 0) for d in range(1, 31)]
    chart = columns("chart-day", "Collected by day", days)
    assert len(chart.rows) == 30 and len(chart.x_ticks) <= 7
    titles = [b.title for row in chart.rows for b in row.bars]
    assert "Nov 30, 2026 — Collected: $300.00" in titles
    assert all(
        b.y + b.height <= chart.plot[1] + chart.plot[3] + 0.01 for r in chart.rows for b in r.bars
    )
