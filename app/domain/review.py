"""What a person reviewed before a link goes out or a card is charged: the summary itself.

Send Secure Payment Link, Take Payment and My Account each carry the fingerprint of the Invoice
Summary that was shown back with the form; the service recomputes the summary and asks here
whether it is still that one. The same total for another period or other invoices is a
different summary, so the total alone is never the test.
"""

from __future__ import annotations

from app.domain.errors import StaleSummary
from app.domain.summary import InvoiceSummary


def ensure_reviewed(summary: InvoiceSummary, reviewed: str) -> None:
    """StaleSummary unless `summary` (computed now) is exactly the reviewed one: its vehicle,
    days, period, lines, total and basis (`InvoiceSummary.fingerprint`)."""
    if summary.fingerprint != reviewed:
        raise StaleSummary()
