"""Formatting for people: the only place money, dates and times become text (Babel, en_US)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency

LOCALE = "en_US"


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    return format_currency(Decimal(cents) / 100, "USD", locale=LOCALE)


def day(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format=fmt, locale=LOCALE)


def local_time(value: datetime | None, tz: str = "America/Chicago", fmt: str = "h:mm a") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=LOCALE)


def local_datetime(value: datetime | None, tz: str = "America/Chicago") -> str:
    if value is None:
        return ""
    return format_datetime(value, format="MMM d, y h:mm a zzz", tzinfo=ZoneInfo(tz), locale=LOCALE)
