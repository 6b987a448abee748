"""Money, dates and times as the templates write them, by per-locale formatters built once at
import: the same text as app/formatting.py (Babel), without Babel's per-call work (parsing the
pattern, looking up the locale, the time zone's names). The en_US and es_US patterns the pages
use are fixed; what a locale calls its months, AM/PM and a zone is taken from Babel when the
formatter is built (a zone's short name once per zone, offset and locale), and a pattern with
any other field is handed to Babel. tests/unit/test_formats.py compares both over many values
(Hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_date_format

from app import formatting
from app.i18n import BABEL_LOCALE, current, using

# The fields the fixed patterns use; a pattern with another one goes to Babel.
FIELDS = frozenset({"MMM", "d", "y", "h", "mm", "a", "zzz"})


@dataclass(frozen=True)
class LocaleWords:
    babel: str  # en_US, es_US
    months: tuple[str, ...]  # MMM, January first
    am: str
    pm: str
    medium: str  # the date pattern called "medium"


def _words(babel: str) -> LocaleWords:
    months = tuple(format_date(date(2000, m, 1), "MMM", locale=babel) for m in range(1, 13))
    am = format_datetime(datetime(2000, 1, 1, 1), "a", tzinfo=UTC, locale=babel)
    pm = format_datetime(datetime(2000, 1, 1, 13), "a", tzinfo=UTC, locale=babel)
    medium = str(get_date_format("medium", locale=babel).pattern)
    return LocaleWords(babel, months, am, pm, medium)


WORDS = {lang: _words(babel) for lang, babel in BABEL_LOCALE.items()}
Parts = tuple[tuple[bool, str], ...]  # (is a field, text)


@cache
def compile_pattern(pattern: str) -> Parts | None:
    """The pattern's fields and literal text, or None when it has a field (or a quote) the
    fast formatter does not write."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            return None
        if not ch.isalpha():
            parts.append((False, ch))
            i += 1
            continue
        j = i
        while j < len(pattern) and pattern[j] == ch:
            j += 1
        if pattern[i:j] not in FIELDS:
            return None
        parts.append((True, pattern[i:j]))
        i = j
    return tuple(parts)


_zone_names: dict[tuple[str, str, float, float], str] = {}


def _zone(when: datetime, words: LocaleWords, tz: str) -> str:
    """Babel's short name of the zone at this instant (CST, CDT, ...), once per zone, offset
    and locale."""
    offset, dst = when.utcoffset(), when.dst()
    key = (
        words.babel,
        tz,
        offset.total_seconds() if offset else 0,
        dst.total_seconds() if dst else 0,
    )
    name = _zone_names.get(key)
    if name is None:
        name = _zone_names[key] = format_datetime(
            when, "zzz", tzinfo=when.tzinfo, locale=words.babel
        )
    return name


_FIELD = {
    "MMM": lambda when, words: words.months[when.month - 1],
    "d": lambda when, words: str(when.day),
    "y": lambda when, words: str(when.year),
    "h": lambda when, words: str(when.hour % 12 or 12),
    "mm": lambda when, words: f"{when.minute:02d}",
    "a": lambda when, words: words.am if when.hour < 12 else words.pm,
}


def _field(name: str, when: Any, words: LocaleWords, tz: str) -> str:
    if name == "zzz":
        return _zone(when, words, tz)
    text: str = _FIELD[name](when, words)
    return text


def _write(parts: Parts, when: datetime | date, words: LocaleWords, tz: str) -> str:
    return "".join(_field(text, when, words, tz) if field else text for field, text in parts)


def money(cents: int | None) -> str:
    """$1,234.56, -$1,234.56: en_US and es_US write dollars alike."""
    if cents is None:
        return ""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${whole:,}.{part:02d}"


def day(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return _day(current(), value.date() if isinstance(value, datetime) else value, fmt)


@lru_cache(maxsize=4096)  # a page writes the same few days many times (the ledger's 50 rows)
def _day(lang: str, value: date, fmt: str) -> str:
    words = WORDS[lang]  # type: ignore[index]
    parts = compile_pattern(words.medium if fmt == "medium" else fmt)
    if parts is None or any(f and t in ("h", "mm", "a", "zzz") for f, t in parts):
        with using(lang):
            return formatting.day(value, fmt)
    return _write(parts, value, words, "UTC")


_zones: dict[str, ZoneInfo] = {}


def _local(value: datetime, tz: str) -> datetime:
    zone = _zones.get(tz)
    if zone is None:
        zone = _zones[tz] = ZoneInfo(tz)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)


def local_time(value: datetime | None, tz: str = "America/Chicago", fmt: str = "h:mm a") -> str:
    if value is None:
        return ""
    parts = compile_pattern(fmt)
    if parts is None:
        return formatting.local_time(value, tz, fmt)
    return _write(parts, _local(value, tz), WORDS[current()], tz)


def local_datetime(value: datetime | None, tz: str = "America/Chicago") -> str:
    if value is None:
        return ""
    lang = current()
    parts = compile_pattern(formatting.DATETIME_PATTERNS[lang])
    if parts is None:
        return formatting.local_datetime(value, tz)
    return _write(parts, _local(value, tz), WORDS[lang], tz)
