"""The payment gateway port: the few things services ask of a card processor.

Every adapter returns these values and raises these errors, so services never see
processor-specific types. Card numbers never reach this port: only processor tokens
(payment-method references) created by the processor's own card entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from app.domain.errors import DomainError


@dataclass(frozen=True)
class CardDetails:
    brand: str  # "Visa", "Mastercard", "American Express", "Discover"
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    """A charge the processor accepted or is still working on.

    `requires_action` carries `client_secret` so the browser can finish 3-D Secure
    (Stripe only); the payment stays pending until the processor reports success.
    `failed` only comes from `retrieve`: the bank refused to confirm, or the attempt was
    abandoned; nothing was charged.
    """

    status: Literal["succeeded", "processing", "requires_action", "failed"]
    processor_ref: str  # e.g. a PaymentIntent id
    amount_cents: int
    card: CardDetails | None
    client_secret: str | None = None


@dataclass(frozen=True)
class SavedCard:
    customer_ref: str
    payment_method_ref: str
    card: CardDetails


class GatewayError(DomainError):
    message = "The payment could not be completed. Nothing was charged."


class CardDeclined(GatewayError):
    """The card was refused. `message` is plain words a payer can act on."""

    def __init__(self, code: str, message: str, processor_ref: str | None = None) -> None:
        super().__init__(message)
        self.code = (
            code  # generic_decline | insufficient_funds | expired_card | incorrect_cvc | ...
        )
        self.processor_ref = processor_ref


class InvalidPaymentMethod(GatewayError):
    message = "The card details could not be read. Enter the card again."


class GatewayUnavailable(GatewayError):
    message = (
        "We could not reach the payment processor. Nothing was charged. Please try again in a"
        " minute."
    )


class PaymentGateway(Protocol):
    name: str

    async def charge(
        self,
        *,
        amount_cents: int,
        payment_method: str,
        idempotency_key: str,
        description: str,
        customer: str | None = None,
        off_session: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> ChargeResult:
        """Create and confirm a charge in USD. Retrying with the same idempotency key returns
        the first attempt's result and never charges twice. Raises CardDeclined,
        InvalidPaymentMethod or GatewayUnavailable."""
        ...

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        """The charge's current state (used after 3-D Secure and by webhooks)."""
        ...

    async def describe_payment_method(self, payment_method: str) -> CardDetails:
        """Brand, last 4 and expiry of a tokenized card (for receipts and cards on file)."""
        ...

    async def save_card(
        self, *, payment_method: str, customer: str | None, email: str, name: str
    ) -> SavedCard:
        """Attach a tokenized card to the client's processor customer (creating it when
        `customer` is None) for later off-session charges."""
        ...

    async def remove_card(self, payment_method: str) -> None:
        """Detach a saved card from its customer."""
        ...
