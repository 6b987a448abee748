"""Money is integer cents. Parsing and tax live here; formatting lives in the templates."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from app.domain.errors import InvalidAmount

BASIS_POINTS = 10_000
# ASCII only ([0-9], never \d, which matches "٣"); at most 12 whole digits: no number too long to convert.
_AMOUNT = re.compile(
    r"[ \t]*\$?[ \t]*([0-9]{1,3}(?:,[0-9]{3}){1,3}|[0-9]{1,12})(?:\.([0-9]{1,2}))?[ \t]*"
)


def tax_cents(amount_cents: int, rate_bp: int) -> int:
    """Sales tax on one line: `rate_bp` basis points of `amount_cents`, rounded half-up once."""
    if amount_cents < 0 or rate_bp < 0:
        raise ValueError("amount and rate must not be negative")
    exact = Decimal(amount_cents) * Decimal(rate_bp) / Decimal(BASIS_POINTS)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_amount(text: str) -> int:
    """Parse what a person types ("85", "85.5", "$1,085.00") into cents. Never uses floats."""
    match = _AMOUNT.fullmatch(text or "")
    if not match:
        raise InvalidAmount()
    whole = int(match.group(1).replace(",", ""))
    frac = (match.group(2) or "0").ljust(2, "0")
    return whole * 100 + int(frac)


def cents_to_plain(cents: int) -> str:
    """`8500` -> `"85.00"`: the value to put back in an amount input."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
