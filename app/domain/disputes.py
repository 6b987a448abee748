"""Disputes (chargebacks and inquiries) as the processor reports them (SPEC, Disputes): which
status an event may write, when the money goes back, and what needs a response.

A dispute's events can arrive late, twice or out of order (`closed` before `created`). The
processor's statuses run one way: an inquiry (`warning_*`) may become a chargeback, a
chargeback is answered and then won or lost, and a closed dispute never opens again. So an
event is taken when it moves the dispute forward on that road, or says something newer at the
same step; an older event never moves it back.

Money: the processor holds a chargeback's funds while it runs, but the books keep the payment
as collected (shown as disputed) until the dispute is lost. A lost dispute gives the money back
the way a full refund does (`app.domain.refunds.plan_reopen` decides what reopens); a won one
never took it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.refunds import refundable_cents

# The processor's statuses (Stripe's Dispute.status), by step: a later step is newer.
STEPS: dict[str, int] = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "warning_closed": 2,
    "needs_response": 3,
    "under_review": 4,
    "won": 5,
    "lost": 5,
    "prevented": 5,
}
STATUSES = tuple(STEPS)
NEEDS_RESPONSE = ("needs_response", "warning_needs_response")  # evidence is due
CLOSED = ("warning_closed", "won", "lost", "prevented")  # final: nothing moves it again
OPEN = tuple(s for s in STATUSES if s not in CLOSED)
LOST = "lost"

STATUS_WORDS = {
    "warning_needs_response": "Inquiry: needs response",
    "warning_under_review": "Inquiry: under review",
    "warning_closed": "Inquiry closed",
    "needs_response": "Needs response",
    "under_review": "Under review",
    "won": "Won",
    "lost": "Lost",
    "prevented": "Prevented",
}

DASHBOARD = "https://dashboard.stripe.com"


class UnknownDisputeStatus(ValueError):
    """An event names a status the processor does not document: not acted on."""


@dataclass(frozen=True)
class DisputeFacts:
    """What one event says about a dispute (its `data.object`)."""

    ref: str  # the processor's dispute id
    charge_ref: str | None  # the disputed charge
    payment_ref: str | None  # the disputed payment (PaymentIntent id): finds our payment
    amount_cents: int
    reason: str
    status: str
    evidence_due_by: datetime | None
    opened_at: datetime  # when the processor created the dispute
    livemode: bool

    def __post_init__(self) -> None:
        if self.status not in STEPS:
            raise UnknownDisputeStatus(self.status)


def takes(current: str | None, seen_at: datetime | None, new: str, event_at: datetime) -> bool:
    """Whether an event saying `new` (sent at `event_at`) is written over a dispute now in
    `current` (last written from an event sent at `seen_at`; None: no dispute yet).

    A closed dispute stays as it is. Otherwise a later step is taken whatever its time (the
    processor's clock and ours may round to the same second), an earlier step never, and the
    same step when the event is at least as new (an amount or a due date changed)."""
    if new not in STEPS:
        raise UnknownDisputeStatus(new)
    if current is None:
        return True
    if current in CLOSED:
        return False
    if STEPS[new] != STEPS[current]:
        return STEPS[new] > STEPS[current]
    return seen_at is None or event_at >= seen_at


def reverses(was: str | None, now: str) -> bool:
    """Money goes back once: when the dispute becomes lost."""
    return now == LOST and was != LOST


def reversal_cents(
    disputed_cents: int, amount_cents: int, refunded_cents: int, pending_cents: int
) -> int:
    """What a lost dispute takes back of a payment: the disputed amount, but never more than
    the payment still holds (a part refunded before the dispute was given back already)."""
    return min(
        max(disputed_cents, 0), refundable_cents(amount_cents, refunded_cents, pending_cents)
    )


def needs_response(status: str) -> bool:
    return status in NEEDS_RESPONSE


def is_open(status: str) -> bool:
    return status not in CLOSED


def reason_text(reason: str) -> str:
    """Stripe's reason code as words: `product_not_received` → "Product not received"."""
    words = " ".join(reason.replace("_", " ").split())
    return words[:1].upper() + words[1:] if words else "Not given"


def status_text(status: str) -> str:
    return STATUS_WORDS.get(status, reason_text(status))


def dashboard_url(ref: str, livemode: bool) -> str:
    """Where the dispute is answered in Stripe's Dashboard (test mode under /test)."""
    return f"{DASHBOARD}{'' if livemode else '/test'}/disputes/{ref}"
