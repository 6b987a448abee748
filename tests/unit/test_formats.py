"""The formatters built once (app/web/formats.py) write what Babel writes (app/formatting.py),
in English and Spanish, over many amounts, dates, times and zones, for every pattern the
templates use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import formatting, i18n
from app.web import formats

LANGS = ("en", "es")
ZONES = ("America/Chicago", "America/Denver", "America/Phoenix", "America/New_York",
         "America/Los_Angeles", "Pacific/Honolulu", "UTC", "Pacific/Kiritimati")  # fmt: skip
# every pattern the templates pass (grep '|day(' '|local_time(' app/templates), and the defaults
DAY_PATTERNS = ("medium", "MMM d", "MMM d, y")
TIME_PATTERNS = ("h:mm a", "h:mm a zzz", "MMM d, y")
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@pytest.fixture(params=LANGS)
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    with i18n.using(request.param):
        yield request.param


@settings(max_examples=400)
@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12)
    | st.sampled_from([0, 1, 99, 100, 999_999])
)
def test_money_is_babels(cents: int) -> None:
    for lang in LANGS:
        with i18n.using(lang):
            assert formats.money(cents) == formatting.money(cents), (lang, cents)


@settings(max_examples=300)
@given(value=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)) | instants)
def test_days_are_babels(value: date) -> None:
    for lang in LANGS:
        with i18n.using(lang):
            for fmt in DAY_PATTERNS:
                assert formats.day(value, fmt) == formatting.day(value, fmt), (lang, fmt, value)


@settings(max_examples=300)
@given(value=instants, tz=st.sampled_from(ZONES))
def test_times_are_babels(value: datetime, tz: str) -> None:
    for lang in LANGS:
        with i18n.using(lang):
            for fmt in TIME_PATTERNS:
                assert formats.local_time(value, tz, fmt) == formatting.local_time(value, tz, fmt)
            assert formats.local_datetime(value, tz) == formatting.local_datetime(value, tz)


def test_nothing_is_empty_and_other_patterns_go_to_babel(lang: str) -> None:
    at = datetime(2026, 11, 25, 16, 5, tzinfo=UTC)
    assert formats.money(None) == formats.day(None) == formats.local_time(None) == ""
    assert formats.local_datetime(None) == ""
    assert formats.compile_pattern("EEEE, MMM d") is None  # a weekday: Babel writes it
    assert formats.day(at, "EEEE, MMM d") == formatting.day(at, "EEEE, MMM d")
    assert formats.local_time(at, "UTC", "HH:mm 'h'") == formatting.local_time(
        at, "UTC", "HH:mm 'h'"
    )
