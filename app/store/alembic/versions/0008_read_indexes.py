"""Account History reads a client's refunds by client (one statement with the rest of the ledger)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_refund_client_id", "refund", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_refund_client_id", "refund")
