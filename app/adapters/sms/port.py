"""The SMS port: send one text, and find a text whose answer was lost.

Three outcomes, as for payments: `send` returns the provider's reference (it took the text),
raises SmsNotSent (refused, or never reached: nothing was sent; SmsUnavailable when a retry may
help) or SmsOutcomeUnknown (it may have taken the text: a timeout, a dropped connection, a 5xx).
An unknown text is not sent again before `find_sent` has looked for it at the provider.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from app.domain.errors import SmsNotSent, SmsOutcomeUnknown, SmsUnavailable

__all__ = [
    "DeliveryStatus",
    "Outgoing",
    "SendResult",
    "SmsNotSent",
    "SmsOutcomeUnknown",
    "SmsProvider",
    "SmsUnavailable",
]


DeliveryStatus = Literal["sent", "delivered", "failed"]  # failed: only a lookup can say so


@dataclass(frozen=True)
class SendResult:
    provider_ref: str
    status: DeliveryStatus


@dataclass(frozen=True)
class Outgoing:
    """One text as it goes out, and what finds it again at the provider: our message id (the
    marker a provider can carry, e.g. in Twilio's StatusCallback URL), the recipient and the
    exact text (a link's text holds its unique token), no earlier than `since`."""

    message_id: int
    to_e164: str
    body: str
    since: datetime


class SmsProvider(Protocol):
    name: str

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult: ...

    async def find_sent(self, text: Outgoing, *, known: Collection[str] = ()) -> SendResult | None:
        """The provider's record of this text, or None if it has none (yet). `known`: references
        already matched to our other texts, never this one's. Raises SmsUnavailable when the
        provider cannot be asked."""
        ...
