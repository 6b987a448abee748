"""Card rules that need no card object: what AutoPay checks on columns it streams."""

from __future__ import annotations

from datetime import date


def expired(exp_year: int, exp_month: int, today: date) -> bool:
    """A card works through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)
