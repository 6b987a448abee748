"""Monitoring periods: a period starts the day after paid-through and covers D whole days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.errors import InvalidDays
from app.domain.numbers import parse_whole

ALLOWED_DAYS = (14, 30)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def paid_through_before(self) -> date:
        """The paid-through date this period follows (next_period's, the other way round)."""
        return self.start - timedelta(days=1)


def check_days(days: int) -> int:
    if days not in ALLOWED_DAYS:
        raise InvalidDays()
    return days


def parse_days(text: str | int | None) -> int:
    """Days from a form (ASCII digits only, see numbers.parse_whole) or from our own code."""
    days = text if isinstance(text, int) else parse_whole(text, max_digits=3)
    if days is None:
        raise InvalidDays()
    return check_days(days)


def next_period(paid_through: date, days: int) -> Period:
    check_days(days)
    start = paid_through + timedelta(days=1)
    return Period(start=start, end=paid_through + timedelta(days=days))


def local_today(now_utc: datetime, timezone: str) -> date:
    """The calendar date at a location, for a UTC instant."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(ZoneInfo(timezone)).date()
