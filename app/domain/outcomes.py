"""A payment's states (SPEC §2). Three outcomes from a processor: it charged, it refused, or we
don't know yet; "don't know" is never shown as "nothing was charged"."""

from __future__ import annotations

UNRESOLVED = ("pending", "unknown")  # the account (and link) stay claimed
SETTLED = ("succeeded", "refunded", "partially_refunded")  # money moved
FINAL = (*SETTLED, "failed")


def after_refund(amount_cents: int, refunded_cents: int) -> str:
    """A settled payment's status once `refunded_cents` of it went back."""
    if refunded_cents <= 0:
        return "succeeded"
    return "refunded" if refunded_cents >= amount_cents else "partially_refunded"
