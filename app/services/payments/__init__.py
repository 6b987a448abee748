"""The payment core: every channel (link, staff, My Account, AutoPay) charges through it,
exactly once, and every payment or refund status is written by it.

- `claim`   where a payment is claimed: the pending payment and the account's (and link's)
            claim, written under the account lock once the snapshot is still as reviewed
- `charge`  calling the processor and its three answers: charged, refused (`fail`), unknown
- `apply`   applying a success (`plan_application` decides); a misfit is refunded in full
- `resolve` asking the processor about an unresolved payment (unknown, 3-D Secure)
- `refunds` where a refund is decided and applied (`plan_reopen` decides what it reopens)
- `status`  the one writer of statuses, through the domain's transition table
- `outcome` what a caller is told
- `context` what recording the processor's answer needs (database, processor, clock, company)
"""

from app.services.payments.apply import apply_success, refund_amount_mismatch
from app.services.payments.charge import (
    NOT_CONFIRMED,
    charge,
    fail,
    mark_unknown,
    record_result,
    record_unchargeable,
)
from app.services.payments.claim import ChargeRequest, LinkNotPayable, PaymentInProgress
from app.services.payments.context import PaymentContext
from app.services.payments.outcome import PaymentOutcome, outcome_of
from app.services.payments.resolve import (
    CHALLENGE_TIMEOUT,
    NOT_FOUND_AFTER,
    resolve,
    settle_from_processor,
)

__all__ = [
    "CHALLENGE_TIMEOUT",
    "NOT_CONFIRMED",
    "NOT_FOUND_AFTER",
    "ChargeRequest",
    "LinkNotPayable",
    "PaymentContext",
    "PaymentInProgress",
    "PaymentOutcome",
    "apply_success",
    "charge",
    "fail",
    "mark_unknown",
    "outcome_of",
    "record_result",
    "record_unchargeable",
    "refund_amount_mismatch",
    "resolve",
    "settle_from_processor",
]
