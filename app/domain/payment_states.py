"""A payment's and a refund's statuses, and the only moves between them (SPEC §2), as GOV.UK
Pay's connector keeps them: one table per kind, and one function that checks a move before any
status is written (`app/services/payments/status.py` is the one writer).

Three outcomes from a processor: it charged, it refused, or we don't know yet; "don't know" is
never shown as "nothing was charged". A 3-D Secure challenge in progress is `pending` (with the
processor's reference): the processor, not our status, says it waits on the bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

UNRESOLVED = ("pending", "unknown")  # the account (and link) stay claimed
SETTLED = ("succeeded", "refunded", "partially_refunded")  # money moved
FINAL = (*SETTLED, "failed")


class IllegalTransition(Exception):
    """A status write the table does not allow: a bug, never a payer's mistake."""


@dataclass(frozen=True)
class StateMachine:
    """`moves[state]` is every status a row in `state` may take next; `start` is the status a
    new row is written with."""

    kind: str  # "payment" | "refund": named in the error
    start: str
    moves: Mapping[str, frozenset[str]]

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.moves)

    def allows(self, current: str, new: str) -> bool:
        return new in self.moves.get(current, frozenset())

    def transition(self, current: str, new: str) -> str:
        """`new`, when a row in `current` may move to it; IllegalTransition otherwise."""
        if not self.allows(current, new):
            if current not in self.moves or new not in self.moves:
                raise IllegalTransition(f"{self.kind} status {current!r} → {new!r}: no such status")
            legal = ", ".join(sorted(self.moves[current])) or "nothing (it is final)"
            raise IllegalTransition(
                f"a {self.kind} cannot go from {current!r} to {new!r}; from {current!r} it may go "
                f"to: {legal}"
            )
        return new

    def sources(self, new: str) -> tuple[str, ...]:
        """Every status from which `new` is legal: the WHERE list of a conditional UPDATE."""
        return tuple(s for s, nexts in self.moves.items() if new in nexts)


PAYMENTS = StateMachine(
    kind="payment",
    start="pending",
    moves={
        # Written before the processor is called. Stays pending (its reference recorded) while
        # the processor waits on 3-D Secure or is still processing.
        "pending": frozenset({"pending", "unknown", "succeeded", "failed"}),
        # The processor may have charged: asked again until it says. `pending` when it says it
        # has the charge and waits on the bank (its reference is recorded then).
        "unknown": frozenset({"pending", "succeeded", "failed"}),
        # Refused here, then the processor's signed word says it charged after all (a late
        # 3-D Secure success after a failure event): the processor wins.
        "failed": frozenset({"succeeded"}),
        "succeeded": frozenset({"partially_refunded", "refunded"}),
        "partially_refunded": frozenset({"partially_refunded", "refunded"}),
        "refunded": frozenset(),
    },
)

REFUNDS = StateMachine(
    kind="refund",
    start="pending",
    moves={
        # An answer lost on the way back leaves it pending: asked again with the same key.
        "pending": frozenset({"succeeded", "failed"}),
        "succeeded": frozenset(),
        "failed": frozenset(),
    },
)


# "Not attempted": the processor answered that it did nothing (429 busy, or it could not be
# reached before any work), so nothing was charged and nothing was refused. Such a payment is
# taken back rather than moved to `failed`: a failed row would show a refusal in the ledger,
# text the payer "nothing was charged" for a charge never tried, and hold its idempotency key
# (AutoPay's is once per vehicle-period: no later run could charge it). Only a payment still in
# the start state with no processor reference may be taken back (services/payments/status.py
# `discard_payment`); its claims go with it.
NOT_ATTEMPTED_FROM = (PAYMENTS.start,)


def transition(current: str, new: str) -> str:
    """A payment's move from `current` to `new` (IllegalTransition when the table refuses)."""
    return PAYMENTS.transition(current, new)


def refund_transition(current: str, new: str) -> str:
    return REFUNDS.transition(current, new)


def after_refund(amount_cents: int, refunded_cents: int) -> str:
    """A settled payment's status once `refunded_cents` of it went back."""
    if refunded_cents <= 0:
        return "succeeded"
    return "refunded" if refunded_cents >= amount_cents else "partially_refunded"
