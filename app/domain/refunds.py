"""How a refund gives money back against what a payment settled (SPEC §2, Refunds)."""

from __future__ import annotations

from app.domain.errors import DomainError


class RefundInvalid(DomainError):
    """`field` says which input is wrong: amount or reason."""

    message = "Enter an amount from $0.01 up to what is left to refund."

    def __init__(self, message: str | None = None, field: str = "amount") -> None:
        super().__init__(message)
        self.field = field


def refundable_cents(amount_cents: int, refunded_cents: int, pending_cents: int) -> int:
    return max(0, amount_cents - refunded_cents - pending_cents)


def check_refund(amount_cents: int, refundable: int) -> None:
    if refundable <= 0:
        raise RefundInvalid("Nothing is left to refund on this payment.")
    if not 0 < amount_cents <= refundable:
        raise RefundInvalid()


def split_refund(allocated: dict[int, int], amount_cents: int) -> dict[int, int]:
    """Share `amount_cents` over the invoices a payment settled, in proportion to what each
    still holds of it (largest remainder, so the shares add up to the cent). Invoices with
    nothing left get nothing; no share exceeds what its invoice holds."""
    held = {i: a for i, a in allocated.items() if a > 0}
    total = sum(held.values())
    if not 0 < amount_cents <= total:
        raise ValueError("refund must be positive and at most what the payment settled")
    shares = {i: amount_cents * a // total for i, a in held.items()}
    left = amount_cents - sum(shares.values())
    by_remainder = sorted(held, key=lambda i: (-(amount_cents * held[i] % total), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return {i: s for i, s in shares.items() if s > 0}
