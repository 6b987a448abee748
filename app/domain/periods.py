"""Monitoring periods: a period starts the day after paid-through and covers D whole days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.errors import InvalidDays

ALLOWED_DAYS = (14, 30)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def check_days(days: int) -> int:
    if days not in ALLOWED_DAYS:
        raise InvalidDays()
    return days


def parse_days(text: str | int | None) -> int:
    try:
        return check_days(int(text))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidDays() from None


def next_period(paid_through: date, days: int) -> Period:
    check_days(days)
    start = paid_through + timedelta(days=1)
    return Period(start=start, end=paid_through + timedelta(days=days))


def local_today(now_utc: datetime, timezone: str) -> date:
    """The calendar date at a location, for a UTC instant."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(ZoneInfo(timezone)).date()
