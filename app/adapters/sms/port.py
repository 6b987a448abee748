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

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent  # no retry can help (e.g. the recipient texted STOP)


class SmsProvider(Protocol):
    name: str

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult: ...
