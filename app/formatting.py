"""Formatting for people: the only place money, dates and times become text (Babel, in the
current language: app/i18n.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency

from app.i18n import babel_locale, current

# A date with a clock time and its zone, as each language writes it.
DATETIME_PATTERNS = {"en": "MMM d, y h:mm a zzz", "es": "d MMM y, h:mm a zzz"}


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    return format_currency(Decimal(cents) / 100, "USD", locale=babel_locale())


def day(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format=fmt, locale=babel_locale())


def local_time(value: datetime | None, tz: str = "America/Chicago", fmt: str = "h:mm a") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=babel_locale())


def local_datetime(value: datetime | None, tz: str = "America/Chicago") -> str:
    if value is None:
        return ""
    pattern = DATETIME_PATTERNS[current()]
    return format_datetime(value, format=pattern, tzinfo=ZoneInfo(tz), locale=babel_locale())
