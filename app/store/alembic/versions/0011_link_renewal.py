"""payment links remember the new link the payer asked for from them once they expired"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-26 03:00:00
revision: str = "0011"
down_revision: str | None = "0010"

upgrade, downgrade = added_columns(
    "paymentlink", sa.Column("renewed_by_link_id", sa.Integer(), nullable=True)
)
