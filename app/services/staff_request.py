"""A staff member's request on a client's account that moves money (Take Payment, a refund):
who asks, for which client, under the one-time key its confirm form carried, so a double click
or a resent form is the same request and never a second charge or refund. The key is made and
its shape checked here, once."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from app.store.models import StaffUser

_KEY = re.compile(r"[0-9a-f]{32}")


def new_key() -> str:
    """The key a confirm form carries (128 random bits)."""
    return secrets.token_hex(16)


def is_key(text: str) -> bool:
    return _KEY.fullmatch(text) is not None


@dataclass(frozen=True)
class StaffRequest:
    staff: StaffUser
    client_id: int
    key: str  # from the confirm form: checked with is_key by the service
