"""payments say which wallet paid (Apple Pay, Google Pay), for the receipt"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-26 05:10:00
revision: str = "0015"
down_revision: str | None = "0014"

upgrade, downgrade = added_columns(
    "payment", sa.Column("card_wallet", sa.String(length=12), nullable=True)
)
