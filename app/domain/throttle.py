"""Sign-in throttling rule (pure), as NIST SP 800-63B §5.2.2 asks: growing delays and a cap
instead of a lock, so nobody can keep the right password out by typing wrong ones.

One `Throttle` is kept per key (an account, or a client address). Each attempt that is let
through to the password check is *charged* first, as if it failed, and the charge is
refunded when the password was right; an attempt that arrives while the key must wait is
refused without checking the password and without being charged, so hammering during a delay
never makes it longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before any delay
    window: timedelta  # failures are counted from the first one for this long, then forgotten
    cap: int  # failures per window; at the cap the key waits until the window ends
    # after `free` failures; doubles with each further failure, up to `max_delay`: 1, 2, 4, 8,
    # 15, 15… minutes for both policies below
    first_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(minutes=15)


# Per account (staff email or client account number, whether or not it exists): 5 free tries,
# then 1, 2, 4, 8, 15, 15… minutes, and at most 100 failures a day.
ACCOUNT = Policy(free=5, window=timedelta(days=1), cap=100)
# Per client address, across all accounts: 20 failures per 15 minutes, then delays.
ADDRESS = Policy(free=20, window=timedelta(minutes=15), cap=40)


@dataclass(frozen=True)
class Throttle:
    failures: int = 0
    window_start: datetime | None = None
    wait_until: datetime | None = None

    def expires_at(self, policy: Policy) -> datetime | None:
        """When this state no longer matters (nothing to wait for, window over)."""
        if self.window_start is None:
            return self.wait_until
        end = self.window_start + policy.window
        return max(end, self.wait_until) if self.wait_until else end


def wait(state: Throttle, now: datetime) -> timedelta | None:
    """How long an attempt made now must still wait, or None if it may go ahead."""
    if state.wait_until is not None and now < state.wait_until:
        return state.wait_until - now
    return None


def delay_after(failures: int, policy: Policy) -> timedelta | None:
    """The wait a key gets right after its `failures`-th failure in a window."""
    if failures >= policy.cap:
        return None  # see `charge`: waits until the window ends
    if failures < policy.free:
        return None
    doublings = min(failures - policy.free, 20)  # 2**20 minutes is far past any cap
    return min(policy.max_delay, policy.first_delay * (2**doublings))


def charge(state: Throttle, now: datetime, policy: Policy) -> Throttle:
    """Count one failure (an attempt let through, until its password proves right)."""
    window_over = state.window_start is None or now >= state.window_start + policy.window
    start = now if window_over or state.window_start is None else state.window_start
    failures = 1 if window_over else state.failures + 1
    if failures >= policy.cap:
        until: datetime | None = start + policy.window
    else:
        delay = delay_after(failures, policy)
        until = now + delay if delay is not None else None
    return Throttle(failures=failures, window_start=start, wait_until=until)


def refund(before: Throttle, charged: Throttle, current: Throttle) -> Throttle:
    """Take back one charge after the right password. If nothing else was charged since ours
    (`current` is still `charged`), the key is exactly as it was `before`; otherwise only the
    count goes down (a wait another attempt earned stands)."""
    if current == charged:
        return before
    return replace(current, failures=max(0, current.failures - 1))


def wait_text(delay: timedelta) -> str:
    """'1 minute', '14 minutes', '3 hours': rounded up, never 'in 0 minutes'."""
    minutes = max(1, math.ceil(delay.total_seconds() / 60))
    if minutes < 120:
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    hours = math.ceil(minutes / 60)
    return f"{hours} hours"
