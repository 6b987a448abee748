"""Rules of the Reports page: which dates a report covers, where a location's local days begin
and end in UTC, the median and the conversion rate of payment links, and CSV cells that a
spreadsheet will not run. Pure functions: no I/O, no framework."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.domain.payment_states import SETTLED

MAX_DAYS = 366  # a year, leap day included; longer ranges are refused
DEFAULT_DAYS = 30
EARLIEST = date(2000, 1, 1)  # dates outside these years are typing mistakes, never data
LATEST = date(2100, 12, 31)

# Payment.channel, in the order the page lists them, with the names staff know them by.
CHANNELS = {
    "link": "Secure Payment Link",
    "staff_card_on_file": "Take Payment",
    "portal": "My Account",
    "autopay": "AutoPay",
}

# -- what the money tables count ------------------------------------------------------------
# One ledger row's part of the money figures, in this order (the columns of the daily totals,
# store/daily_totals.py, and the fields of a report's money row): a settled payment is collected,
# a failed one declined, both on the day it completed; a succeeded refund is refunded on the day
# it completed, or lost when a lost dispute gave the money back (its kind); a dispute counts on
# the day it opened, for the amount it disputes. Staff and channel are the payment's.
COUNTS = (
    *("payments", "collected_cents", "refunds", "refunded_cents", "declines", "declined_cents"),
    *("disputes", "disputed_cents", "lost", "lost_cents"),
)
Counts = tuple[int, int, int, int, int, int, int, int, int, int]
NOTHING: Counts = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
DECLINED = "failed"  # the payment status counted as a decline
COUNTED_PAYMENTS = (*SETTLED, DECLINED)  # every payment status with a part in the figures
LOST_DISPUTE = "dispute"  # the Refund kind of the money a lost dispute took back


def payment_counts(status: str, amount_cents: int) -> Counts:
    if status in SETTLED:
        return (1, amount_cents, 0, 0, 0, 0, 0, 0, 0, 0)
    if status == DECLINED:
        return (0, 0, 0, 0, 1, amount_cents, 0, 0, 0, 0)
    return NOTHING


def refund_counts(status: str, kind: str, amount_cents: int) -> Counts:
    if status != "succeeded":
        return NOTHING
    if kind == LOST_DISPUTE:
        return (0, 0, 0, 0, 0, 0, 0, 0, 1, amount_cents)
    return (0, 0, 1, amount_cents, 0, 0, 0, 0, 0, 0)


def dispute_counts(amount_cents: int) -> Counts:
    return (0, 0, 0, 0, 0, 0, 1, amount_cents, 0, 0)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


class BadRange(Exception):  # noqa: N818 - a user's mistake, said next to the fields
    """What is wrong with the dates typed, by field name ("from", "to")."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def default_range(today: date) -> DateRange:
    """The last 30 days, today included."""
    return DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)


def _parse_date(text: str, label: str) -> date:
    text = text.strip()
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"Enter the {label} as a date, for example 2026-11-01.")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Enter the {label} as a real date, for example 2026-11-01.") from None
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"Enter a {label} between {EARLIEST.year} and {LATEST.year}.")
    return value


def parse_range(from_text: str | None, to_text: str | None, today: date) -> DateRange:
    """The range a person asked for. An empty end means today; an empty start, 30 days before
    the end. Raises BadRange with a message per field: not a date, end before start, or
    longer than MAX_DAYS."""
    errors: dict[str, str] = {}
    start = end = None
    if to_text and to_text.strip():
        try:
            end = _parse_date(to_text, "end date")
        except ValueError as exc:
            errors["to"] = str(exc)
    else:
        end = today
    if from_text and from_text.strip():
        try:
            start = _parse_date(from_text, "start date")
        except ValueError as exc:
            errors["from"] = str(exc)
    elif end is not None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if errors:
        raise BadRange(errors)
    assert start is not None and end is not None
    if end < start:
        raise BadRange({"to": "The end date must be the same as or after the start date."})
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRange({"to": f"Choose a range of at most {MAX_DAYS} days."})
    return DateRange(start, end)


# -- local days in UTC ---------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """From `start` (UTC, inclusive) to `end` (exclusive) the location's clock is `offset`
    seconds ahead of UTC (negative in the Americas)."""

    start: datetime
    end: datetime
    offset_seconds: int


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant a location's `day` begins."""
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)


def utc_bounds(span: DateRange, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants of the range's first local midnight and of the midnight after it."""
    return local_midnight(span.start, timezone), local_midnight(
        span.end + timedelta(days=1), timezone
    )


def _offset(at: datetime, zone: ZoneInfo) -> int:
    delta = at.astimezone(zone).utcoffset()
    assert delta is not None
    return int(delta.total_seconds())


def offset_segments(span: DateRange, timezone: str) -> list[Segment]:
    """The range's UTC time cut where the location's UTC offset changes (daylight saving), so
    a database can find each instant's local date as date(instant + offset) with plain
    arithmetic. The segments cover utc_bounds(span) exactly, in order."""
    zone = ZoneInfo(timezone)
    start, end = utc_bounds(span, timezone)
    segments: list[Segment] = []
    seg_start, offset = start, _offset(start, zone)
    probe = start
    while probe < end:
        step = min(probe + timedelta(hours=6), end)
        if _offset(step, zone) != offset and step < end:
            lo, hi = probe, step  # the change is in (lo, hi]: find its second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if _offset(mid, zone) == offset:
                    lo = mid
                else:
                    hi = mid
            change = hi.replace(microsecond=0)
            if _offset(change, zone) == offset:  # a change on a fraction of a second
                change += timedelta(seconds=1)
            segments.append(Segment(seg_start, change, offset))
            seg_start, offset = change, _offset(change, zone)
        probe = step
    segments.append(Segment(seg_start, end, offset))
    return segments


def local_date(at: datetime, segments: Sequence[Segment]) -> date:
    """What the database computes: the local date of a UTC instant within the segments."""
    for seg in segments:
        if seg.start <= at < seg.end:
            return (at.astimezone(UTC) + timedelta(seconds=seg.offset_seconds)).date()
    raise ValueError("instant outside the report's range")


# -- payment links -------------------------------------------------------------------------


def median_window(count: int) -> tuple[int, int]:
    """(offset, how many) of the middle values of `count` sorted values: one when odd, two
    when even, none when empty. A database returns just these (ORDER BY … LIMIT/OFFSET)."""
    if count <= 0:
        return 0, 0
    return (count - 1) // 2, 2 - count % 2


def median_of_middle(middle: Sequence[int]) -> int | None:
    """The median from median_window's values, in whole seconds (a half rounds up)."""
    if not middle:
        return None
    if len(middle) == 1:
        return int(middle[0])
    low, high = sorted(middle)
    return (low + high + 1) // 2


def median(values: Sequence[int]) -> int | None:
    """The median of whole numbers, rounded half up (the rule median_of_middle applies)."""
    ordered = sorted(values)
    offset, count = median_window(len(ordered))
    return median_of_middle(ordered[offset : offset + count])


def conversion_tenths(paid: int, sent: int) -> int | None:
    """Paid links as a share of links sent, in tenths of a percent, rounded half up (None
    when nothing was sent)."""
    if sent <= 0:
        return None
    if not 0 <= paid <= sent:
        raise ValueError("paid must be between 0 and sent")
    return (paid * 2000 + sent) // (2 * sent)


def percent_text(tenths: int | None) -> str:
    if tenths is None:
        return "—"
    return f"{tenths // 10}.{tenths % 10}%"


def duration_text(seconds: int | None) -> str:
    """A median wait as people say it: '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# -- CSV -----------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@")
# What a spreadsheet skips before it decides a cell is a formula (` =1+1`, `;=1+1`, a line break).
_SKIPPED_BEFORE_FORMULA = " \t\r\n;"


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: one whose first character after blanks, tabs,
    line breaks and `;` is '=', '+', '-' or '@' gets a leading apostrophe (OWASP's advice for
    CSV injection); so does one that starts with a tab or a line break."""
    starts_like_formula = value.lstrip(_SKIPPED_BEFORE_FORMULA).startswith(_FORMULA_START)
    if starts_like_formula or value.startswith(("\t", "\r", "\n")):
        return "'" + value
    return value
