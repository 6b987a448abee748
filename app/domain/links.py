"""Payment-link tokens and expiry. Tokens are shown once; only their SHA-256 is kept."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

TOKEN_BYTES = 32  # 256 bits of randomness
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) without padding

LIVE_STATUSES = ("queued", "sent", "delivered", "opened")
FINAL_STATUSES = ("paid", "expired", "cancelled", "failed", "locked", "superseded")
MAX_DECLINES = 5


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str) -> bool:
    return bool(_TOKEN_SHAPE.match(token or ""))


def expires_at(sent_at: datetime, ttl_seconds: int) -> datetime:
    return sent_at + timedelta(seconds=ttl_seconds)


def is_expired(expiry: datetime, now: datetime) -> bool:
    return now >= expiry


def effective_status(stored: str, expiry: datetime, now: datetime) -> str:
    """A live link whose time is up is `expired`, whatever its stored status says."""
    if stored in LIVE_STATUSES and is_expired(expiry, now):
        return "expired"
    return stored


def seconds_left(expiry: datetime, now: datetime) -> int:
    return max(0, int((expiry - now).total_seconds()))


def lifetime(created: datetime, expiry: datetime) -> tuple[int, Literal["minutes", "seconds"]]:
    """How long a link worked, for people: whole minutes from one minute up, else seconds (a
    20-second link is not "1 minute"). The page picks singular or plural for the count."""
    seconds = max(0, int((expiry - created).total_seconds()))
    if seconds < 60:
        return seconds, "seconds"
    return seconds // 60, "minutes"


RenewalRefusal = Literal["renewed", "not_expired", "payments_not_accepted", "opted_out"]


def renewal_refusal(
    status: str, *, renewed: bool, accepts_payments: bool, opted_out: bool
) -> RenewalRefusal | None:
    """Why the payer may not ask an ended link for a new one by text, or None when they may.

    Only a link whose time ran out qualifies: not one that was paid, cancelled, replaced by a
    newer link (superseded), locked after declines or whose text failed. One new link per
    expired link (`renewed`), and only where a link could be sent anyway: the location accepts
    payments and the number has not opted out of texts."""
    if renewed:
        return "renewed"
    if status != "expired":
        return "not_expired"
    if not accepts_payments:
        return "payments_not_accepted"
    if opted_out:
        return "opted_out"
    return None
