"""Account History reads a client's refunds by client (one statement with the rest of the ledger)"""

from __future__ import annotations

from app.store.migration_steps import created_indexes

# created 2026-11-26 01:30:00
revision: str = "0008"
down_revision: str | None = "0007"

upgrade, downgrade = created_indexes(("ix_refund_client_id", "refund", ["client_id"]))
