"""Login throttling rule (pure): how many failures lock a key, and for how long."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def locked_until(failures: list[datetime], now: datetime) -> datetime | None:
    """`failures` are the failed attempts' times. Locked while 5 fall within the window."""
    recent = sorted(t for t in failures if now - t < WINDOW)
    if len(recent) < MAX_FAILURES:
        return None
    return recent[-MAX_FAILURES] + WINDOW
