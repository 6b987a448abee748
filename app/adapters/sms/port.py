"""The SMS port: send one text, get the provider's reference and what it knows of delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from app.domain.errors import DomainError


@dataclass(frozen=True)
class SendResult:
    provider_ref: str
    status: Literal["sent", "delivered"]


class SmsSendFailed(DomainError):
    """The provider refused or could not be reached; the outbox will retry."""

    message = "The text message could not be sent."


class SmsProvider(Protocol):
    name: str

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult: ...
