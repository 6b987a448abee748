"""Whole numbers typed or posted by a browser: ids, days, counts.

One strict rule for all of them: ASCII digits only, no sign, no spaces or underscores inside,
bounded length. Python's own `int()` and `str.isdigit()` are too kind for input from outside:
`int("١٤")` is 14, `int(" 1_4 ")` is 14, `"²".isdigit()` is true and `int("²")` raises, and
`int()` of a few thousand digits raises too. Anything not strictly a number is "no number".
"""

from __future__ import annotations

import re

MAX_DIGITS = 18  # fits a signed 64-bit integer; a longer number is not one of ours
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; anything larger is not one of ours

_DIGITS = re.compile(r"[0-9]+")  # [0-9], never \d: \d matches "٣"


def parse_whole(text: str | None, max_digits: int = MAX_DIGITS) -> int | None:
    """`"30"` -> 30. Surrounding ASCII spaces are forgiven; anything else that is not 1 to
    `max_digits` ASCII digits is None."""
    if text is None:
        return None
    text = text.strip(" \t")
    if len(text) > max_digits or not _DIGITS.fullmatch(text):
        return None
    return int(text)


def parse_id(text: str | None) -> int | None:
    """A record id: a positive 32-bit integer in ASCII digits, else None."""
    value = parse_whole(text, max_digits=10)
    return value if value is not None and 0 < value <= MAX_ID else None
