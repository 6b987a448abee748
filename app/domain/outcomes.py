"""A payment's states: kept importable here for the screens and reports that read them; the
table of moves between them is `app/domain/payment_states.py`."""

from __future__ import annotations

from app.domain.payment_states import FINAL, SETTLED, UNRESOLVED, after_refund

__all__ = ["FINAL", "SETTLED", "UNRESOLVED", "after_refund"]
