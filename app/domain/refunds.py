"""How a refund gives money back against what a payment settled (SPEC §2, Refunds): how much
may be refunded, how it is shared over the invoices, and what it reopens (`plan_reopen`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from app.domain.errors import DomainError
from app.domain.periods import Period


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


@dataclass(frozen=True)
class Settled:
    """An invoice a payment settled, as a refund of that payment sees it."""

    invoice_id: int
    held_cents: int  # what it still holds of the payment (allocations less earlier refunds)
    kind: str  # monitoring | fee | …
    vehicle_id: int | None
    period: Period | None  # a monitoring invoice's period


@dataclass(frozen=True)
class ReopenPlan:
    """What a supervisor's refund gives back, all in one transaction."""

    shares: dict[int, int]  # invoice id → cents given back (a negative allocation each)
    reopened: tuple[int, ...]  # open again, owing what its payments no longer hold
    voided: tuple[int, ...]  # a period given back in full: void
    paid_through: dict[int, date]  # vehicle id → its paid-through date, moved back


def _gives_back_period(invoice: Settled, share: int, paid_through: date | None) -> bool:
    """A monitoring invoice refunded whole whose period is the vehicle's latest (no later
    period was paid): the period itself is given back."""
    return (
        share == invoice.held_cents
        and invoice.kind == "monitoring"
        and invoice.period is not None
        and paid_through == invoice.period.end
    )


def plan_reopen(
    settled: Sequence[Settled], paid_through: Mapping[int, date], amount_cents: int
) -> ReopenPlan:
    """Share `amount_cents` over the invoices a payment settled, in proportion to what each
    holds of it (split_refund). Each invoice with a share opens again, except a monitoring
    invoice refunded whole whose period is its vehicle's latest (`paid_through`: vehicle id →
    paid-through date): that one is void and the vehicle's paid-through date moves back to the
    day before the period. Invoices are taken in id order, a moved date counting for the next."""
    by_id = {i.invoice_id: i for i in settled}
    shares = split_refund({i.invoice_id: i.held_cents for i in settled}, amount_cents)
    through = dict(paid_through)
    reopened: list[int] = []
    voided: list[int] = []
    for invoice_id, share in sorted(shares.items()):
        invoice = by_id[invoice_id]
        vehicle = invoice.vehicle_id
        if vehicle is not None and _gives_back_period(invoice, share, through.get(vehicle)):
            assert invoice.period is not None
            through[vehicle] = invoice.period.paid_through_before
            voided.append(invoice_id)
        else:
            reopened.append(invoice_id)
    moved = {v: d for v, d in through.items() if d != paid_through.get(v)}
    return ReopenPlan(shares, tuple(reopened), tuple(voided), moved)
