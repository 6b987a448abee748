"""The payment gateway port: the few things services ask of a card processor.

Every adapter returns these values and raises these errors, so services never see
processor-specific types. Card numbers never reach this port: only processor tokens
(payment-method references) created by the processor's own card entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, Protocol, TypedDict, Unpack


@dataclass(frozen=True)
class CardDetails:
    brand: str  # "Visa", "Mastercard", "American Express", "Discover"
    last4: str
    exp_month: int
    exp_year: int
    # "Apple Pay" or "Google Pay" when the card came from a wallet on the payer's device
    # (still a card to the processor: it charges, refunds and declines as one)
    wallet: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    """A charge the processor accepted or is still working on.

    `requires_action` carries `client_secret` so the browser can finish 3-D Secure
    (Stripe only); the payment stays pending until the processor reports success.
    `failed` only comes from `retrieve`, `lookup` and `cancel`: the bank refused to confirm,
    or the attempt was abandoned or cancelled; nothing was charged.
    """

    status: Literal["succeeded", "processing", "requires_action", "failed"]
    processor_ref: str  # e.g. a PaymentIntent id
    amount_cents: int
    card: CardDetails | None
    client_secret: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """A refund the processor accepted (`succeeded`, or `pending` while it settles)."""

    refund_ref: str
    amount_cents: int
    status: Literal["succeeded", "pending"]


@dataclass(frozen=True)
class SavedCard:
    customer_ref: str
    payment_method_ref: str
    card: CardDetails
    fingerprint: str | None = None  # the processor's: the same card number, the same value


class ChargeParams(TypedDict):
    """What `PaymentGateway.charge` takes, by keyword: written once here, for the port and each
    adapter (`**params: Unpack[ChargeParams]`)."""

    amount_cents: int
    payment_method: str
    idempotency_key: str
    description: str
    customer: NotRequired[str | None]
    off_session: NotRequired[bool]  # False when absent
    metadata: NotRequired[dict[str, str] | None]


class PaymentGateway(Protocol):
    name: str

    async def charge(self, **params: Unpack[ChargeParams]) -> ChargeResult:
        """Create and confirm a charge in USD. Retrying with the same idempotency key returns
        the first attempt's result and never charges twice. Raises CardDeclined or
        InvalidPaymentMethod (refused), GatewayUnavailable (certainly nothing done) or
        OutcomeUnknown (it may have charged: timeout, reset, 5xx — never "nothing charged")."""
        ...

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        """The charge's current state (used after 3-D Secure and by webhooks)."""
        ...

    async def lookup(self, *, idempotency_key: str, payment_id: int) -> ChargeResult | None:
        """Find the charge we asked for when its id never reached us (the answer was lost):
        by our idempotency key or the `payment_id` metadata. None: the processor has no such
        charge. Raises GatewayUnavailable when the processor cannot be asked right now."""
        ...

    async def cancel(self, processor_ref: str) -> ChargeResult:
        """Cancel a charge still waiting for the payer (an abandoned 3-D Secure challenge).
        Returns its final state: `failed` once cancelled, or `succeeded` when it completed
        before the cancel reached it (then it must be applied, not dropped)."""
        ...

    async def refund(
        self, *, processor_ref: str, amount_cents: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        """Refund part or all of a succeeded charge. The same idempotency key never refunds
        twice. Raises GatewayError when refused, OutcomeUnknown when the answer was lost."""
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
